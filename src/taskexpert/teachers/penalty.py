"""A repetition penalty on what the teacher wrote, not on the prompt or the JSON around it.

transformers' own repetition penalty divides the logit of every token already in the sequence, prompt
included; with Dr. LLaMA's penalty of 2.0 a rewriter is pushed away from every word of the record it
rewrites, and from the quotes, colons and key names of the JSON it must write, so small teachers drift out
of JSON. Scope `content` penalises only tokens that were generated inside a JSON string value, and only
while the answer is inside a string value: keys, separators and the structure a grammar forces are never
penalised and never count. The answer is followed character by character (`JsonValueScanner`), so the same
processor serves constrained and unconstrained generation (after a prefill such as `{"question": "`).
"""

from __future__ import annotations

from typing import Any

PENALTY_SCOPES = ("content", "all")  # ours; transformers' (prompt and every generated token)


class JsonValueScanner:
    """Follows one JSON object written character by character and tells which characters are string values.

    Text before the first `{` and after the object closes is outside (never content).
    """

    def __init__(self) -> None:
        self.stack: list[str] = []  # open containers: "object" | "array"
        self.done = False
        self.in_string = False
        self.string_is_value = False
        self.escaped = False
        self.expect_key = False  # in an object, the next string is a key

    @property
    def in_value(self) -> bool:
        """The next character written would be part of a string value."""
        return self.in_string and self.string_is_value

    def feed(self, text: str) -> int:
        """Consume `text`; returns how many of its characters were string-value content."""
        content = 0
        for character in text:
            if self.done:
                break
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif character == "\\":
                    self.escaped = True
                elif character == '"':
                    self.in_string = False
                    continue
                content += self.string_is_value
                continue
            if not self.stack and character != "{":
                continue  # prose before the object
            if character == '"':
                self.in_string = True
                self.string_is_value = not (self.stack[-1] == "object" and self.expect_key)
            elif character in "{[":
                self.stack.append("object" if character == "{" else "array")
                self.expect_key = character == "{"
            elif character in "}]":
                self.stack.pop()
                self.done = not self.stack
            elif character == ",":
                self.expect_key = self.stack[-1] == "object"
            elif character == ":":
                self.expect_key = False
        return content


def source_ngrams(tokenizer: Any, sources: list[str], n: int) -> dict[tuple[int, ...], set[int]]:
    """Every n-token run of `sources` as {first n-1 tokens: possible n-th tokens} (each source tokenised
    alone and after a space, the two ways it can appear inside an answer)."""
    table: dict[tuple[int, ...], set[int]] = {}
    for source in sources:
        for text in (source, " " + source):
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            for start in range(len(ids) - n + 1):
                table.setdefault(tuple(ids[start : start + n - 1]), set()).add(ids[start + n - 1])
    return table


def new_content_processor(
    tokenizer: Any,
    prefills: list[str],
    prompt_length: int,
    penalty: float | None = None,
    copy_sources: list[list[str]] | None = None,
    copy_ngram: int | None = None,
):
    """A transformers LogitsProcessor over each row's generated content (JSON string values):
    CTRL's repetition penalty on content tokens already written (`penalty`), and no run of `copy_ngram`
    tokens copied from the row's `copy_sources` (a rewrite must reword its source, not repeat it)."""
    import torch
    from transformers import LogitsProcessor

    token_text: dict[int, str] = {}

    def text_of(token_id: int) -> str:
        if token_id not in token_text:
            token_text[token_id] = tokenizer.decode([token_id], skip_special_tokens=True)
        return token_text[token_id]

    bans = None
    if copy_ngram and copy_sources:
        bans = [source_ngrams(tokenizer, sources, copy_ngram) for sources in copy_sources]

    class ContentProcessor(LogitsProcessor):
        def __init__(self) -> None:
            self.scanners = []
            for prefill in prefills:  # the prefill is the start of the answer: follow it too
                scanner = JsonValueScanner()
                scanner.feed(prefill)
                self.scanners.append(scanner)
            self.seen: list[set[int]] = [set() for _ in prefills]
            self.recent: list[list[int]] = [[] for _ in prefills]  # content tokens of the current value

        def __call__(self, input_ids, scores):
            if input_ids.shape[1] > prompt_length:
                for row, scanner in enumerate(self.scanners):
                    token_id = int(input_ids[row, -1])
                    if scanner.feed(text_of(token_id)):
                        self.seen[row].add(token_id)
                        self.recent[row].append(token_id)
                    if not scanner.in_value:
                        self.recent[row].clear()
            for row, scanner in enumerate(self.scanners):
                if not scanner.in_value:
                    continue
                if penalty is not None and self.seen[row]:
                    ids = torch.tensor(sorted(self.seen[row]), device=scores.device)
                    values = scores[row, ids]
                    scores[row, ids] = torch.where(values < 0, values * penalty, values / penalty)
                if bans is not None and len(self.recent[row]) >= copy_ngram - 1:
                    banned = bans[row].get(tuple(self.recent[row][len(self.recent[row]) - copy_ngram + 1 :]))
                    if banned:
                        scores[row, sorted(banned)] = float("-inf")
            return scores

    return ContentProcessor()
