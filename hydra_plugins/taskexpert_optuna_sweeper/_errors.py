"""Errors of the sweeper: each names the config key or the trials behind it and says what to do."""

from __future__ import annotations

from hydra.errors import CompactHydraException, HydraException


class SweepConfigError(HydraException):
    """A sweeper setting or search-space entry that cannot work, found before any job runs."""


class SweepAbortedError(HydraException):
    """Too many trials failed: the study stops instead of spending the rest of its budget on failures."""


class SweepStorageLockedError(CompactHydraException):
    """The study's SQLite file stayed locked by another process: one line naming it and what to do (Hydra prints
    a compact exception without its traceback)."""
