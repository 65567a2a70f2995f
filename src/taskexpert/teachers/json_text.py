"""Finding JSON objects in model output: the first one that parses, and when generation can stop."""

from __future__ import annotations

import json
from typing import Any

_DECODER = json.JSONDecoder()
MAX_START_POSITIONS = 64  # how many '{' to try before giving up on a long, brace-heavy text


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text`, tolerating code fences and prose around it; None if there is none."""
    position = text.find("{")
    tries = 0
    while position >= 0 and tries < MAX_START_POSITIONS:
        try:
            value, _ = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
        position = text.find("{", position + 1)
        tries += 1
    return None


def closes_json_object(text: str) -> bool:
    """True once the first `{` of `text` has its matching `}` (braces inside strings do not count)."""
    start = text.find("{")
    if start < 0:
        return False
    depth, in_string, escaped = 0, False, False
    for character in text[start:]:
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character == "{":
            depth += 1
        elif character == "}":
            depth -= 1
            if depth == 0:
                return True
    return False
