"""conf/augment.yaml and its teacher/method options: they compose, build, document every key, fail clearly."""

from __future__ import annotations

import re

import pytest
from conftest import CONF_DIR
from omegaconf import OmegaConf
from servers.augment_setup import compose_augment_config, data_overrides, write_seed_file

from taskexpert.augment.cli import run_augmentation
from taskexpert.augment.pipeline import build_jobs
from taskexpert.data.loading import load_splits
from taskexpert.teachers.backends.base import Backend
from taskexpert.teachers.factory import build_backend
from taskexpert.teachers.sampling import Sampling

TEACHERS = sorted(path.stem for path in (CONF_DIR / "teacher").glob("*.yaml"))
METHODS = sorted(path.stem for path in (CONF_DIR / "method").glob("*.yaml"))
NEEDS_MODEL = {"hf": ["teacher.model=some-org/some-model"], "vllm": ["teacher.model=some-org/some-model"]}
OWN_YAML = [
    CONF_DIR / "augment.yaml",
    *(CONF_DIR / "teacher").glob("*.yaml"),
    *(CONF_DIR / "method").glob("*.yaml"),
]


def test_the_options_are_the_documented_ones():
    assert TEACHERS == ["hf", "openai", "smollm2", "vllm"]
    assert METHODS == ["combined", "llm2llm", "new", "rebase", "rewrite"]


@pytest.mark.parametrize("teacher", TEACHERS)
@pytest.mark.parametrize("method", METHODS)
def test_every_teacher_and_method_composes_and_resolves(teacher, method, tmp_path):
    cfg = compose_augment_config(
        [f"teacher={teacher}", f"method={method}", *NEEDS_MODEL.get(teacher, [])], tmp_path
    )
    assert cfg.hydra.runtime.choices.teacher == teacher and cfg.method.name == method
    job_config = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    OmegaConf.to_container(job_config, resolve=True)
    assert str(cfg.hydra.run.dir).endswith(f"_{method}_{teacher}")


@pytest.mark.parametrize("teacher", TEACHERS)
def test_every_teacher_builds_its_backend_without_loading_anything(teacher, tmp_path):
    cfg = compose_augment_config([f"teacher={teacher}", *NEEDS_MODEL.get(teacher, [])], tmp_path)
    backend = build_backend(cfg.teacher)
    assert isinstance(backend, Backend) and backend.model
    assert backend.call_params(Sampling(), 0)


@pytest.mark.parametrize("path", OWN_YAML, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_key_has_a_comment(path):
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if re.match(r"^\s*[\w.]+:", line) and not line.lstrip().startswith("#"):
            assert "#" in line, f"{path.name}:{number} has no comment: {line.strip()}"


def test_combined_runs_both_methods_on_the_same_seeds(tmp_path):
    seeds = write_seed_file(tmp_path, 12)
    cfg = compose_augment_config(["method=combined", "method.max_seeds=3", *data_overrides(seeds)], tmp_path)
    splits = load_splits(cfg.data)
    jobs = build_jobs(cfg, splits.train[:3], splits.train)
    assert [job.source for job in jobs] == ["rewrite"] * 3 + ["new"] * 3
    assert {job.parent.id for job in jobs} == {"s00", "s01", "s02"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("method.rewrite.fields=[label]", "method.rewrite.fields has 'label'"),
        ("method.rewrite.prompt=prompts/missing.txt", "prompts/missing.txt not found"),
        ("method.max_seeds=0", "method.max_seeds=0 must be >= 1"),
        ("teacher.repetition_penalty_mode=drop", "repetition_penalty_mode='drop' is unknown"),
        ("sampling.temperature=-1", "sampling.temperature=-1 must be >= 0"),
    ],
)
def test_bad_settings_stop_with_one_clear_line(override, message, tmp_path, capsys):
    seeds = write_seed_file(tmp_path, 12)
    teacher = (
        ["teacher=openai", "teacher.api_key_env=null"]
        if "repetition" in override or "sampling" in override
        else []
    )
    cfg = compose_augment_config([*teacher, override, *data_overrides(seeds)], tmp_path / "run")
    with pytest.raises(SystemExit) as exit_info:
        run_augmentation(cfg)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run" / "augmented.jsonl").exists()
