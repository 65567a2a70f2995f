"""The command line before Hydra sees it: spellings we accept for convenience, and Hydra's own flags."""

from __future__ import annotations

import argparse
import contextlib
import io
import re

# Keys that were once added with `+` (`+sweep=lora_alpha`, `+dry_run=true`) and are now part of the config;
# the old spelling keeps working.
FORMERLY_ADDED = ("sweep", "dry_run")


MULTIRUN_FLAGS = ("-m", "--multirun")


def normalise_arguments(arguments: list[str]) -> list[str]:
    """`--verbose` -> `verbose=true`; `+sweep=NAME` -> `sweep=NAME`; `+dry_run=...` -> `dry_run=...`;
    `-m` anywhere -> first (Hydra's parser takes flags only before the overrides)."""
    normalised = []
    if any(argument in MULTIRUN_FLAGS for argument in arguments):
        arguments = ["-m", *(argument for argument in arguments if argument not in MULTIRUN_FLAGS)]
    for argument in arguments:
        if argument == "--verbose":
            argument = "verbose=true"
        elif any(argument.startswith(f"+{key}=") for key in FORMERLY_ADDED):
            argument = argument[1:]
        normalised.append(argument)
    return normalised


def parse_hydra_flags(arguments: list[str]) -> argparse.Namespace | None:
    """Hydra's own parse of the command line; None when Hydra will reject it (it then says why)."""
    from hydra._internal.utils import get_args_parser

    try:
        with contextlib.redirect_stderr(io.StringIO()):  # Hydra's own run prints the usage message
            return get_args_parser().parse_args(arguments)
    except SystemExit:
        return None


def one_line(message: str) -> str:
    """A multi-line library message as one line, without Hydra's pointer to HYDRA_FULL_ERROR."""
    lines = [line.strip() for line in str(message).splitlines()]
    lines = [line for line in lines if line and "HYDRA_FULL_ERROR" not in line]
    return re.sub(r"\s+", " ", "; ".join(lines)).strip()


def shown(argument: str) -> str:
    """An argument as a message may repeat it: the value of a secret-named key and URL passwords masked."""
    from taskexpert.utils.secrets import REDACTED, is_secret_key, redact_text

    key, separator, _value = argument.partition("=")
    if separator and is_secret_key(key.lstrip("+~")):
        return f"{key}={REDACTED}"
    return redact_text(argument)


def suggested_command(program: str, arguments: list[str], add_multirun: bool = False) -> str:
    arguments = ["-m", *arguments] if add_multirun and "-m" not in arguments else arguments
    return " ".join(["python", program, *(shown(argument) for argument in arguments)])
