"""Dr. LLaMA's generate-and-parse: find the answer phrase, take the first label word after it."""

from __future__ import annotations

import re

from taskexpert.records import LABELS

ANSWER_PHRASE = "the answer to the question given the context is"
_LABEL_WORD = re.compile(r"\b(" + "|".join(LABELS) + r")\b")


def parse_answer(
    text: str, phrase: str = ANSWER_PHRASE, window: int = 40, default: str = "maybe"
) -> tuple[str, bool]:
    """Return (label, parsed). Looks `window` characters after the first `phrase` (case-insensitive);
    falls back to `default` with parsed=False when the phrase or a label word is absent."""
    lowered = text.lower()
    start = lowered.find(phrase.lower())
    if start < 0:
        return default, False
    # Search past the window and keep the match only if the whole word lies inside it: cutting the text
    # at the window would turn a word running over its edge ("nothing", "yesterday") into a label word.
    match = _LABEL_WORD.search(lowered[start + len(phrase) :])
    return (match.group(1), True) if match and match.end() <= window else (default, False)
