"""A rich progress bar fed by the teacher's answers as they arrive."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from taskexpert.teachers.types import TeacherResponse


@contextmanager
def teacher_progress(
    total: int, description: str, enabled: bool = True
) -> Iterator[Callable[[TeacherResponse], None]]:
    """Yields the callback to hand to `Teacher.generate(on_response=...)`."""
    if not enabled or total == 0:
        yield lambda response: None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[cached]} cached, {task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as progress:
        task = progress.add_task(description, total=total, cached=0, failed=0)
        counts = {"cached": 0, "failed": 0}

        def advance(response: TeacherResponse) -> None:
            counts["cached"] += response.cached
            counts["failed"] += not response.ok
            progress.update(task, advance=1, **counts)

        yield advance
