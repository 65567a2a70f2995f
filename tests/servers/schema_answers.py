"""Teacher answers for any task: a valid JSON object built from the request's own answer schema.

Every field the schema asks for gets distinct invented words (per prompt and seed); an enum field (a label)
gets the label the prompt asks for (`must be "X"`), else the enum's first value; a `solution` field ends in
GSM8K's `#### N`. Fault-server tests of the methods on tasks other than PubMedQA use it.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any


def schema_answer(body: dict[str, Any]) -> str:
    user = "\n".join(m["content"] for m in body.get("messages", []) if m.get("role") == "user")
    schema = body["response_format"]["json_schema"]["schema"]
    digest = hashlib.sha256(f"{user}|{body.get('seed')}".encode()).hexdigest()
    asked = re.search(r'must be "([^"]+)"', user)
    answer: dict[str, str] = {}
    for index, (name, rule) in enumerate(schema["properties"].items()):
        words = " ".join(
            f"w{digest[(index * 8 + i) % 60 : (index * 8 + i) % 60 + 4]}" for i in range(0, 24, 4)
        )
        if "enum" in rule:
            answer[name] = asked.group(1) if asked and asked.group(1) in rule["enum"] else rule["enum"][0]
        elif name == "solution":
            answer[name] = f"Add {words}. #### {int(digest[:4], 16) % 97}"
        else:
            answer[name] = f"Invented {name} {words}."
    return json.dumps(answer)
