"""Replace our `##` sections of a shared Markdown file, leaving everyone else's exactly as they are."""

from __future__ import annotations

from pathlib import Path

from taskexpert.utils.atomic import atomic_write_text

TITLE = "# Benchmarks\n"


def split_sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(text before the first `## ` heading, [(heading line, body including the heading)])."""
    preamble, sections = [], []
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            sections.append([line.rstrip("\n"), line])
        elif sections:
            sections[-1][1] += line
        else:
            preamble.append(line)
    return "".join(preamble), [(heading, body) for heading, body in sections]


def update_sections(path: Path, new_sections: dict[str, str], order: tuple[str, ...]) -> None:
    """Sections already in the file are replaced in place; new ones are appended in `order`."""
    text = path.read_text(encoding="utf-8") if path.is_file() else TITLE + "\n"
    preamble, sections = split_sections(text)
    pending = dict(new_sections)
    merged = []
    for heading, body in sections:
        if heading in pending:
            merged.append(pending.pop(heading).rstrip("\n") + "\n\n")
        else:
            merged.append(body if body.endswith("\n\n") else body.rstrip("\n") + "\n\n")
    for heading in order:
        if heading in pending:
            merged.append(pending.pop(heading).rstrip("\n") + "\n\n")
    atomic_write_text(path, (preamble + "".join(merged)).rstrip("\n") + "\n")
