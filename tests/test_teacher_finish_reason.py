"""Answers cut at the token limit: every backend reports its finish reason, the Teacher counts truncated
answers (also when they come back from the cache), and augmentation rejects a cut answer as `truncated`."""

from __future__ import annotations

import json
import sqlite3
import types

from servers.augment_setup import (
    compose_augment_config,
    data_overrides,
    fault_teacher_overrides,
    write_seed_file,
)
from servers.fault_server import FaultServer

from taskexpert.augment.answer_schema import answer_schema
from taskexpert.augment.pipeline import augment
from taskexpert.teachers import build_teacher
from taskexpert.teachers.backends import vllm_offline
from taskexpert.teachers.backends.base import BackendCall
from taskexpert.teachers.backends.local_transformers import finish_reason
from taskexpert.teachers.backends.vllm_offline import VLLMBackend
from taskexpert.teachers.cache import ResponseCache
from taskexpert.teachers.sampling import Sampling
from taskexpert.teachers.types import TeacherRequest

TINY_TEACHER = ["teacher.source=tiny", "teacher.tiny_architecture=llama", "teacher.model=tiny-llama"]


def ask(text: str) -> TeacherRequest:
    return TeacherRequest.chat([{"role": "user", "content": text}])


def test_an_openai_compatible_answer_cut_at_max_tokens_is_counted_and_cached_as_truncated(tmp_path):
    with FaultServer(plan={"Zorvane": ["length"]}) as server:
        cfg = compose_augment_config(fault_teacher_overrides(server.base_url, tmp_path), tmp_path / "run")
        teacher = build_teacher(cfg.teacher, cfg.sampling, tmp_path / "cache.sqlite")
        first = teacher.generate([ask("About Zorvane"), ask("About Kelmane")])
        assert [r.finish_reason for r in first] == ["length", "stop"] and teacher.stats.truncated == 1
        again = build_teacher(cfg.teacher, cfg.sampling, tmp_path / "cache.sqlite")
        second = again.generate([ask("About Zorvane"), ask("About Kelmane")])
    assert all(r.cached for r in second) and [r.truncated for r in second] == [True, False]
    assert again.stats.as_dict()["truncated"] == 1


def test_augmentation_rejects_cut_answers_as_truncated(tmp_path):
    seeds = write_seed_file(tmp_path, 12)
    with FaultServer(plan={"Zorvane": ["length"], "Kelmane": ["length"]}) as server:
        overrides = [
            "method=rewrite",
            *data_overrides(seeds),
            *fault_teacher_overrides(server.base_url, tmp_path),
        ]
        stats = augment(compose_augment_config(overrides, tmp_path / "run"))
    assert stats["truncated"] == 2 and stats["rejected"].get("truncated") == 2
    assert stats["teacher_totals"]["truncated"] == 2


def test_the_local_teacher_reports_length_for_a_row_that_used_its_whole_budget(tmp_path):
    cfg = compose_augment_config(TINY_TEACHER, tmp_path / "run")
    teacher = build_teacher(cfg.teacher, {**dict(cfg.sampling), "max_new_tokens": 5}, tmp_path / "c.sqlite")
    free, labelled = teacher.generate(
        [
            ask("Say anything"),
            TeacherRequest.chat(
                [{"role": "user", "content": "Label?"}],
                schema=answer_schema(["label"], ("yes", "no")),
                max_new_tokens=24,
            ),
        ]
    )
    # the random model never ends on its own in 5 tokens; under the schema it must close `{"label": "yes"}`
    assert free.finish_reason == "length" and labelled.finish_reason == "stop"
    assert json.loads(labelled.text)["label"] in ("yes", "no") and teacher.stats.truncated == 1


def test_finish_reason_of_a_generated_row():
    assert finish_reason([5, 6, 7], {2}, 3) == "length"
    assert finish_reason([5, 2, 0], {2, 0}, 3) == "stop"  # ended, then padded
    assert finish_reason([5, 6], {2}, 3) == "stop"  # the batch stopped before the limit


def test_the_vllm_backend_reads_each_request_outputs_finish_reason(tmp_path, monkeypatch):
    """Stands in for vLLM (not installed, needs a GPU): an engine whose `chat` returns objects shaped like
    vllm.RequestOutput (`outputs[0].text`, `outputs[0].finish_reason`), and SamplingParams as a plain record."""

    def request_output(text: str, reason: str):
        return types.SimpleNamespace(outputs=[types.SimpleNamespace(text=text, finish_reason=reason)])

    class Engine:
        def chat(self, messages, sampling_params, **kwargs):
            return [request_output('{"label": "ye', "length"), request_output('{"label": "no"}', "stop")]

    fake_vllm = types.SimpleNamespace(SamplingParams=lambda **params: params)
    monkeypatch.setattr(vllm_offline, "import_vllm", lambda: fake_vllm)
    backend = VLLMBackend("stand-in-model")
    backend._engine = Engine()
    params = backend.call_params(Sampling(), 0)
    calls = [BackendCall(f"k{i}", (("user", f"Label {i}?"),), params, Sampling()) for i in range(2)]
    results = list(backend.run(calls))
    assert [(r.key, r.finish_reason, r.truncated) for r in results] == [
        ("k0", "length", True),
        ("k1", "stop", False),
    ]


def test_a_cache_written_before_finish_reasons_opens_and_keeps_its_answers(tmp_path):
    path = tmp_path / "old.sqlite"
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL, "
        "response TEXT NOT NULL, seconds REAL NOT NULL, created_at REAL NOT NULL)"
    )
    connection.execute("INSERT INTO responses VALUES ('k', 'm', '{}', 'old answer', 1.0, 0.0)")
    connection.execute("PRAGMA user_version=1")
    connection.commit()
    connection.close()
    with ResponseCache(path) as cache:
        assert cache.get("k").text == "old answer" and cache.get("k").finish_reason is None
        cache.put("n", "m", {}, "new answer", 1.0, "length")
        assert cache.get("n").finish_reason == "length"
