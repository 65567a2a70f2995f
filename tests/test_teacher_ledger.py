"""The teacher ledger: every paid answer's prompt and completion tokens kept in the cache (from the server's
`usage`, or counted by the local teacher), priced by `teacher.pricing`, and capped by `teacher.budget`, which
stops a run with its records written and lets a larger budget continue from the cache without paying twice."""

from __future__ import annotations

import json
import sqlite3

import pytest
from servers.augment_setup import (
    compose_augment_config,
    data_overrides,
    fault_teacher_overrides,
    write_seed_file,
)
from servers.fault_server import FaultServer, deterministic_answer, usage

from taskexpert.augment.pipeline import augment
from taskexpert.errors import ConfigError
from taskexpert.teachers import build_teacher
from taskexpert.teachers.cache import ResponseCache
from taskexpert.teachers.types import TeacherRequest

TINY_TEACHER = ["teacher.source=tiny", "teacher.tiny_architecture=llama", "teacher.model=tiny-llama"]
PRICED = "teacher.pricing={fault-model: {input: 2.0, output: 10.0}}"


def ask(text: str) -> TeacherRequest:
    return TeacherRequest.chat([{"role": "user", "content": text}])


def server_usage(server: FaultServer) -> tuple[int, int]:
    """The tokens the server reported over all its answers (each answer is its deterministic one)."""
    counts = [usage(entry["body"], deterministic_answer(entry["body"])) for entry in server.requests]
    return sum(c["prompt_tokens"] for c in counts), sum(c["completion_tokens"] for c in counts)


def test_tokens_reported_by_the_server_are_counted_priced_and_kept_in_the_cache(tmp_path):
    cache = tmp_path / "cache.sqlite"
    with FaultServer() as server:
        cfg = compose_augment_config([*fault_teacher_overrides(server.base_url, tmp_path), PRICED])
        teacher = build_teacher(cfg.teacher, cfg.sampling, cache)
        answers = teacher.generate([ask("About Zorvane"), ask("About Kelmane please")])
        prompt, completion = server_usage(server)
        assert len(server.requests) == 2 and prompt > 0 and completion > 0
        stats = teacher.stats.as_dict()
        assert (stats["prompt_tokens"], stats["completion_tokens"]) == (prompt, completion)
        assert stats["cost_usd"] == pytest.approx((prompt * 2.0 + completion * 10.0) / 1e6)
        assert sum(a.prompt_tokens for a in answers) == prompt
        rows = (
            sqlite3.connect(cache)
            .execute("SELECT prompt_tokens, completion_tokens FROM responses")
            .fetchall()
        )
        assert sorted(rows) == sorted((a.prompt_tokens, a.completion_tokens) for a in answers)
        again = build_teacher(cfg.teacher, cfg.sampling, cache)
        cached = again.generate([ask("About Zorvane"), ask("About Kelmane please")])
    assert all(a.cached for a in cached) and len(server.requests) == 2
    totals = again.stats.as_dict()
    assert totals["prompt_tokens"] == 0 and totals["cost_usd"] == 0.0  # cache hits are free
    assert (totals["cached_prompt_tokens"], totals["cached_completion_tokens"]) == (prompt, completion)


def test_a_model_missing_from_the_pricing_table_is_counted_but_unpriced(tmp_path):
    with FaultServer() as server:
        overrides = [
            *fault_teacher_overrides(server.base_url, tmp_path),
            "teacher.pricing={other: {input: 1, output: 1}}",
        ]
        cfg = compose_augment_config(overrides)
        teacher = build_teacher(cfg.teacher, cfg.sampling, tmp_path / "c.sqlite")
        teacher.generate([ask("About Zorvane")])
    assert teacher.stats.as_dict()["cost_usd"] is None and teacher.stats.prompt_tokens > 0


def test_the_local_teacher_counts_its_tokens_with_its_tokenizer(tmp_path):
    cfg = compose_augment_config(TINY_TEACHER, tmp_path / "run")
    teacher = build_teacher(cfg.teacher, {**dict(cfg.sampling), "max_new_tokens": 5}, tmp_path / "c.sqlite")
    (answer,) = teacher.generate([ask("Say anything")])
    tokenizer = teacher.backend._tokenizer
    assert answer.completion_tokens == 5  # the random model never ends on its own within 5 tokens
    assert answer.prompt_tokens == teacher.stats.prompt_tokens and answer.prompt_tokens >= len(
        tokenizer("Say anything", add_special_tokens=False)["input_ids"]
    )
    row = sqlite3.connect(tmp_path / "c.sqlite").execute("SELECT completion_tokens FROM responses").fetchone()
    assert row == (5,)


