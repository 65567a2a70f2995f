"""The study's configs and its job hook, in process: a plain run is untouched, a finished study job returns its
stored metrics, a job directory of another config is refused, and an arm's augment.py config carries over the
job's data settings but not what only names the job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CONF_DIR, compose_config

from taskexpert.errors import ConfigError
from taskexpert.study import run_study_job
from taskexpert.study.arm_spec import arm_from_config
from taskexpert.study.augment_config import carried_overrides, method_overrides

ARMS = sorted(path.stem for path in (CONF_DIR / "data_arm").glob("*.yaml"))


class FakeTraining:
    """Stands in for the training pipeline (what the hook does around it is under test, not training)."""

    def __init__(self) -> None:
        self.configs = []

    def __call__(self, cfg):
        self.configs.append(cfg)
        metrics = {"test/macro_f1": 0.5, "val/macro_f1": 0.25}
        run_dir = Path(cfg.paths.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
        return metrics


def test_a_plain_run_trains_exactly_as_before(tmp_path):
    cfg = compose_config([], tmp_path / "run")
    assert cfg.data_arm.name == "none" and cfg.data_arm.methods == [] and cfg.sweep_name is None
    training = FakeTraining()
    run_study_job(cfg, training)
    assert training.configs == [cfg] and training.configs[0] is cfg  # the very config, unchanged
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["metrics.json"]  # no data_arm.json


def test_a_finished_study_job_returns_its_metrics_and_another_config_is_refused(tmp_path):
    run_dir = tmp_path / "job"
    cfg = compose_config(["sweep=augmentation", "data_arm=none", "seed=1"], run_dir)
    training = FakeTraining()
    first = run_study_job(cfg, training)
    record = json.loads((run_dir / "data_arm.json").read_text())
    assert record["arm"] == "none" and record["finished"] and record["records"] == 0
    assert record["teacher"]["answers"] == 0 and record["teacher"]["cost_usd"] == 0.0
    again = run_study_job(
        compose_config(["sweep=augmentation", "data_arm=none", "seed=1"], run_dir), training
    )
    assert again == first and len(training.configs) == 1  # not trained twice
    other = compose_config(["sweep=augmentation", "data_arm=none", "seed=2"], run_dir)
    with pytest.raises(ConfigError, match="holds a job of another config"):
        run_study_job(other, training)


def test_an_interrupted_study_job_trains_again(tmp_path):
    """data_arm.json is written before training with finished=false: a job killed in training has it so."""
    run_dir = tmp_path / "job"
    cfg = compose_config(["sweep=augmentation", "data_arm=none", "seed=1"], run_dir)

    def killed(cfg):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study_job(cfg, killed)
    assert json.loads((run_dir / "data_arm.json").read_text())["finished"] is False
    training = FakeTraining()
    run_study_job(cfg, training)
    assert len(training.configs) == 1


@pytest.mark.parametrize("arm", ARMS)
def test_every_arm_composes_and_is_valid(arm, tmp_path):
    spec = arm_from_config(compose_config(["sweep=augmentation", f"data_arm={arm}"], tmp_path).data_arm)
    assert spec.name == arm.partition("_r")[0] and spec.makes_data == (arm != "none")


def test_the_round_options_share_one_llm2llm_loop_and_differ_in_rounds(tmp_path):
    """data_arm=none,llm2llm_r1,llm2llm_r2 sweeps LLM2LLM's rounds beside the baseline (a sweep of
    data_arm.rounds would cross the baseline with rounds it refuses)."""
    specs = [
        arm_from_config(compose_config(["sweep=augmentation", f"data_arm={arm}"], tmp_path).data_arm)
        for arm in ("llm2llm_r1", "llm2llm_r2", "llm2llm_r3")
    ]
    assert [spec.rounds for spec in specs] == [1, 2, 3]
    assert {spec.data_dir(tmp_path, 42) for spec in specs} == {tmp_path / "llm2llm_a42"}
    assert {spec.methods for spec in specs} == {("llm2llm",)}


def test_the_study_directory_is_stable_and_holds_the_arms(tmp_path):
    cfg = compose_config(["sweep=augmentation", f"paths.output_root={tmp_path}"], tmp_path / "job")
    assert cfg.hydra.sweep.dir == f"{tmp_path}/studies/augmentation_pubmedqa"
    params = cfg.hydra.sweeper.params
    assert params.data_arm == "none,rewrite,new,combined" and params.seed == "1,2,3"
    plain = compose_config([])
    assert plain.augment.dir == f"{plain.paths.output_root}/arms"  # outside a study: under the output root


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"name": "rewrite", "methods": ["rewrite"], "rounds": 2}, "applies to llm2llm arms only"),
        ({"name": "x", "methods": ["rewrite", "llm2llm"], "rounds": 2}, "llm2llm makes an arm by itself"),
        ({"name": "x", "methods": ["llm2llm"], "rounds": 0}, "needs rounds >= 1"),
        ({"name": "x", "methods": ["rewrite", "rewrite"]}, "names a method twice"),
        ({"name": "x", "methods": ["rewrite"], "budget": {"calls": 3}}, "data_arm.budget.calls is unknown"),
        ({"name": "x", "methods": ["rewrite"], "budget": {"max_calls": -1}}, "must be a number >= 0"),
    ],
)
def test_an_arm_that_cannot_work_is_one_line(node, message):
    with pytest.raises(ConfigError, match=message):
        arm_from_config(node)


def test_the_arms_augment_config_carries_the_data_settings_only():
    job = [
        "data_arm=rewrite", "seed=2", "sweep=augmentation", "hydra.sweep.dir=/x", "augment.seed=7",
        "model=tiny_llama", "peft.lora_alpha=64", "trainer=fast", "task=trec", "data=trec_sample",
        "+data.split.seed=3", "paths.output_root=/out", "tags=[a]", "run_id=r", "hydra/launcher=slurm",
    ]  # fmt: skip
    data_only = ["task=trec", "data=trec_sample", "+data.split.seed=3", "paths.output_root=/out"]
    assert carried_overrides(job, "rewrite") == data_only
    assert carried_overrides(job, "llm2llm") == [
        "model=tiny_llama", "peft.lora_alpha=64", "trainer=fast", *data_only,
    ]  # fmt: skip
    overrides = method_overrides(job, "new", 7, ["teacher=openai"], {"max_calls": 5})
    assert overrides == [*data_only, "seed=7", "method=new", "teacher=openai", "teacher.budget.max_calls=5"]
