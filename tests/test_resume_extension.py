"""Extending a finished run (the same run directory, a larger `trainer.max_steps`) either gives exactly the run
that was asked for from the start, or stops with one line saying why it cannot."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_config
from safetensors.torch import load_file

from taskexpert.errors import ConfigError
from taskexpert.training.pipeline import train

# 36 training records in batches of 4: 9 steps an epoch, so 10 steps end mid-epoch (where the order matters)
ARGS = ["model=tiny_llama", "trainer=fast", "logger=csv", "trainer.max_epochs=100"]
CONSTANT_RATE = ["optimizer.scheduler=constant", "optimizer.warmup_ratio=0"]


def adapter(run_dir) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "adapter" / "adapter_model.safetensors")


def test_an_extended_run_is_the_longer_run_to_the_bit(tmp_path):
    """With a rate that does not depend on the run's length, 10 steps and then 20 in the same directory equal 20
    straight: the checkpoint taken when the 10 steps end continues the epoch's order where it stopped."""
    args = [*ARGS, *CONSTANT_RATE]
    train(compose_config([*args, "trainer.max_steps=10"], tmp_path / "extended"))
    extended = train(compose_config([*args, "trainer.max_steps=20"], tmp_path / "extended"))
    straight = train(compose_config([*args, "trainer.max_steps=20"], tmp_path / "straight"))
    assert extended["global_step"] == straight["global_step"] == 20
    ours, theirs = adapter(tmp_path / "extended"), adapter(tmp_path / "straight")
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name
    assert extended == straight  # the same best checkpoint, so the same scores
    last_weights = [
        torch.load(d / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
        for d in (tmp_path / "extended", tmp_path / "straight")
    ]
    assert all(torch.equal(last_weights[0][name], last_weights[1][name]) for name in last_weights[1])


def test_extending_a_run_whose_schedule_depends_on_its_length_stops_with_the_reason(tmp_path):
    """The default schedule (10% warmup, linear decay to zero at the last step) gives a 20-step run other rates
    from the first step on: no continuation of the 10-step run can be the 20-step run."""
    run_dir = tmp_path / "run"
    train(compose_config([*ARGS, "trainer.max_steps=10"], run_dir))
    before = adapter(run_dir)
    with pytest.raises(
        ConfigError, match=r"last\.ckpt trained its 10 steps with a schedule over 10 steps.*20"
    ):
        train(compose_config([*ARGS, "trainer.max_steps=20"], run_dir))
    after = adapter(run_dir)
    assert all(torch.equal(before[name], after[name]) for name in before), (
        "the finished run is left as it was"
    )


def test_resuming_with_the_same_schedule_is_not_refused(tmp_path):
    """A finished run started again with its own config resumes at its end and trains nothing more."""
    run_dir = tmp_path / "run"
    train(compose_config([*ARGS, "trainer.max_steps=4"], run_dir))
    again = train(compose_config([*ARGS, "trainer.max_steps=4"], run_dir))
    assert again["global_step"] == 4