def test_a_cache_written_before_token_counts_gains_the_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL, "
        "response TEXT NOT NULL, seconds REAL NOT NULL, created_at REAL NOT NULL, finish_reason TEXT)"
    )
    old.execute("INSERT INTO responses VALUES ('k', 'm', '{}', 'text', 1.0, 0.0, 'stop')")
    old.commit()
    old.close()
    with ResponseCache(path, mode="single") as cache:
        hit = cache.get("k")
        cache.put("k2", "m", {"messages": []}, "new", 0.5, "stop", 7, 3)
        assert (hit.text, hit.prompt_tokens) == ("text", None)
        assert (cache.get("k2").prompt_tokens, cache.get("k2").completion_tokens) == (7, 3)


def test_a_budget_of_calls_stops_the_run_and_a_larger_one_makes_only_the_missing_calls(tmp_path):
    seeds = write_seed_file(tmp_path, 12)
    with FaultServer() as server:
        base = ["method=rewrite", *data_overrides(seeds), *fault_teacher_overrides(server.base_url, tmp_path)]
        stopped = augment(compose_augment_config([*base, "teacher.budget.max_calls=3"], tmp_path / "a"))
        assert len(server.requests) == 3 and stopped["budget_stop"] == "max_calls=3"
        assert stopped["teacher_totals"]["calls"] == 3 and stopped["teacher_totals"]["budget_skipped"] > 0
        written = (tmp_path / "a" / "augmented.jsonl").read_text().splitlines()
        assert (
            0 < len(written) <= 3
            and json.loads((tmp_path / "a" / "augment_stats.json").read_text())["budget_stop"]
            == "max_calls=3"
        )
        resumed = augment(compose_augment_config([*base, "teacher.budget.max_calls=100"], tmp_path / "b"))
        asked = [entry["body"]["messages"][-1]["content"] for entry in server.requests]
    assert resumed["budget_stop"] is None and resumed["teacher_totals"]["cache_hits"] == 3
    assert len(server.requests) == resumed["requested"] and len(set(asked)) == len(
        asked
    )  # nothing asked twice
    assert resumed["kept"] >= len(written)


def test_budget_caps_must_be_known_and_not_negative():
    from taskexpert.teachers.ledger import Budget

    with pytest.raises(ConfigError, match="teacher.budget.max_calls"):
        Budget.from_config({"max_calls": -1})
    with pytest.raises(ConfigError, match="teacher.budget.max_call "):
        Budget.from_config({"max_call": 1})
    assert Budget().room(20, 0, 0, None) == (20, None)
    assert Budget(max_tokens=100).room(20, 0, 50, None) == (8, None)  # checked every group of calls
    assert Budget(max_cost=0.5).room(20, 0, 0, 0.6) == (0, "max_cost=0.5")


def test_a_vllm_output_gives_the_lengths_of_its_token_ids():
    """A namespace stands in for `vllm.RequestOutput` (vLLM needs CUDA, absent here)."""
    from types import SimpleNamespace

    from taskexpert.teachers.backends.vllm_offline import completion_result

    completion = SimpleNamespace(text="yes", finish_reason="stop", token_ids=[5, 6, 2])
    output = SimpleNamespace(prompt_token_ids=list(range(11)), outputs=[completion])
    result = completion_result("k", output, 0.1)
    assert (result.prompt_tokens, result.completion_tokens) == (11, 3)


def test_a_token_cap_is_checked_between_groups_as_large_as_the_backends_concurrency(tmp_path):
    """A token cap sends calls in groups; a group smaller than what the backend runs at once would idle it
    (measured in benchmarks/bench_ledger.py: half the throughput at 16 concurrent calls)."""
    from taskexpert.teachers.backends.openai_compatible import OpenAICompatibleBackend
    from taskexpert.teachers.cache import ResponseCache
    from taskexpert.teachers.ledger import Budget
    from taskexpert.teachers.sampling import Sampling
    from taskexpert.teachers.teacher import Teacher
    from taskexpert.teachers.types import TeacherRequest

    groups: list[int] = []

    class CountingBackend(OpenAICompatibleBackend):
        def run(self, calls):
            groups.append(len(calls))
            yield from super().run(calls)

    requests = [TeacherRequest.chat([("user", f"question {index}")]) for index in range(40)]
    with FaultServer(lifetime=120) as server:
        backend = CountingBackend(
            model="m", base_url=server.base_url, api_key_env=None, max_concurrency=16, timeout=30
        )
        teacher = Teacher(
            backend, ResponseCache(tmp_path / "c.sqlite"), Sampling(), budget=Budget(max_tokens=10**9)
        )
        responses = teacher.generate(requests)
        teacher.cache.close()
    assert all(response.text is not None for response in responses)
    assert groups == [16, 16, 8]
