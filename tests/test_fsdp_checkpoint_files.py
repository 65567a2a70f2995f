"""Sharded checkpoints are directories (`trainer=fsdp`, `state_dict_type: sharded`): resuming, reading the log
step, promoting a step checkpoint and dropping one must treat them like files, and a directory is swapped in
without a moment where `last.ckpt` is half written.

The directories are laid out as Lightning's FSDP sharded save writes them (pytorch_lightning/strategies/fsdp.py:
a torch.distributed.checkpoint save of {"model", "optimizer_0"}, written here by torch.distributed.checkpoint
itself in one process, then `meta.pt` with the rest). `FakeTrainer` stands in for a multi-process Trainer where
LastCheckpoint's hooks are driven one by one; tests/test_fsdp_resume.py runs the real thing on two processes.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch
import torch.distributed.checkpoint as dcp
from conftest import compose_config
from pytorch_lightning.trainer.states import TrainerFn

from taskexpert.training.checkpoint_files import is_checkpoint, replace_checkpoint, resumable_checkpoint
from taskexpert.training.last_checkpoint import LastCheckpoint
from taskexpert.training.pipeline import _resume_path
from taskexpert.training.resume import checkpoint_log_step


def write_sharded_checkpoint(path: Path, step: int) -> None:
    """What Lightning's FSDPStrategy.save_checkpoint leaves for `state_dict_type="sharded"`."""
    path.mkdir(parents=True, exist_ok=True)
    dcp.save({"model": {"weight": torch.full((4,), float(step))}, "optimizer_0": {}}, checkpoint_id=path)
    loops = {"fit_loop": {"epoch_loop.state_dict": {"_batches_that_stepped": step}}}
    torch.save({"global_step": step, "loops": loops}, path / "meta.pt")


def saved_step(path: Path) -> int:
    return torch.load(path / "meta.pt", weights_only=True)["global_step"]


class FakeTrainer:
    """The parts of a Trainer LastCheckpoint uses; `save_checkpoint` writes a sharded directory."""

    is_global_zero = True
    sanity_checking = False

    def __init__(self) -> None:
        self.global_step = 0
        self.state = SimpleNamespace(fn=TrainerFn.FITTING)
        self.strategy = SimpleNamespace(barrier=lambda name=None: None)

    def save_checkpoint(self, path) -> None:
        write_sharded_checkpoint(Path(path), self.global_step)


def test_a_sharded_last_checkpoint_is_resumed_from_and_its_log_step_read(tmp_path):
    last = tmp_path / "checkpoints" / "last.ckpt"
    write_sharded_checkpoint(last, step=6)
    cfg = compose_config(["model=tiny_llama", "trainer=fast"], tmp_path)
    assert _resume_path(cfg, tmp_path) == str(last)
    assert checkpoint_log_step(last) == 6


def test_a_swap_interrupted_between_its_renames_resumes_from_the_previous_checkpoint(tmp_path):
    last = tmp_path / "checkpoints" / "last.ckpt"
    write_sharded_checkpoint(
        last.with_name("last.ckpt.old"), step=4
    )  # last.ckpt moved aside, the new one not in
    cfg = compose_config(["model=tiny_llama", "trainer=fast"], tmp_path)
    assert _resume_path(cfg, tmp_path) == str(last.with_name("last.ckpt.old"))


def test_a_directory_without_its_metadata_is_no_checkpoint(tmp_path):
    partial = tmp_path / "last.ckpt"
    write_sharded_checkpoint(partial, step=2)
    (partial / "meta.pt").unlink()  # killed before Lightning wrote meta.pt, which comes last
    assert not is_checkpoint(partial)
    assert resumable_checkpoint(partial) is None


def test_replacing_a_directory_checkpoint_leaves_only_the_new_one(tmp_path):
    old, new = tmp_path / "last.ckpt", tmp_path / "last.ckpt.next"
    write_sharded_checkpoint(old, step=2)
    write_sharded_checkpoint(new, step=4)
    replace_checkpoint(new, old)
    assert saved_step(old) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_step_checkpoints_are_promoted_and_dropped_as_directories(tmp_path):
    callback = LastCheckpoint(tmp_path, every_n_train_steps=2)
    trainer = FakeTrainer()
    trainer.global_step = 2
    callback.on_train_batch_end(trainer, None, None, None, 1)
    assert saved_step(tmp_path / "last.ckpt.next") == 2
    callback.on_train_batch_start(trainer, None, None, 2)  # the next step starts: step 2 becomes last.ckpt
    assert saved_step(tmp_path / "last.ckpt") == 2
    assert not (tmp_path / "last.ckpt.next").exists()

    trainer.global_step = 4
    callback.on_train_batch_end(trainer, None, None, None, 3)
    trainer.global_step = 4
    callback.on_validation_end(
        trainer, None
    )  # a validation comes first: step 4's is dropped, last.ckpt rewritten
    assert saved_step(tmp_path / "last.ckpt") == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_a_step_checkpoint_a_killed_run_left_is_not_promoted(tmp_path):
    """It may be half written (the kill can land during its save); the resumed run writes its own."""
    write_sharded_checkpoint(tmp_path / "last.ckpt", step=2)
    stale = tmp_path / "last.ckpt.next"
    stale.write_bytes(b"a file a killed save left")
    callback = LastCheckpoint(tmp_path, every_n_train_steps=2)
    callback.on_train_batch_start(FakeTrainer(), None, None, 0)
    assert saved_step(tmp_path / "last.ckpt") == 2
