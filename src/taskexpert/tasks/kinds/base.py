"""What every kind provides, and the registry of kinds by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taskexpert.errors import ConfigError, DataError

if TYPE_CHECKING:
    from taskexpert.records import Record
    from taskexpert.tasks.task import Task

Row = dict[
    str, Any
]  # one evaluated example: id, gold, pred, golds, and what the kind adds (scores, parsed ...)


class Kind:
    """The few functions that differ between kinds of task. Subclasses override what they need."""

    name: str = ""
    placeholder: str = (
        "answer"  # the field of `task.prompt.decision` that holds the gold: {label} or {answer}
    )
    eval_modes: tuple[str, ...] = ("generate",)  # label = scoring each label; generate = generate and read

    def check(self, task: Task) -> None:
        """Refuse a task config this kind cannot run (ConfigError naming the key)."""

    def validate_target(self, task: Task, record: Record, where: str) -> None:
        if not record.target.strip():
            raise DataError(
                where, "target", "is empty", f"every {task.name} record needs a gold {self.placeholder}"
            )

    def golds(self, task: Task, record: Record) -> tuple[str, ...]:
        """Every acceptable gold answer of a record; the first is the target."""
        return (record.target,)

    def read_generated(self, task: Task, text: str) -> tuple[str, bool]:
        """(prediction, parsed) from generated text; parsed=False when the text held no answer."""
        raise NotImplementedError

    def is_correct(self, task: Task, prediction: str, golds: Sequence[str]) -> bool:
        return prediction == golds[0]

    def metrics(self, task: Task, rows: Sequence[Row], prefix: str) -> dict[str, object]:
        raise NotImplementedError

    def table_columns(self, task: Task) -> list[tuple[str, str]]:
        """(metric name, column title) of the results table printed after a run."""
        raise NotImplementedError


KINDS: dict[str, Kind] = {}


def register_kind(kind_class: type[Kind]) -> type[Kind]:
    """Class decorator: register one instance of the kind under its `name`."""
    if not kind_class.name or kind_class.name in KINDS:
        raise ValueError(f"kind {kind_class.name!r} has no name or is registered twice")
    KINDS[kind_class.name] = kind_class()
    return kind_class


def get_kind(name: str) -> Kind:
    import taskexpert.tasks.kinds  # noqa: F401 - importing the package registers every kind module

    if name not in KINDS:
        raise ConfigError(f"task.kind={name!r} is unknown: use one of {', '.join(sorted(KINDS))}")
    return KINDS[name]
