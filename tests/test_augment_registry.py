"""Augmentation methods are registered classes over one runner: every built-in method leaves exactly what it
left before the registry, and a new method is one class and a config, with no other change."""

from __future__ import annotations

import json
import textwrap

import pytest
from augment_regression import METHOD_OVERRIDES, answer_with_rationale, method_config, run_fixed
from servers.augment_setup import (
    compose_augment_config,
    data_overrides,
    fault_teacher_overrides,
    write_seed_file,
)
from servers.fault_server import FaultServer

from taskexpert.augment.jobs import rewrite_jobs
from taskexpert.augment.method import AugmentationMethod, RunContext
from taskexpert.augment.pipeline import augment
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.augment.registry import METHODS, method_class, register_method
from taskexpert.data.split_meta import read_split_meta
from taskexpert.errors import ConfigError
from taskexpert.records import read_jsonl

# Produced by the code before the method registry (its own `run_*` per method), from the same runs:
#   cd <checkout at that commit> && PYTHONPATH=src:tests python tests/augment_regression.py
# (tests/augment_regression.py as committed here, run against that commit's src/ and conf/; two runs agreed).
OLD_FINGERPRINTS = {
    "rewrite": {
        "sha256": "e19be8c31265887285f63481bd00104a864d19d9c32cf2b6e09e731cfb7f2f6c",
        "rejected_sha256": "3f22b58585849bc1edf7825ea5d2e4b2636b6e99517a09e5b6f69ec791d9cf08",
        "kept": 10,
        "requested": 12,
        "rejected": {"empty_field:question": 2},
    },
    "new": {
        "sha256": "d81753e25986e5936af2a73d63146446ff58e734f414a0147b899d7444729ee9",
        "rejected_sha256": "cc1bb3fdbbbcb60f73cca7e201c8a24fca2a0e1c63770d4ed6e9e709a99731e0",
        "kept": 10,
        "requested": 12,
        "rejected": {"empty_field:question": 2},
    },
    "combined": {
        "sha256": "d5063f6c5249ff85bb6ff350c1963deff97249827f0c7d7eef1eb40a93d20e79",
        "rejected_sha256": "cc6fd2bdebc94c7193ebf697217a33146364fbea216cff0430c0bff3452aabac",
        "kept": 10,
        "requested": 12,
        "rejected": {"empty_field:question": 2},
    },
    "rebase": {
        "sha256": "a0adade941c79ee826b27281a74b4db8167f359abc6d9476c23c146a98766aa4",
        "rejected_sha256": "db8817644e570bbd52b8ae2275d80a4554cee3f1db59e392dedc950837773a5b",
        "kept": 4,
        "requested": 5,
        "rejected": {"empty_field:question": 1},
    },
    "rewrite_local": {  # the tiny local teacher under its grammar
        "sha256": "ba3f0f7a407ada87d71a06e4d6dec142a36dd28570c7da2cd0bb7f318da9d611",
        "rejected_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "kept": 3,
        "requested": 3,
        "rejected": {},
    },
    "llm2llm": {  # two rounds of a one-step tiny student
        "sha256": "9a70fc468c9e683d1690796b8b557d81d413fcaab33536e4d29b0c3d2b4153c8",
        "rejected_sha256": "36a7d2a2ecaf92e0219963d5d09563272781f4954dde15c5834b73f5009ec24c",
        "kept": 6,
        "requested": 8,
        "rejected": {"empty_field:question": 2},
    },
}


@pytest.mark.parametrize("method", list(METHOD_OVERRIDES))
def test_each_method_leaves_the_records_and_counts_it_left_before_the_registry(tmp_path, method):
    fingerprint, stats, received = run_fixed(method, tmp_path)
    assert fingerprint == OLD_FINGERPRINTS[method]
    if not method.endswith("_local"):  # each paid call reached the server once
        assert received == stats["teacher_totals"]["calls"] == stats["requested"]


