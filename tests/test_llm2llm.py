"""LLM2LLM (`augment.py method=llm2llm`) with a tiny student and our local OpenAI-compatible teacher server:
which examples are augmented, how data grows, where each iteration starts, the history, kill and resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from data_fixtures import qa_record
from safetensors.torch import load_file
from servers.augment_setup import ROOT, compose_augment_config, data_overrides, write_seed_file
from servers.fault_server import FaultServer, deterministic_answer

import taskexpert.training.pipeline as training_pipeline
from taskexpert.augment.llm2llm import llm2llm_jobs, run_llm2llm, wrong_examples
from taskexpert.augment.llm2llm_state import HISTORY_FILE, load_history, save_history
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.data.split_meta import read_split_meta
from taskexpert.errors import ConfigError, DataError
from taskexpert.records import read_jsonl
from taskexpert.tasks import load_task

N_TRAIN = 9
SERVER_LIFETIME = 1200  # seconds: a busy machine must not outlive the server's default 300 s
HISTORY_FIELDS = {
    "iteration", "seeds", "seed_train_acc", "wrong", "added", "requested", "teacher_calls", "cache_hits",
    "train_seconds", "val/acc", "val/macro_f1", "test/acc", "test/macro_f1", "train/acc",
}  # fmt: skip


def answer_with_requested_label(body: dict) -> str:
    """A valid, distinct record per (prompt, seed), labelled as the prompt asks."""
    record = json.loads(deterministic_answer(body))
    user = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
    record["label"] = re.search(r'must be "(yes|no|maybe)"', user).group(1)
    return json.dumps(record)


def overrides(server: FaultServer, tmp_path: Path, *extra: str) -> list[str]:
    seeds = write_seed_file(tmp_path, N_TRAIN + 4)
    return [
        "method=llm2llm",
        "method.iterations=2",
        "model=tiny_llama",
        "trainer=fast",
        "trainer.max_steps=2",
        "logger=csv",
        "checkpoint.enabled=false",
        "teacher=openai",
        f"teacher.base_url={server.base_url}",
        "teacher.model=fault-model",
        "teacher.api_key_env=null",
        f"cache.path={tmp_path / 'cache.sqlite'}",
        "progress=false",
        "diversity.embeddings=false",
        *data_overrides(seeds, train=N_TRAIN, val=2, test=2),
        *extra,
    ]


def seed_ids(tmp_path: Path) -> set[str]:
    return {record.id for record in read_jsonl(tmp_path / "seeds.jsonl")[:N_TRAIN]}


def train_predictions(run_dir: Path, iteration: int) -> dict[str, dict]:
    lines = (run_dir / f"iter_{iteration}" / "predictions.jsonl").read_text().splitlines()
    return {row["id"]: row for row in map(json.loads, lines) if row["split"] == "train"}


def wrong_ids(run_dir: Path, iteration: int) -> set[str]:
    return {key for key, row in train_predictions(run_dir, iteration).items() if row["pred"] != row["gold"]}


@pytest.fixture
def initial_states(monkeypatch):
    """The trainable (adapter) tensors and one base weight of every student, right after it is built."""
    states: list[dict[str, dict[str, torch.Tensor]]] = []

    def capture(model):
        named = dict(model.named_parameters())
        adapter = {name: value.detach().clone() for name, value in named.items() if value.requires_grad}
        base_name = next(name for name in named if "embed_tokens" in name)
        states.append({"adapter": adapter, "base": {base_name: named[base_name].detach().clone()}})
        return model

    real_apply, real_load = training_pipeline.apply_adapter, training_pipeline.load_adapter
    monkeypatch.setattr(training_pipeline, "apply_adapter", lambda *a, **k: capture(real_apply(*a, **k)))
    monkeypatch.setattr(training_pipeline, "load_adapter", lambda *a, **k: capture(real_load(*a, **k)))
    return states


def same_tensors(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def saved_adapter(run_dir: Path, iteration: int) -> dict[str, torch.Tensor]:
    """The adapter saved at the end of an iteration, named like the live model's parameters."""
    saved = load_file(run_dir / f"iter_{iteration}" / "adapter" / "adapter_model.safetensors")
    return {name.replace(".weight", ".default.weight"): value for name, value in saved.items()}


