"""Task kinds: what a target is, how a prediction is read and scored. One module per kind, in a registry.

A kind is an object with the methods of `taskexpert.tasks.kinds.base.Kind`; a module registers it with
`@register_kind`. Every public module of this package is imported below, so adding a kind is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil

from taskexpert.tasks.kinds.base import KINDS, Kind, register_kind

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["KINDS", "Kind", "register_kind"]