def test_the_built_in_methods_are_registered_under_their_config_names():
    for name in ("rewrite", "new", "combined", "rebase", "llm2llm"):
        assert method_class(name).__module__.startswith("taskexpert.augment.")
    with pytest.raises(
        ConfigError, match=r"method.name='nope' is unknown: use one of .*combined.*llm2llm.*rebase"
    ):
        method_class("nope")


def test_a_name_taken_by_another_method_is_refused():
    with pytest.raises(ValueError, match="'rewrite' is taken by taskexpert.augment.drllama.DrLlama"):

        @register_method("rewrite")
        class Impostor(AugmentationMethod):  # noqa: F841 - registering it is the test
            pass


@register_method()
class Paraphrase(AugmentationMethod):
    """Reword every seed's main field `method.samples` times: the "add a method" example."""

    name = "paraphrase"

    def jobs(self, context: RunContext):
        template = PromptTemplate.load(self.settings.prompt, context.prompts_dir)
        return rewrite_jobs(context.task, context.seeds, template, n_per_seed=int(self.settings.samples))


def paraphrase_overrides(base_url: str, tmp_path, *method: str) -> list[str]:
    """A method config from overrides alone: the default method block is dropped, the new one added."""
    seeds = write_seed_file(tmp_path, 10)
    return [
        "~method",
        *method,
        *fault_teacher_overrides(base_url, tmp_path),
        *data_overrides(seeds, train=6, val=2, test=2),
    ]


def test_a_method_registered_here_runs_through_the_runner_with_no_other_change(tmp_path):
    overrides = ["+method.name=paraphrase", "+method.prompt=prompts/rewrite.txt", "+method.samples=2"]
    with FaultServer(answer=answer_with_rationale) as server:
        cfg = compose_augment_config(
            paraphrase_overrides(server.base_url, tmp_path, *overrides), tmp_path / "run"
        )
        stats = augment(cfg)
        received = len(server.requests)

    assert METHODS["paraphrase"] is Paraphrase
    assert stats["method"] == "paraphrase" and stats["seeds"] == 6
    assert stats["requested"] == received == 12  # 6 seeds x 2 samples, each asked once
    assert stats["kept"] + stats["rejected_total"] == 12
    records = read_jsonl(tmp_path / "run" / "augmented.jsonl")
    assert len(records) == stats["kept"] and {record.source for record in records} == {"rewrite"}
    written = json.loads((tmp_path / "run" / "augment_stats.json").read_text())
    assert written["teacher_totals"]["calls"] == 12 and "diversity" in written  # the runner's parts
    assert read_split_meta(tmp_path / "run" / "augmented.jsonl")["records"] == stats["kept"]  # guard record


def test_a_method_outside_the_package_is_found_by_its_module(tmp_path, monkeypatch):
    (tmp_path / "my_methods.py").write_text(
        textwrap.dedent(
            """
            from taskexpert.augment.jobs import rewrite_jobs
            from taskexpert.augment.method import AugmentationMethod
            from taskexpert.augment.prompts import PromptTemplate
            from taskexpert.augment.registry import register_method


            @register_method()
            class Reword(AugmentationMethod):
                name = "reword"

                def jobs(self, context):
                    template = PromptTemplate.load(self.settings.prompt, context.prompts_dir)
                    return rewrite_jobs(context.task, context.seeds[:2], template)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    overrides = ["+method.name=reword", "+method.module=my_methods", "+method.prompt=prompts/rewrite.txt"]
    with FaultServer(answer=answer_with_rationale) as server:
        cfg = compose_augment_config(
            paraphrase_overrides(server.base_url, tmp_path, *overrides), tmp_path / "run"
        )
        stats = augment(cfg)
    assert stats["method"] == "reword" and stats["requested"] == 2
    METHODS.pop("reword")


def test_a_method_module_that_does_not_import_is_one_clear_line(tmp_path):
    cfg = method_config("rewrite", "http://127.0.0.1:9/v1", tmp_path, "method.module=no_such_module_here")
    with pytest.raises(ConfigError, match=r"method.module='no_such_module_here' cannot be imported"):
        augment(cfg)
