"""`python -m taskexpert.models.prepare NAME...`: build or convert prepared models ahead of a run."""

from __future__ import annotations

import sys

from taskexpert.models.smollm2 import smollm2_dir
from taskexpert.models.tiny import tiny_model_dir

PREPARERS = {
    "smollm2_135m": smollm2_dir,
    "tiny_llama": lambda: tiny_model_dir("llama"),
    "tiny_biogpt": lambda: tiny_model_dir("biogpt"),
}


def main(names: list[str]) -> None:
    for name in names or ["smollm2_135m"]:
        if name not in PREPARERS:
            raise SystemExit(f"unknown model {name!r}: choose from {', '.join(PREPARERS)}")
        print(f"{name}: {PREPARERS[name]()}")


if __name__ == "__main__":
    main(sys.argv[1:])
