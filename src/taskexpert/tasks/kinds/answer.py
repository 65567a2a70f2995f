"""Answer: a (chain-of-thought) target that ends in a final answer, read by the task's rule and scored by exact
match (GSM8K: the number after `####`; BIG-Bench Hard: the text after the answer phrase).

Rules (`task.generate.answer_rule`):
- `final_answer`: the number after the first `####` (strict, GSM8K's own format);
- `last_number`: the last number in the text (flexible);
- `final_answer_or_last_number`: strict first, then flexible;
- `after_phrase`: the text after `task.generate.answer_phrase` (or the whole text), up to the line break.
Numbers are compared normalised (commas, `$`, a trailing `.0` removed); other answers after trimming spaces
and a final full stop. `parse_failure_rate` counts texts the rule found no answer in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from taskexpert.errors import ConfigError
from taskexpert.tasks.answers import final_answer, last_number, normalise_number
from taskexpert.tasks.kinds.base import Kind, Row, register_kind


def after_phrase(text: str, phrase: str | None, stop_at_newline: bool = True) -> str | None:
    """The text after the first `phrase` (case-insensitive; no phrase: all of it), up to the first line break
    when `stop_at_newline`, trimmed; None when the phrase is absent or nothing follows it."""
    start = 0
    if phrase:
        found = text.lower().find(phrase.lower())
        if found < 0:
            return None
        start = found + len(phrase)
    answer = text[start:].lstrip()
    if stop_at_newline:
        answer = answer.split("\n", 1)[0]
    answer = answer.strip()
    return answer or None


def normalise_answer(text: str) -> str:
    """A number in its plain form, other text trimmed of spaces and a final full stop."""
    number = normalise_number(text)
    return number if number is not None else text.strip().removesuffix(".").strip()


def _final_or_last(text: str) -> str | None:
    strict = final_answer(text)
    return strict if strict is not None else last_number(text)


NUMBER_RULES: dict[str, Callable[[str], str | None]] = {
    "final_answer": final_answer,
    "last_number": last_number,
    "final_answer_or_last_number": _final_or_last,
}
RULES = (*NUMBER_RULES, "after_phrase")


def read_answer(task, text: str) -> str | None:
    settings = task.generate
    if settings.answer_rule in NUMBER_RULES:
        return NUMBER_RULES[settings.answer_rule](text)
    answer = after_phrase(text, settings.answer_phrase, settings.stop_at_newline)
    return None if answer is None else normalise_answer(answer)


@register_kind
class Answer(Kind):
    name = "answer"
    placeholder = "answer"
    eval_modes = ("generate",)

    def check(self, task) -> None:
        if task.generate.answer_rule not in RULES:
            raise ConfigError(
                f"task.generate.answer_rule={task.generate.answer_rule!r}: use one of {', '.join(RULES)}"
            )

    def read_generated(self, task, text: str) -> tuple[str, bool]:
        answer = read_answer(task, text)
        return ("", False) if answer is None else (answer, True)

    def is_correct(self, task, prediction: str, golds: Sequence[str]) -> bool:
        return bool(prediction) and any(normalise_answer(prediction) == normalise_answer(g) for g in golds)

    def metrics(self, task, rows: Sequence[Row], prefix: str) -> dict[str, object]:
        if not rows:
            return {}
        correct = [self.is_correct(task, row["pred"], row["golds"]) for row in rows]
        return {
            f"{prefix}exact_match": sum(correct) / len(rows),
            f"{prefix}parse_failure_rate": sum(not row["parsed"] for row in rows) / len(rows),
        }

    def table_columns(self, task) -> list[tuple[str, str]]:
        return [("exact_match", "exact match"), ("parse_failure_rate", "parse failures")]