def test_seed_errors_accumulate_from_base_weights_and_a_half_done_iteration_resumes(tmp_path, initial_states):
    run_dir = tmp_path / "run"
    with FaultServer(answer=answer_with_requested_label, lifetime=SERVER_LIFETIME) as server:
        stats = run_llm2llm(compose_augment_config(overrides(server, tmp_path), run_dir))
        seeds = seed_ids(tmp_path)
        history = json.loads((run_dir / HISTORY_FILE).read_text())["iterations"]
        assert [entry["iteration"] for entry in history] == [1, 2]
        assert all(set(entry) >= HISTORY_FIELDS for entry in history)
        added = [read_jsonl(run_dir / f"iter_{k}" / "added.jsonl") for k in (1, 2)]
        for iteration, records in enumerate(added, start=1):
            wrong_seeds = wrong_ids(run_dir, iteration) & seeds
            assert history[iteration - 1]["wrong"] == len(wrong_seeds) > 0
            assert len(records) == history[iteration - 1]["added"] == len(wrong_seeds)  # n_per_wrong=1
            assert {record.parent_id for record in records} == wrong_seeds  # only the seeds it got wrong
            for record in records:
                assert record.source == "llm2llm" and record.teacher == "fault-model"
                assert record.meta["iteration"] == iteration
                assert record.target == record.meta["requested_label"]
        # accumulate: iteration 2 trained on iteration 1's records (all scored), the result holds both
        assert set(train_predictions(run_dir, 2)) == seeds | {record.id for record in added[0]}
        assert read_jsonl(run_dir / "iter_2" / "train_extra.jsonl") == added[0]
        assert read_jsonl(run_dir / "augmented.jsonl") == added[0] + added[1]
        assert stats["kept"] == len(added[0]) + len(added[1])
        # both files say which split they were guarded against, so each iteration's training accepts its data
        assert read_split_meta(run_dir / "augmented.jsonl")["records"] == stats["kept"]
        assert read_split_meta(run_dir / "iter_2" / "train_extra.jsonl")["method"] == "llm2llm"
        # from scratch: both students started from the same base weights and the same fresh adapter,
        # although iteration 1 ended with a different adapter (so continuing it would show)
        assert len(initial_states) == 2
        assert same_tensors(initial_states[0]["base"], initial_states[1]["base"])
        assert same_tensors(initial_states[0]["adapter"], initial_states[1]["adapter"])
        assert not same_tensors(initial_states[0]["adapter"], saved_adapter(run_dir, 1))

        # killed after iteration 2's training, before its history entry: the re-run does not train again
        # and the teacher's answers come from the cache
        payload = json.loads((run_dir / HISTORY_FILE).read_text())
        save_history(run_dir, payload["settings"], payload["iterations"][:1])
        (run_dir / "iter_2" / "added.jsonl").unlink()
        metrics_mtime = (run_dir / "iter_2" / "metrics.json").stat().st_mtime_ns
        asked = len(server.requests)
        run_llm2llm(compose_augment_config(overrides(server, tmp_path), run_dir))
        assert len(initial_states) == 2 and len(server.requests) == asked
        assert (run_dir / "iter_2" / "metrics.json").stat().st_mtime_ns == metrics_mtime
        rerun = json.loads((run_dir / HISTORY_FILE).read_text())["iterations"]
        assert rerun[1]["cache_hits"] == rerun[1]["requested"] and rerun[1]["teacher_calls"] == 0
        assert read_jsonl(run_dir / "augmented.jsonl") == added[0] + added[1]


