"""Did-you-mean: the closest valid names, and the arguments a `_target_` class accepts."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str], count: int = 1) -> list[str]:
    """The valid names nearest to a misspelt one (difflib ratio >= 0.6), best first."""
    return difflib.get_close_matches(word, sorted(set(candidates)), n=count, cutoff=0.6)


def listing(names: Iterable[str], limit: int = 12) -> str:
    names = sorted(set(names))
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def target_parameters(target: str) -> set[str] | None:
    """Keyword arguments `target` accepts; None when it takes any (**kwargs) or cannot be inspected."""
    from hydra.utils import get_object

    try:
        obj = get_object(target)
    except Exception:  # a target that does not import fails later with its own error
        return None
    if dataclasses.is_dataclass(obj):
        return {field.name for field in dataclasses.fields(obj) if field.init}
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return None
    return {
        p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY) and p.name != "self"
    }
