"""The augmentation methods by name: `method.name` in conf/method/*.yaml picks one.

A method registers itself with `@register_method` where it is defined. The built-in ones are imported on
the first look-up; a method outside this package is found by importing the module named in `method.module`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TypeVar

from taskexpert.augment.method import AugmentationMethod
from taskexpert.errors import ConfigError

METHODS: dict[str, type[AugmentationMethod]] = {}
BUILTIN_MODULES = (
    "taskexpert.augment.drllama",
    "taskexpert.augment.rebase",
    "taskexpert.augment.llm2llm",
)
MethodClass = TypeVar("MethodClass", bound=type[AugmentationMethod])


def register_method(*names: str) -> Callable[[MethodClass], MethodClass]:
    """Register the class under `names` (default: its `name`); a name taken by another class is an error."""

    def add(cls: MethodClass) -> MethodClass:
        for name in names or (cls.name,):
            if not name:
                raise ValueError(f"{cls.__name__} has no name: set `name` or pass register_method('...')")
            known = METHODS.get(name)
            if known is not None and known.__qualname__ != cls.__qualname__:
                raise ValueError(f"method name {name!r} is taken by {known.__module__}.{known.__qualname__}")
            METHODS[name] = cls
        return cls

    return add


def load_builtin_methods() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def method_class(name: str, module: str | None = None) -> type[AugmentationMethod]:
    """The class registered as `name`, after importing the built-in methods and `module` (if given)."""
    load_builtin_methods()
    if module:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ConfigError(f"method.module={module!r} cannot be imported ({error})") from None
    if name not in METHODS:
        raise ConfigError(f"method.name={name!r} is unknown: use one of {', '.join(sorted(METHODS))}")
    return METHODS[name]
