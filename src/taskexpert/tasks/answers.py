"""Final numeric answers in GSM8K's style, for gold answers and for generated text alike.

Two rules, named for what they accept:
- `final_answer`: strict, the number right after the first `####` (GSM8K's own answer format);
- `last_number`: flexible, the last number anywhere in the text (for outputs that drop the `####`).
Both return the number normalised by `normalise_number`, or None when there is none to read.
"""

from __future__ import annotations

import re

# A number as written in a solution: optional sign and `$`, thousands commas, optional decimals.
_NUMBER = r"-?\$?\d[\d,]*(?:\.\d+)?"
_AFTER_HASHES = re.compile(r"####\s*(" + _NUMBER + ")")
_ANY_NUMBER = re.compile(_NUMBER)
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def normalise_number(text: str) -> str | None:
    """`text` as a plain number: commas, `$` and spaces removed, a trailing `.0`/`.00` dropped; None if not a
    number. "$1,200.00" -> "1200", "-3.50" -> "-3.50", "7." -> "7"."""
    plain = re.sub(r"[,$\s]", "", text).rstrip(".")
    if not _PLAIN_NUMBER.fullmatch(plain):
        return None
    return re.sub(r"\.0+$", "", plain)


def final_answer(text: str) -> str | None:
    """The strict rule: the number after the first `####`, normalised; None when there is no `#### N`."""
    match = _AFTER_HASHES.search(text)
    return normalise_number(match.group(1)) if match else None


def last_number(text: str) -> str | None:
    """The flexible rule: the last number in `text`, normalised; None when the text holds no number."""
    numbers = _ANY_NUMBER.findall(text)
    return normalise_number(numbers[-1]) if numbers else None
