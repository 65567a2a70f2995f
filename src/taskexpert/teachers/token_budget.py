"""What a structured answer costs in tokens, and the length bounds that fit a token budget, in any script.

Characters per token vary with the script and the tokenizer: SmolLM2's tokenizer writes English prose at
about 4 characters a token, the bundled MCoNaLa intents (Japanese) at 0.65 (1.9 tokens a character for the
densest), and a `\\uXXXX` escape costs up to 6 tokens for one character. So no fixed rate holds; the rate of
each field is measured on the task's own texts (the jobs' records, as JSON string contents), with

- the teacher's tokenizer when it has one (local transformers, vLLM), times `TOKENIZER_MARGIN`: the
  canonical tokenization of a record is an estimate of what the teacher writes, not a bound;
- else UTF-8 bytes (OpenAI-compatible servers): byte-level BPE and byte-fallback tokenizers never emit a
  token of less than one byte, so bytes bound the tokens of that text on every such tokenizer.

A field with no text to measure takes the highest rate measured, or `UNMEASURED_RATE` (4 tokens a
character: every UTF-8 character is at most 4 bytes). Answers cut at the limit anyway are detected by the
backends' finish reason and counted (`truncated`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from taskexpert.errors import ConfigError

TOKENIZER_MARGIN = 1.25  # a teacher's own tokens may split a text more finely than its canonical tokenization
UNMEASURED_RATE = 4.0  # tokens per character of a field with nothing to measure: UTF-8's widest character
END_TOKENS = 1  # the end-of-text token that closes an answer
RATE_STEP = 1 / 16  # measured rates are rounded up to this step, so a few more records seldom change a schema
MEASURED_RECORDS = (
    64  # the first records measured: a re-run with more seeds keeps the same rates (and cache keys)
)


class TokenMeter(Protocol):
    name: str

    def count(self, text: str) -> int: ...


class ByteMeter:
    """UTF-8 bytes: at least the tokens of the text on byte-level (and byte-fallback) tokenizers."""

    name = "utf8_bytes"
    margin = 1.0

    def count(self, text: str) -> int:
        return len(text.encode("utf-8"))


class TokenizerMeter:
    """The tokens of a text in the teacher's own tokenizer (special tokens left out)."""

    name = "tokenizer"
    margin = TOKENIZER_MARGIN

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))


def json_string(text: str) -> str:
    """`text` as it stands inside a JSON answer's quotes (escapes of quotes, backslashes, line breaks)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


@dataclass(frozen=True)
class TokenRates:
    """Tokens per character of each answer field, and the meter that measured them."""

    meter: TokenMeter
    per_field: Mapping[str, float]

    def rate(self, name: str) -> float:
        if name in self.per_field:
            return self.per_field[name]
        return max(self.per_field.values(), default=UNMEASURED_RATE)

    def structure_tokens(self, fields: Sequence[str]) -> int:
        """The tokens of an answer's JSON with every value empty (`{"a": "", "b": ""}`), and its end token."""
        skeleton = json.dumps(dict.fromkeys(fields, ""), ensure_ascii=False)
        return math.ceil(self.meter.count(skeleton) * getattr(self.meter, "margin", 1.0)) + END_TOKENS

    def tokens(self, fields: Sequence[str], lengths: Mapping[str, Sequence[int]]) -> int:
        """The most tokens an answer whose fields keep their maxima may take."""
        content = sum(self.rate(name) * int(lengths[name][1]) for name in fields if name in lengths)
        return self.structure_tokens(fields) + math.ceil(content)


def measure_rates(meter: TokenMeter, samples: Mapping[str, Iterable[str]]) -> TokenRates:
    """Each field's highest tokens-per-character over its first `MEASURED_RECORDS` sample texts (as JSON
    string contents), with the meter's margin, rounded up to `RATE_STEP`."""
    margin = getattr(meter, "margin", 1.0)
    per_field: dict[str, float] = {}
    for name, texts in samples.items():
        kept = [text for text in texts if text][:MEASURED_RECORDS]
        rates = [meter.count(json_string(text)) / len(text) for text in kept]
        if rates:
            per_field[name] = math.ceil(max(rates) * margin / RATE_STEP) * RATE_STEP
    return TokenRates(meter, per_field)


def fit_lengths(
    fields: Sequence[str],
    lengths: Mapping[str, Sequence[int]],
    max_new_tokens: int | None,
    rates: TokenRates | None,
    where: str = "the answer",
) -> dict[str, tuple[int, int]]:
    """`lengths` of `fields`, maxima scaled down (never below their minima) until the answer fits in
    `max_new_tokens` at `rates`: a constrained answer cut at the token limit is not JSON. ConfigError when
    even the minima do not fit."""
    bounded = {name: (int(lengths[name][0]), int(lengths[name][1])) for name in fields if name in lengths}
    if not max_new_tokens or not bounded or rates is None:
        return bounded
    budget = max_new_tokens - rates.structure_tokens(fields)
    needed = sum(rates.rate(name) * high for name, (_, high) in bounded.items())
    if needed <= budget:
        return bounded
    floor = sum(rates.rate(name) * low for name, (low, _) in bounded.items())
    if floor > budget:
        raise ConfigError(
            f"max_new_tokens={max_new_tokens} cannot hold {where}: the minimum lengths of "
            f"{', '.join(bounded)} (task.field_lengths) need {math.ceil(floor) + max_new_tokens - budget} "
            f"tokens at the rates measured ({rates.meter.name}): raise max_new_tokens or lower those minima"
        )
    scale = budget / needed
    return {name: (low, max(low, int(high * scale))) for name, (low, high) in bounded.items()}


def label_answer_tokens(meter: TokenMeter, labels: Sequence[str], field: str = "label") -> int:
    """The tokens of the longest one-label answer (`{"label": "..."}` and its end token)."""
    margin = getattr(meter, "margin", 1.0)
    longest = max(
        (meter.count(json.dumps({field: label}, ensure_ascii=False)) for label in labels), default=0
    )
    return math.ceil(longest * margin) + END_TOKENS
