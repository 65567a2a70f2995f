"""Input files named in the config, checked before a job starts: a missing one names the command that makes it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from taskexpert.errors import ConfigError

# outputs/augment/<name>/augmented.jsonl is what `augment.py name=<name>` writes (conf/augment.yaml)
_NAMED_AUGMENT_RUN = re.compile(r"augment/(?P<name>[^/]+)/augmented\.jsonl$")


def check_data_path(data_cfg: Any) -> None:
    """`data.path` of a local file that is not there (bundled samples and hub ids are the readers' business)."""
    path = data_cfg.get("path")
    if (
        not path
        or data_cfg.get("format") == "hub"
        or str(path).startswith("sample:")
        or Path(str(path)).exists()
    ):
        return
    raise ConfigError(f"data.path={path} does not exist: set data.path to the data file (check the spelling)")


def looks_local(path: str) -> bool:
    """A filesystem path rather than a hub id (`org/name`): absolute, home- or dot-relative."""
    return path.startswith(("/", "~", "./", "../")) or path in (".", "..")


def check_model_path(model_cfg: Any) -> None:
    """`model.path=/models/x` that is not there would reach the hub client as an invalid repo id."""
    path = model_cfg.get("path") if model_cfg is not None else None
    if path and looks_local(str(path)) and not Path(str(path)).expanduser().exists():
        raise ConfigError(
            f"model.path={path} does not exist: set model.path to a local model directory "
            "(with config.json), or to a hub id such as org/name"
        )


def check_data_files(data_cfg: Any) -> None:
    check_data_path(data_cfg)
    check_extra_train_files(data_cfg)


def check_extra_train_files(data_cfg: Any) -> None:
    for entry in data_cfg.get("extra_train") or []:
        path = str(entry)
        if (
            ":" in path.split("/", 1)[0] or Path(path).exists()
        ):  # "sample:..." and URLs are the readers' business
            continue
        named = _NAMED_AUGMENT_RUN.search(path)
        fix = (
            f"make it first: python augment.py name={named['name']} with the method and data=... it needs"
            if named
            else "check the path in data.extra_train"
        )
        raise ConfigError(f"data.extra_train: {path} does not exist: {fix}")
