"""The one-line comments of the YAML configs, read as documentation: a file's description and each key's meaning.

The config files are the reference (every key has a comment); `--help` and the error messages quote them
rather than keeping a second copy that could drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[\w@/.\-]+):(?:\s+(?P<rest>.*))?$")


@dataclass(frozen=True)
class KeyDoc:
    key: str  # dotted path inside the file, e.g. "split.train_size"
    value: str  # the value as written ("" for a mapping)
    comment: str  # the line's comment without "#"


def split_comment(text: str) -> tuple[str, str]:
    """(value, comment) of the text after `key:`; a `#` inside quotes or glued to a word is not a comment."""
    quote = ""
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#" and (index == 0 or text[index - 1].isspace()):
            return text[:index].strip(), text[index + 1 :].strip()
    return text.strip(), ""


def file_description(path: Path) -> str:
    """The comment paragraph at the top of a config file, as one line (the `# @package` header skipped)."""
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        text = stripped.lstrip("#").strip()
        if not text.startswith("@package"):
            lines.append(text)
    return " ".join(line for line in lines if line)


def key_docs(path: Path) -> list[KeyDoc]:
    """Every key of a YAML config file in file order, with its dotted path, raw value and comment.

    Entries of the `defaults:` list are not keys and are left out (see `defaults_comments`).
    """
    docs: list[KeyDoc] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing mappings
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _KEY_LINE.match(line)
        if not match or line.lstrip().startswith(("#", "-")):
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        value, comment = split_comment(match["rest"] or "")
        dotted = ".".join([*(key for _, key in stack), match["key"]])
        if dotted != "defaults" and not dotted.startswith("defaults."):
            docs.append(KeyDoc(dotted, value, comment))
        if not value:
            stack.append((indent, match["key"]))
    return docs


def key_comments(path: Path) -> dict[str, str]:
    return {doc.key: doc.comment for doc in key_docs(path)}


def defaults_comments(path: Path) -> dict[str, str]:
    """Group name -> the comment on its entry in the file's defaults list (`- data: sample  # which data`)."""
    comments: dict[str, str] = {}
    in_defaults = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.match(r"^defaults:", line):
            in_defaults = True
            continue
        if in_defaults and re.match(r"^\S", line):
            break
        entry = re.match(r"^\s*-\s+(?:override\s+)?(?:optional\s+)?/?(?P<group>[\w/]+)(?:@[\w.]+)?:", line)
        if in_defaults and entry:
            comments[entry["group"]] = split_comment(line.split(":", 1)[1])[1]
    return comments


def example_assignment(comment: str, key: str) -> str | None:
    """`key=value` when the comment shows one for this key (`required: data.path=/path/to/ori_pqal.json`)."""
    match = re.search(rf"(?<![\w.]){re.escape(key)}=(\S+)", comment)
    return f"{key}={match[1].rstrip(').,;')}" if match else None
