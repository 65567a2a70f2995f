"""LLM2LLM's ledger per round: each llm2llm_history.json entry and augment_stats.json's `rounds` hold that round's
paid prompt/completion tokens and cost, and the tokens of answers the cache gave, apart."""

from __future__ import annotations

import json

import pytest
from augment_regression import answer_with_rationale, method_config
from servers.fault_server import FaultServer, usage

from taskexpert.augment.pipeline import augment

PRICING = "+teacher.pricing={fault-model:{input:2.0,output:8.0}}"  # USD per million tokens
SEED = 42  # augment.yaml's seed: round k's sample index is k - 1 (n_per_wrong=1), its request seed 42 + k - 1


def server_tokens_by_round(server: FaultServer) -> dict[int, tuple[int, int]]:
    """(prompt, completion) tokens the server reported, by the round that asked (told by the request's seed)."""
    rounds: dict[int, tuple[int, int]] = {}
    for entry in server.requests:
        body = entry["body"]
        counts = usage(body, server.answer(body))
        prompt, completion = rounds.get(body["seed"] - SEED + 1, (0, 0))
        rounds[body["seed"] - SEED + 1] = (
            prompt + counts["prompt_tokens"],
            completion + counts["completion_tokens"],
        )
    return rounds


def test_each_round_has_its_tokens_and_cost_and_a_cached_rerun_pays_nothing(tmp_path):
    with FaultServer(answer=answer_with_rationale, lifetime=600) as server:
        stats = augment(method_config("llm2llm", server.base_url, tmp_path, PRICING))
        reported = server_tokens_by_round(server)
        history = json.loads((tmp_path / "llm2llm" / "llm2llm_history.json").read_text())["iterations"]

        # a new run directory, the same cache: every answer is cached
        same_cache = f"cache.path={tmp_path / 'cache.sqlite'}"
        rerun = augment(method_config("llm2llm", server.base_url, tmp_path / "rerun", PRICING, same_cache))
        assert len(server.requests) == stats["teacher_totals"]["calls"]  # the rerun sent nothing

    assert [entry["iteration"] for entry in stats["rounds"]] == [1, 2]
    for entry, written in zip(stats["rounds"], history, strict=True):
        prompt, completion = reported.get(entry["iteration"], (0, 0))
        assert (entry["prompt_tokens"], entry["completion_tokens"]) == (prompt, completion)
        assert entry["cost_usd"] == pytest.approx((prompt * 2.0 + completion * 8.0) / 1e6, abs=1e-6)
        assert entry["cached_prompt_tokens"] == entry["cached_completion_tokens"] == 0
        assert {key: written[key] for key in entry} == entry  # the history entry holds the same
    assert (
        sum(entry["prompt_tokens"] for entry in stats["rounds"])
        == stats["teacher_totals"]["prompt_tokens"]
        > 0
    )
    assert (
        sum(entry["completion_tokens"] for entry in stats["rounds"])
        == stats["teacher_totals"]["completion_tokens"]
    )
    total_cost = sum(entry["cost_usd"] for entry in stats["rounds"])
    assert total_cost == pytest.approx(stats["teacher_totals"]["cost_usd"], abs=1e-5)

    for first, cached in zip(stats["rounds"], rerun["rounds"], strict=True):  # free: the cache's tokens apart
        assert cached["requested"] == cached["cache_hits"] == first["requested"]
        assert cached["prompt_tokens"] == cached["completion_tokens"] == 0 and cached["cost_usd"] == 0.0
        assert cached["cached_prompt_tokens"] == first["prompt_tokens"]
        assert cached["cached_completion_tokens"] == first["completion_tokens"]
