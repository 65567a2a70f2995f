"""The OpenAI-compatible teacher against our fault-injecting server: every fault is retried or reported,
counted on both sides, and nothing received is lost."""

from __future__ import annotations

import json

import pytest
from servers.augment_setup import compose_augment_config, data_overrides, quiet_overrides, write_seed_file
from servers.fault_server import FaultServer

from taskexpert.augment.pipeline import augment
from taskexpert.teachers.backends.retry import RetryPolicy, retry_after_seconds
from taskexpert.teachers.cache import ResponseCache

KEY_ENV = "TASKEXPERT_TEST_TEACHER_KEY"
FAULT_PLAN = {
    "Zorvane": ["http_500", "ok"],
    "Kelmane": ["http_429", "ok"],
    "Tribane": ["hang", "ok"],
    "Polvane": ["not_json", "missing_choices", "ok"],
    "Quorane": ["http_503", "http_503", "ok"],
    "Siltane": ["missing_fields"],  # answered, but the record lacks fields: rejected, not failed
    "Mendane": ["always_500"],  # keeps failing: reported after its retries
    "Fardane": ["http_400"],  # not retryable: reported at once
}


def openai_overrides(server: FaultServer, **extra: str) -> list[str]:
    settings = {
        "teacher": "openai",
        "teacher.base_url": server.base_url,
        "teacher.model": "fault-model",
        "teacher.api_key_env": KEY_ENV,
        "teacher.timeout": "1",
        "teacher.max_retries": "2",
        "teacher.backoff_base": "0.05",
        "teacher.backoff_max": "0.2",
        "teacher.max_concurrency": "4",
        **extra,
    }
    return [f"{key}={value}" for key, value in settings.items()]


def test_retry_after_and_backoff():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=0) > 1e9
    assert retry_after_seconds({"retry-after": "soon"}) is None and retry_after_seconds(None) is None
    policy = RetryPolicy(backoff_base=1.0, backoff_max=5.0, retry_after_max=30.0)
    assert all(0.5 <= policy.wait(0) <= 1.0 for _ in range(50))
    assert all(2.5 <= policy.wait(5) <= 5.0 for _ in range(50))  # capped
    assert 30.0 <= policy.wait(0, retry_after=600) <= 30.1  # a huge Retry-After is capped, not obeyed blindly


def test_faults_are_retried_counted_and_reported_and_the_run_finishes(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-fault-key")
    seeds = write_seed_file(tmp_path, 12)
    cache = tmp_path / "cache.sqlite"
    overrides = [
        "method=new",
        "method.new.examples_per_prompt=1",  # one marker per prompt, so the plan hits one item
        *data_overrides(seeds),
        *quiet_overrides(cache),
    ]
    with FaultServer(FAULT_PLAN, hang_seconds=2.5) as server:
        cfg = compose_augment_config(openai_overrides(server) + overrides, tmp_path / "run1")
        stats = augment(cfg)
        # client and server agree on every fault
        assert server.actions["http_500"] == 1 + 3  # Zorvane once, Mendane on all 3 attempts
        assert stats["teacher_faults"] == {
            "bad_response": 2,
            "http_400": 1,
            "http_429": 1,
            "http_500": 4,
            "http_503": 2,
            "timeout": 1,
        }
        assert stats["requested"] == 8 and stats["failed"] == 2
        assert sorted(f["reason"] for f in stats["failures"]) == [
            "teacher_failed:http_400",
            "teacher_failed:http_500",
        ]
        assert stats["rejected"] == {"missing_field:context": 1}
        assert stats["kept"] == 5 and stats["generated"] == 6
        # Retry-After: 1 was honoured
        kelmane = [entry["time"] for entry in server.requests if "Kelmane" in json.dumps(entry["body"])]
        assert kelmane[1] - kelmane[0] >= 0.9
        assert {entry["authorization"] for entry in server.requests} == {"Bearer sk-test-fault-key"}

        # the re-run asks only what failed: answered requests come from the cache
        answered_before = len(server.requests)
        rerun = augment(compose_augment_config(openai_overrides(server) + overrides, tmp_path / "run2"))
        asked_again = [entry["body"] for entry in server.requests[answered_before:]]
    markers = {marker for body in asked_again for marker in FAULT_PLAN if marker in json.dumps(body)}
    assert markers == {"Mendane", "Fardane"}
    assert rerun["cache_hits"] == 6 and rerun["failed"] == 1 and rerun["kept"] == 6
    kept_first = (tmp_path / "run1" / "augmented.jsonl").read_text().splitlines()
    kept_again = (tmp_path / "run2" / "augmented.jsonl").read_text().splitlines()
    assert set(kept_first) < set(kept_again)  # nothing lost, the healed request added
    with ResponseCache(cache) as stored:
        assert len(stored) == 7
    rejected = [
        json.loads(line) for line in (tmp_path / "run1" / "augment_rejected.jsonl").read_text().splitlines()
    ]
    assert {item["reason"] for item in rejected} == {
        "teacher_failed:http_500",
        "teacher_failed:http_400",
        "missing_field:context",
    }


def test_a_missing_key_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    seeds = write_seed_file(tmp_path, 12)
    with FaultServer() as server:
        cfg = compose_augment_config(
            openai_overrides(server) + data_overrides(seeds) + quiet_overrides(tmp_path / "c.sqlite"),
            tmp_path / "run",
        )
        with pytest.raises(Exception, match=f"{KEY_ENV}, which is not set"):
            augment(cfg)
        assert server.requests == []
