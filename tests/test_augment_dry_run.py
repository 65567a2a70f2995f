"""`augment.py ... dry_run=true`: the estimate of calls, tokens and cost, with nothing sent to the teacher and
no teacher model loaded; its call count is what the real run then makes."""

from __future__ import annotations

import json

import pytest
from augment_regression import answer_with_rationale, method_config
from servers.fault_server import FaultServer

from taskexpert.augment.cli import run_augmentation
from taskexpert.augment.dry_run import BYTES_PER_TOKEN, DRY_RUN_FILE
from taskexpert.augment.pipeline import augment
from taskexpert.teachers.backends.local_transformers import TransformersBackend

PRICING = "+teacher.pricing={fault-model:{input:2.0,output:8.0}}"  # USD per million tokens


def dry_run(method: str, base_url: str, tmp_path, *extra: str) -> dict:
    return augment(method_config(method, base_url, tmp_path, "dry_run=true", *extra))


@pytest.mark.parametrize("method", ["rewrite", "combined", "rebase"])
def test_the_estimate_sends_nothing_and_counts_the_calls_the_run_then_makes(tmp_path, method):
    with FaultServer(answer=answer_with_rationale) as server:
        estimate = dry_run(method, server.base_url, tmp_path, PRICING)
        assert server.requests == []  # nothing reached the teacher
        assert not (tmp_path / method / "augmented.jsonl").exists()
        written = json.loads((tmp_path / method / DRY_RUN_FILE).read_text())
        assert written == estimate

        stats = augment(method_config(method, server.base_url, tmp_path, PRICING))
        assert estimate["requests"] == stats["requested"]
        assert estimate["calls"] == stats["teacher_totals"]["calls"] == len(server.requests)

        again = dry_run(method, server.base_url, tmp_path)  # the same jobs, now answered by the cache
        assert len(server.requests) == estimate["calls"]
    assert estimate["exact"] is True and estimate["cache_hits"] == 0
    assert again["cache_hits"] == estimate["requests"] and again["calls"] == 0
    assert again["prompt_tokens"] == 0 and again["completion_tokens_max"] == 0
    assert again["cached_prompt_tokens"] == stats["teacher_totals"]["prompt_tokens"]  # the server's counts


def test_the_cost_is_priced_from_the_teacher_pricing_table(tmp_path):
    estimate = dry_run(
        "rewrite", "http://127.0.0.1:9/v1", tmp_path, PRICING, "method.rewrite.max_new_tokens=100"
    )
    assert estimate["pricing"] == {"input": 2.0, "output": 8.0}
    assert estimate["completion_tokens_max"] == 12 * 100  # an upper bound: max_new_tokens a call
    expected = (estimate["prompt_tokens"] * 2.0 + 12 * 100 * 8.0) / 1_000_000
    assert estimate["cost_usd_max"] == pytest.approx(expected, abs=1e-6)
    # a server teacher has no tokenizer here: UTF-8 bytes / 4, the bytes given as the bound
    assert estimate["prompt_tokens_counted_with"].startswith("UTF-8 bytes / 4")
    assert estimate["prompt_tokens_bound"] / BYTES_PER_TOKEN <= estimate["prompt_tokens"]
    assert estimate["prompt_tokens"] < estimate["prompt_tokens_bound"]
    unpriced = dry_run("rewrite", "http://127.0.0.1:9/v1", tmp_path / "unpriced")
    assert unpriced["pricing"] is None and unpriced["cost_usd_max"] is None


def test_a_local_teacher_is_counted_with_its_tokenizer_and_its_model_never_loads(tmp_path, monkeypatch):
    def refuse(self):
        raise AssertionError("the dry run loaded the teacher's model")

    monkeypatch.setattr(TransformersBackend, "_load", refuse)
    estimate = dry_run("rewrite_local", "unused", tmp_path)
    assert estimate["teacher"] == {"model": "tiny-llama", "backend": "transformers"}
    assert estimate["requests"] == estimate["calls"] == 3
    assert estimate["prompt_tokens_counted_with"].startswith("the teacher's tokenizer (tiny-llama)")
    assert estimate["prompt_tokens_bound"] is None and estimate["prompt_tokens"] > 0


def test_llm2llm_states_its_bound_and_trains_nothing(tmp_path):
    with FaultServer(answer=answer_with_rationale) as server:
        estimate = dry_run("llm2llm", server.base_url, tmp_path, "method.n_per_wrong=2")
        assert server.requests == []
    assert estimate["exact"] is False and estimate["cache_hits"] is None
    assert estimate["requests"] == estimate["calls"] == 2 * 6 * 2  # iterations x seeds x n_per_wrong
    assert "at most iterations x seeds x n_per_wrong = 2 x 6 x 2" in estimate["notes"][0]
    assert not (tmp_path / "llm2llm" / "iter_1").exists()  # no student trained


def test_the_entry_point_exits_0_after_the_estimate(tmp_path):
    cfg = method_config("new", "http://127.0.0.1:9/v1", tmp_path, "dry_run=true")
    assert run_augmentation(cfg) == 0.0
    assert (tmp_path / "new" / DRY_RUN_FILE).is_file()
