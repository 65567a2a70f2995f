"""Shared fixtures: compose the real Hydra configs and shrink them for CPU tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The tests' tiny models run faster on one thread than on two, which mostly wait on each other
# (measured: the agreement test 26 s vs 51 s); subprocesses (train.py -m, augment.py) inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

FAST = ["trainer=fast", "logger=csv", "checkpoint.enabled=false"]

# `make test` runs the suite in two worker processes (pytest-xdist, --dist loadgroup). Tests that share a
# machine-wide service run in one worker, one after the other: both SLURM modules start the one-node cluster
# (its daemons and munge are the machine's).
# The prepared-model cache ($TASKEXPERT_CACHE, ~/.cache/taskexpert) stays shared: its builds are renamed into
# place, made for concurrent jobs; servers (PostgreSQL, ours, `transformers serve`) bind free ports.
SHARED_SERVICE_GROUPS = {"test_slurm.py": "slurm_cluster", "test_resume_slurm.py": "slurm_cluster"}


def compose_config(
    overrides: list[str], run_dir: Path | None = None, config_name: str = "train"
) -> DictConfig:
    """The config `python train.py OVERRIDES` (or `augment.py`, with config_name="augment") would run,
    with Hydra's runtime fields set."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    if run_dir is not None:
        with open_dict(cfg):
            cfg.paths.run_dir = str(run_dir)
    return cfg


@pytest.fixture
def make_config(tmp_path):
    """Compose a config whose run directory is a fresh temporary directory."""

    def make(*overrides: str, run_dir: Path | None = None) -> DictConfig:
        return compose_config(list(overrides), run_dir or tmp_path / "run")

    return make


def xdist_group_of(item: pytest.Item) -> str | None:
    """The worker group of a test: its shared service's, else its module's if it uses a fixture of module (or
    wider) scope defined there (a server, a trained run, a tokenizer), so that set-up runs once, not per worker."""
    module = item.getparent(pytest.Module)
    if module is None:
        return None
    if module.path.name in SHARED_SERVICE_GROUPS:
        return SHARED_SERVICE_GROUPS[module.path.name]
    fixture_info = getattr(item, "_fixtureinfo", None)
    for definitions in fixture_info.name2fixturedefs.values() if fixture_info else ():
        definition = definitions[-1]
        if definition.scope != "function" and definition.baseid == module.nodeid:
            return module.nodeid
    return None


def tag_with_group(item: pytest.Item, group: str) -> None:
    """Append `@group` to the node id, which is how xdist's loadgroup scheduler tells groups apart. xdist writes
    it to `item._nodeid`, which pytest 9.2 no longer reads (node ids are structured there), so the suffix goes
    into the structured id; older pytest is left to xdist."""
    structured = getattr(item, "_id", None)
    if structured is not None and not item.nodeid.endswith(f"@{group}"):
        item._id = type(structured).parse(f"{item.nodeid}@{group}")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    in_group_worker = bool(getattr(config.option, "loadgroup", False))  # an xdist worker, --dist loadgroup
    for item in items:
        group = xdist_group_of(item)
        if group is None:
            continue
        item.add_marker(pytest.mark.xdist_group(group))
        if in_group_worker:
            tag_with_group(item, group)


@pytest.hookimpl(tryfirst=True)  # before the worker sends its node ids: the scheduler must see every group
def pytest_collection_finish(session: pytest.Session) -> None:
    if not getattr(session.config.option, "loadgroup", False):
        return
    untagged = [item.nodeid for item in session.items if xdist_group_of(item) and "@" not in item.nodeid]
    if untagged:
        message = (
            f"error: --dist loadgroup: {untagged[0]} lost its worker group with this pytest/pytest-xdist pair; "
            "run `make test TEST_WORKERS=0` (one process) until tests/conftest.py's tag_with_group is updated"
        )
        print(message, file=sys.__stderr__, flush=True)  # a worker's own errors do not reach the terminal
        raise pytest.UsageError(message)


@pytest.fixture(scope="session", autouse=True)
def output_root_outside_the_checkout(tmp_path_factory):
    """Runs that name no output root (`paths.output_root`, TASKEXPERT_OUTPUTS) write under a temporary one, not
    the checkout's outputs/, which parallel workers would share (its teacher_cache.sqlite, for one)."""
    if "TASKEXPERT_OUTPUTS" in os.environ:
        yield
        return
    os.environ["TASKEXPERT_OUTPUTS"] = str(tmp_path_factory.mktemp("outputs"))
    yield
    os.environ.pop("TASKEXPERT_OUTPUTS", None)
