"""Errors a user can act on: they name the file, the record and the field, and say what to do."""

from __future__ import annotations


class TaskExpertError(Exception):
    """Base class for errors raised for users (bad config, bad input)."""


class DataError(TaskExpertError):
    """A problem with an input file, pinned to the record and field."""

    def __init__(self, where: str, field: str, problem: str, hint: str = "") -> None:
        self.where, self.field, self.problem, self.hint = where, field, problem, hint
        message = f"{where}: field '{field}' {problem}" if field != "-" else f"{where}: {problem}"
        if hint:
            message += f" (hint: {hint})"
        super().__init__(message)


class ConfigError(TaskExpertError):
    """A config value that cannot work, caught before any work starts."""