def test_continued_adapter_replacing_data_and_errors_on_generated_items(tmp_path, initial_states):
    run_dir = tmp_path / "run"
    extra = [
        "method.from_scratch=false",
        "method.accumulate=false",
        "method.only_seed_errors=false",
        "wandb.enabled=true",
    ]
    with FaultServer(answer=answer_with_requested_label, lifetime=SERVER_LIFETIME) as server:
        run_llm2llm(compose_augment_config(overrides(server, tmp_path, *extra), run_dir))
    added = [read_jsonl(run_dir / f"iter_{k}" / "added.jsonl") for k in (1, 2)]
    # not from scratch: iteration 2 started from the adapter iteration 1 saved
    assert same_tensors(initial_states[1]["adapter"], saved_adapter(run_dir, 1))
    assert not same_tensors(initial_states[0]["adapter"], initial_states[1]["adapter"])
    # wrong generated items are augmented too: every parent is a wrong seed or a wrong generated record
    wrong = wrong_ids(run_dir, 2)
    generated_ids = {record.id for record in added[0]}
    assert {record.parent_id for record in added[1]} == wrong
    history = json.loads((run_dir / HISTORY_FILE).read_text())["iterations"]
    assert history[1]["wrong_generated"] == len(wrong & generated_ids) > 0
    # no accumulation: the result is the last iteration's records only
    assert read_jsonl(run_dir / "augmented.jsonl") == added[1]
    assert list((run_dir / "wandb").glob("offline-run-*"))


def test_jobs_errors_and_settings_are_checked(tmp_path):
    template = PromptTemplate.load("prompts/llm2llm/classification.txt")
    seed = qa_record("s1", "Does Zorvane help?", "A trial of Zorvane.", "It did.", "yes")
    jobs = llm2llm_jobs(load_task("pubmedqa"), [(seed, "no")], template, n_per_wrong=2, iteration=3)
    user = jobs[0].request.messages[1][1]
    assert "Does Zorvane help?" in user and "Correct label: yes" in user and "Student's label: no" in user
    # samples count on across iterations: a seed missed again gets fresh samples, not the cached answer
    assert [job.request.sample_index for job in jobs] == [4, 5]
    assert [job.record_id for job in jobs] == ["s1-llm2llm-3-0", "s1-llm2llm-3-1"]
    with pytest.raises(DataError, match="no training prediction for s1"):
        wrong_examples(load_task("pubmedqa"), {}, [seed], tmp_path / "predictions.jsonl")
    save_history(tmp_path, {"n_per_wrong": 1, "accumulate": True}, [])
    with pytest.raises(ConfigError, match="method.accumulate=True"):
        load_history(tmp_path, {"n_per_wrong": 1, "accumulate": False})


def start_augment(arguments: list[str]) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "augment.py"), *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_killed_in_iteration_two_resumes_without_redoing_iteration_one(tmp_path):
    run_dir = tmp_path / "run"
    history_path = run_dir / HISTORY_FILE
    with FaultServer(answer=answer_with_requested_label, lifetime=SERVER_LIFETIME) as server:
        arguments = [*overrides(server, tmp_path), f"hydra.run.dir={run_dir}"]
        process = start_augment(arguments)
        deadline = time.monotonic() + 240
        while not history_path.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL, output
        assert len(json.loads(history_path.read_text())["iterations"]) == 1
        first = run_dir / "iter_1"
        kept_files = [first / "metrics.json", first / "predictions.jsonl", first / "added.jsonl"]
        kept_files += list((first / "adapter").iterdir())
        mtimes = {path: path.stat().st_mtime_ns for path in kept_files}
        asked = len(server.requests)

        process = start_augment(arguments)
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output
        seeds_asked_again = [entry["body"]["seed"] for entry in server.requests[asked:]]

    assert {path: path.stat().st_mtime_ns for path in kept_files} == mtimes  # iteration 1 not retrained
    assert set(seeds_asked_again) <= {43}  # iteration 2's sample (seed 42 + 1) only, never iteration 1's
    history = json.loads(history_path.read_text())["iterations"]
    assert [entry["iteration"] for entry in history] == [1, 2]
    added = [read_jsonl(run_dir / f"iter_{k}" / "added.jsonl") for k in (1, 2)]
    assert read_jsonl(run_dir / "augmented.jsonl") == added[0] + added[1]
