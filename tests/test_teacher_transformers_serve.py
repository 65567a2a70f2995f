"""A rewrite run end to end against a real `transformers serve` (OpenAI-compatible) on the tiny local model."""

from __future__ import annotations

import json

import pytest
from servers.augment_setup import compose_augment_config, data_overrides, quiet_overrides, write_seed_file
from servers.serve_process import TransformersServe, with_chat_template

from taskexpert.augment.pipeline import augment
from taskexpert.models.tiny import tiny_model_dir
from taskexpert.records import read_jsonl


@pytest.fixture(scope="module")
def served_tiny_model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("serve")
    model_dir = with_chat_template(tiny_model_dir("llama"), directory / "tiny-llama-chat")
    with TransformersServe(model_dir, directory / "serve.log") as server:
        yield server


def serve_overrides(server: TransformersServe, tmp_path, mode: str) -> list[str]:
    seeds = write_seed_file(tmp_path, 12)
    return [
        "teacher=openai",
        f"teacher.base_url={server.base_url}",
        f"teacher.model={server.model_dir}",
        "teacher.api_key_env=null",
        f"teacher.repetition_penalty_mode={mode}",
        "teacher.max_retries=1",
        "teacher.backoff_base=0.05",
        "teacher.max_concurrency=2",
        "method.max_seeds=4",
        "method.rewrite.max_new_tokens=8",
        *data_overrides(seeds),
        *quiet_overrides(tmp_path / "cache.sqlite"),
    ]


def test_rewrite_against_transformers_serve(served_tiny_model, tmp_path):
    overrides = serve_overrides(served_tiny_model, tmp_path, "map_to_frequency_penalty")
    stats = augment(compose_augment_config(overrides, tmp_path / "run"))
    # every request answered (frequency_penalty is a field the server knows), every answer accounted for
    assert stats["requested"] == 4 and stats["failed"] == 0 and stats["generated"] == 4
    assert stats["kept"] + stats["rejected_total"] == 4
    kept = read_jsonl(tmp_path / "run" / "augmented.jsonl")
    assert all(r.source == "rewrite" and r.teacher == str(served_tiny_model.model_dir) for r in kept)
    rejected = [
        json.loads(line) for line in (tmp_path / "run" / "augment_rejected.jsonl").read_text().splitlines()
    ]
    assert len(rejected) == stats["rejected_total"] and all(item["text"] is not None for item in rejected)

    again = augment(compose_augment_config(overrides, tmp_path / "again"))
    assert again["cache_hits"] == 4 and again["generated"] == 0
    assert (tmp_path / "again" / "augmented.jsonl").read_text() == (
        tmp_path / "run" / "augmented.jsonl"
    ).read_text()


def test_a_field_the_server_refuses_is_reported_not_dropped(served_tiny_model, tmp_path):
    # `transformers serve` answers 422 to `repetition_penalty`: each request fails visibly, the run finishes
    stats = augment(
        compose_augment_config(serve_overrides(served_tiny_model, tmp_path, "extra_body"), tmp_path / "run")
    )
    assert stats["failed"] == 4 and stats["kept"] == 0
    assert {failure["reason"] for failure in stats["failures"]} == {"teacher_failed:http_422"}
    assert "repetition_penalty" in stats["failures"][0]["detail"]


def test_the_schema_is_sent_and_a_server_that_ignores_it_shows_in_the_stats(served_tiny_model, tmp_path):
    # transformers serve takes `response_format` (a known OpenAI field), logs that it ignores it and answers
    # unconstrained: nothing to fall back from, so the stats must show the answers breaking their schema
    overrides = [
        *serve_overrides(served_tiny_model, tmp_path, "map_to_frequency_penalty"),
        "teacher.cache_tag=s",
    ]
    stats = augment(compose_augment_config(overrides, tmp_path / "run"))
    assert stats["failed"] == 0 and stats["constrained"] == 4
    assert stats["teacher_totals"]["structured"]["backend_support"] is True
    assert sum(stats["schema_violations"].values()) == 4  # 8 random tokens are never a conforming object
    server_log = served_tiny_model.log_path.read_text()
    assert "Ignoring unsupported fields" in server_log and "response_format" in server_log
