"""Prompt templates: plain text files under conf/prompts/, editable without touching code.

A template is split into chat messages by lines that read exactly `[system]`, `[user]` or `[assistant]`;
a file without them is one user message. A final `[assistant]` section is a prefill: the teacher is asked
to continue it (e.g. `{"question": "`), which keeps small models on the JSON track. Lines starting with
`#` before the first section are comments. `{{name}}` placeholders are filled per record; an unknown
placeholder is an error that names the file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from taskexpert.errors import ConfigError

SECTION = re.compile(r"^\[(system|user|assistant)\]\s*$")
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def default_prompts_root() -> Path:
    """The conf/ directory of this checkout, where `prompts/...` paths are looked up."""
    return Path(__file__).resolve().parents[3] / "conf"


def resolve_prompt_path(path: str | Path, root: str | Path | None = None) -> Path:
    """An absolute path as is; a relative one from the working directory, else from `root` (conf/)."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute() or candidate.is_file():
        resolved = candidate
    else:
        resolved = Path(root or default_prompts_root()) / candidate
    if not resolved.is_file():
        raise ConfigError(
            f"prompt template {path} not found (looked at {resolved}): check the method's prompt"
        )
    return resolved


@dataclass(frozen=True)
class PromptTemplate:
    path: Path
    text: str
    sections: tuple[tuple[str, str], ...]  # (role, template) in order

    @classmethod
    def load(cls, path: str | Path, root: str | Path | None = None) -> PromptTemplate:
        resolved = resolve_prompt_path(path, root)
        text = resolved.read_text(encoding="utf-8")
        return cls(resolved, text, _sections(text, resolved))

    @property
    def hash(self) -> str:
        """Short content hash, stored in every generated record's meta: which prompt made it."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]

    @property
    def placeholders(self) -> set[str]:
        return {name for _, body in self.sections for name in PLACEHOLDER.findall(body)}

    def check(self, available: set[str] | frozenset[str]) -> None:
        """Fail early, naming the file, if the template uses a placeholder that will not be filled."""
        unknown = sorted(self.placeholders - set(available))
        if unknown:
            raise ConfigError(
                f"{self.path}: placeholder {{{{{unknown[0]}}}}} is unknown here; "
                f"this prompt can use {', '.join('{{' + name + '}}' for name in sorted(available))}"
            )

    def render(self, values: dict[str, str]) -> list[dict[str, str]]:
        """The chat messages with every placeholder filled (values are inserted as they are)."""
        self.check(set(values))
        return [
            {"role": role, "content": PLACEHOLDER.sub(lambda m: values[m.group(1)], body)}
            for role, body in self.sections
        ]


def _sections(text: str, path: Path) -> tuple[tuple[str, str], ...]:
    lines = text.splitlines()
    sections: list[tuple[str, list[str]]] = []
    preamble: list[str] = []
    for line in lines:
        match = SECTION.match(line)
        if match:
            sections.append((match.group(1), []))
        elif sections:
            sections[-1][1].append(line)
        elif not line.startswith("#"):
            preamble.append(line)
    if not sections:
        sections = [("user", preamble)]
    elif "\n".join(preamble).strip():
        raise ConfigError(
            f"{path}: text before the first [system]/[user] line; start the file with a section"
        )
    messages = []
    for index, (role, body_lines) in enumerate(sections):
        body = "\n".join(body_lines)
        is_prefill = role == "assistant" and index == len(sections) - 1
        # a prefill keeps its exact end (a trailing space matters to the tokenizer); others are trimmed
        messages.append((role, body.strip("\n") if is_prefill else body.strip()))
    if not any(role == "user" for role, _ in messages):
        raise ConfigError(f"{path}: a prompt needs a [user] section")
    if messages[-1][0] == "system":
        raise ConfigError(
            f"{path}: the last section is [system]; end with [user] (or an [assistant] prefill)"
        )
    return tuple(messages)
