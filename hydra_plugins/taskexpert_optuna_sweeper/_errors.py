"""Errors of the sweeper: each names the config key or the trials behind it and says what to do."""

from __future__ import annotations

from hydra.errors import HydraException


class SweepConfigError(HydraException):
    """A sweeper setting or search-space entry that cannot work, found before any job runs."""


class SweepAbortedError(HydraException):
    """Too many trials failed: the study stops instead of spending the rest of its budget on failures."""
