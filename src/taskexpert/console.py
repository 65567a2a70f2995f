"""A quiet console: known third-party chatter filtered, so a run shows our progress and our table first.

Applied by the entry points before the libraries load (`quiet_console`), and again inside each job
(`apply_console_settings`), since a sweep's job may run in another process. `verbose=true` (or `--verbose`)
shows everything. Each filter names one known message and says why it can go; anything else still shows.
"""

from __future__ import annotations

import logging
import os
import re
import warnings

# Environment defaults, set only when the user has not set them.
QUIET_ENVIRONMENT = {
    # W&B's banner ("Tracking run with wandb version...", "View this run...", the run summary) repeats what
    # our table and run directory say; its errors still show.
    "WANDB_SILENT": "true",
    # transformers draws a "Loading weights" bar for every model, even a tiny one, before our first line. The same
    # switch hides the hub's download bars; --verbose (or setting the variable to 0) brings both back.
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}

# (category, message regex, why it can go) for Python warnings raised inside the libraries.
KNOWN_WARNINGS: list[tuple[type[Warning], str, str]] = [
    (
        FutureWarning,
        r"`is_gradient_checkpointing` is deprecated",
        "PEFT calls transformers' old property while wrapping the model; nothing in a config can change it",
    ),
    (
        Warning,
        r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        "Lightning's own pytree helper against torch's newer API; internal to Lightning",
    ),
    (
        Warning,
        r"could not find the monitored key in the returned metrics",
        "training that stops at max_steps before its first validation has no monitored value yet; "
        "the pipeline then validates and tests with the best checkpoint if there is one, else the final weights",
    ),
    (
        Warning,
        r"The `srun` command is available on your system but is not used",
        "SLURM jobs are launched through submitit (hydra/launcher=slurm); a local run on a machine with srun "
        "installed is not a mistake",
    ),
    (
        Warning,
        r"The anonymous setting has no effect",
        "W&B's notice about a setting Lightning's WandbLogger passes on; not ours to set",
    ),
]

# Lightning's INFO lines at the start and end of every fit: hardware it does not use, an advertisement,
# notes on settings the config already states.
KNOWN_LIGHTNING_INFO = [
    r"^GPU available: ",  # we check the accelerator against the machine ourselves (config_checks.machine)
    r"^TPU available: ",
    r"^HPU available: ",
    r"Tip: For seamless",  # an advertisement for Lightning's cloud products
    r"^`Trainer\(val_check_interval=1\.0\)` was configured",  # says what trainer.val_check_interval says
    r"^Loading `train_dataloader` to estimate number of stepping batches",  # internal bookkeeping
    r"^`Trainer\.fit` stopped: `max_steps=\d+` reached",  # the config's own trainer.max_steps
]
# Logger name -> the INFO lines of it that go.
KNOWN_LOG_LINES = {
    **{
        name: KNOWN_LIGHTNING_INFO
        for name in (
            "pytorch_lightning.utilities.rank_zero",
            "lightning.pytorch.utilities.rank_zero",
            "lightning_fabric.utilities.rank_zero",
            "lightning.fabric.utilities.rank_zero",
        )
    },
    # said whenever a checkpoint is saved without the argument: ours are saved whole on purpose (to resume),
    # and every load uses weights_only=True
    "pytorch_lightning.trainer.connectors.checkpoint_connector": [r"^`weights_only` was not set"],
    "lightning.pytorch.trainer.connectors.checkpoint_connector": [r"^`weights_only` was not set"],
    # sentence-transformers announces each model it loads (augment's diversity and dedup embedder, a bundled file)
    "sentence_transformers.base.model": [r"^Loading \w+ model from "],
}


class _DropKnownLines(logging.Filter):
    def __init__(self, patterns: list[str]) -> None:
        super().__init__()
        self.patterns = [re.compile(pattern) for pattern in patterns]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(pattern.search(message) for pattern in self.patterns)


_FILTERS = {name: _DropKnownLines(patterns) for name, patterns in KNOWN_LOG_LINES.items()}


def verbose_requested(arguments: list[str]) -> bool:
    return any(argument in ("--verbose", "verbose=true", "verbose=True") for argument in arguments)


def apply_console_settings(verbose: bool) -> None:
    """Install the filters (idempotent); with `verbose`, remove them and show everything."""
    for name, log_filter in _FILTERS.items():
        logger = logging.getLogger(name)
        if verbose:
            logger.removeFilter(log_filter)
        elif log_filter not in logger.filters:
            logger.addFilter(log_filter)
    if verbose:
        return
    for variable, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(variable, value)
    for category, message, _why in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=f".*{message}", category=category)


def quiet_console(arguments: list[str]) -> None:
    """Entry-point call, before Hydra and the libraries load: decided by `--verbose` / `verbose=true`."""
    apply_console_settings(verbose_requested(arguments))


class ConsoleFormatter(logging.Formatter):
    """Console lines of the job log: our INFO messages as they are, warnings and errors with their level."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {message}"
        return message


class NotFileOnly(logging.Filter):
    """Keeps records logged with `extra={"file_only": True}` (already printed once) out of the console."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)
