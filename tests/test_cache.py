"""The SQLite teacher cache: keys, durability across processes, first writer wins, and what it refuses."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from taskexpert.errors import ConfigError
from taskexpert.teachers.backends.base import Backend, BackendResult
from taskexpert.teachers.cache import ResponseCache, request_key
from taskexpert.teachers.sampling import Sampling
from taskexpert.teachers.teacher import Teacher
from taskexpert.teachers.types import TeacherRequest


class CountingBackend(Backend):
    """A backend that echoes and counts calls; the real backends are tested against real servers and models."""

    kind = "counting"

    def __init__(self, fail_on: str | None = None) -> None:
        super().__init__(model="echo-model")
        self.calls: list[str] = []
        self.fail_on = fail_on

    def call_params(self, sampling, sample_index):
        return {"temperature": sampling.temperature, "seed": sampling.sample_seed(sample_index)}

    def run(self, calls):
        for call in calls:
            self.calls.append(call.key)
            user = call.messages[0][1]
            if self.fail_on and self.fail_on in user:
                yield BackendResult(call.key, None, error="http_500", detail="injected")
            else:
                yield BackendResult(call.key, f"answer to {user} #{call.params['seed']}")


def request(text: str, sample: int = 0, **sampling) -> TeacherRequest:
    return TeacherRequest.chat([{"role": "user", "content": text}], sample_index=sample, **sampling)


def test_key_depends_on_model_params_messages_and_sample():
    base = {
        "backend": "b",
        "model": "m",
        "params": {"t": 0.8},
        "messages": [["user", "x"]],
        "sample_index": 0,
    }
    variants = [
        {**base, "model": "m2"},
        {**base, "params": {"t": 0.7}},
        {**base, "messages": [["user", "y"]]},
        {**base, "sample_index": 1},
    ]
    keys = {request_key(identity) for identity in [base, *variants]}
    assert len(keys) == 5
    assert request_key(dict(reversed(list(base.items())))) == request_key(base)  # order-independent


def test_teacher_answers_from_the_cache_the_second_time(tmp_path):
    path = tmp_path / "cache.sqlite"
    backend = CountingBackend()
    teacher = Teacher(backend, ResponseCache(path), Sampling(seed=3))
    requests = [
        request("a"),
        request("b"),
        request("a", sample=1),
        request("a"),
    ]  # the last repeats the first
    first = teacher.generate(requests)
    assert [r.text for r in first] == ["answer to a #3", "answer to b #3", "answer to a #4", "answer to a #3"]
    assert len(backend.calls) == 3  # the repeated request within the batch is made once
    again = Teacher(CountingBackend(), ResponseCache(path), Sampling(seed=3))
    second = again.generate(requests)
    assert [r.text for r in second] == [r.text for r in first]
    assert all(r.cached for r in second) and again.backend.calls == []
    assert again.stats.cache_hits == 4 and again.stats.calls == 0


def test_failures_are_reported_and_not_cached(tmp_path):
    path = tmp_path / "cache.sqlite"
    teacher = Teacher(CountingBackend(fail_on="bad"), ResponseCache(path), Sampling())
    responses = teacher.generate([request("good"), request("bad")])
    assert responses[0].ok and not responses[1].ok and responses[1].error == "http_500"
    assert teacher.stats.failed == 1 and teacher.stats.failures[0]["reason"] == "http_500"
    assert len(ResponseCache(path)) == 1
    retry = Teacher(CountingBackend(), ResponseCache(path), Sampling())
    assert [r.ok for r in retry.generate([request("good"), request("bad")])] == [True, True]
    assert len(retry.backend.calls) == 1  # only the failed one is asked again


def test_prefill_is_kept_or_dropped_by_the_backend_choice(tmp_path):
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": '{"a": "'}]
    prefilling = CountingBackend()
    teacher = Teacher(prefilling, ResponseCache(tmp_path / "c.sqlite"), Sampling())
    assert teacher.generate([TeacherRequest.chat(messages)])[0].text.startswith('{"a": "answer')
    plain = CountingBackend()
    plain.prefill = False
    teacher = Teacher(plain, ResponseCache(tmp_path / "d.sqlite"), Sampling())
    assert teacher.generate([TeacherRequest.chat(messages)])[0].text.startswith("answer")


def test_the_first_writer_wins_and_entries_survive_reopening(tmp_path):
    path = tmp_path / "cache.sqlite"
    with ResponseCache(path) as cache:
        assert cache.put("k", "m", {"x": 1}, "first", 0.5) == "first"
        assert cache.put("k", "m", {"x": 1}, "second", 0.5) == "first"
    with ResponseCache(path) as cache:
        assert cache.get("k").text == "first" and len(cache) == 1
        assert cache.get("missing") is None
    journal = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"


def _write_many(path: str, worker: int) -> None:
    with ResponseCache(path) as cache:
        for index in range(40):
            cache.put(f"{worker}-{index}", "m", {}, f"text {worker} {index}", 0.0)
            cache.put("shared", "m", {}, f"from {worker}", 0.0)


def test_several_processes_share_one_cache(tmp_path):
    path = str(tmp_path / "cache.sqlite")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(path, worker)) for worker in range(3)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    with ResponseCache(path) as cache:
        assert len(cache) == 3 * 40 + 1
        assert cache.get("shared").text in {"from 0", "from 1", "from 2"}


def test_a_file_that_is_not_a_cache_is_refused_with_its_path(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("these are notes, not a database " * 20)
    with pytest.raises(ConfigError, match="notes.sqlite: cannot open the teacher cache"):
        ResponseCache(path)
