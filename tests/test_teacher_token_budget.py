"""Length bounds from the task, fitted to the token budget in any script: measured with the teacher's
tokenizer (local teachers) or bounded by UTF-8 bytes (servers), so a constrained answer closes in its tokens."""

from __future__ import annotations

import json

import pytest
from servers.augment_setup import compose_augment_config, fault_teacher_overrides, quiet_overrides
from servers.fault_server import FaultServer
from servers.schema_answers import schema_answer

from taskexpert.augment.drllama import build_jobs
from taskexpert.augment.generation import answer_rates, with_answer_schema
from taskexpert.augment.pipeline import augment
from taskexpert.data.loading import load_splits
from taskexpert.errors import ConfigError
from taskexpert.tasks import build_task
from taskexpert.tasks.task import conf_dir, load_task
from taskexpert.teachers import build_teacher
from taskexpert.teachers.token_budget import ByteMeter, TokenRates, fit_lengths, json_string

TINY_TEACHER = [
    "teacher=hf",
    "teacher.source=tiny",
    "teacher.tiny_architecture=llama",
    "teacher.model=tiny-llama",
    "teacher.batch_size=4",
]
TASKS = sorted(path.stem for path in (conf_dir() / "task").glob("*.yaml"))


@pytest.mark.parametrize("name", TASKS)
def test_every_task_bounds_every_field_a_teacher_writes(name):
    task = load_task(name)
    assert set(task.field_lengths) == set(task.written_fields), name
    assert all(0 <= low <= high for low, high in task.field_lengths.values())


def test_a_bound_on_a_field_the_task_does_not_have_is_refused():
    with pytest.raises(ConfigError, match="task.field_lengths.context: not a field"):
        build_task({**_task_config("sst2"), "field_lengths": {"context": [1, 10]}})


def _task_config(name):
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(conf_dir() / "task" / f"{name}.yaml").task)


def test_bounds_shrink_to_fit_and_minima_that_cannot_fit_are_an_error():
    rates = TokenRates(ByteMeter(), {"question": 1.0, "context": 2.0})
    lengths = {"question": (15, 200), "context": (100, 900)}
    structure = rates.structure_tokens(["question"])  # `{"question": ""}` and the end token
    assert fit_lengths(["question"], lengths, 400, rates) == {"question": (15, 200)}  # fits: unchanged
    assert fit_lengths(["question"], lengths, 100 + structure, rates) == {"question": (15, 100)}
    with pytest.raises(ConfigError, match="max_new_tokens=40 cannot hold.*question, context"):
        fit_lengths(["question", "context"], lengths, 40, rates)


def jobs_and_teacher(tmp_path, overrides):
    cfg = compose_augment_config(overrides, tmp_path / "run")
    task = build_task(cfg.task)
    splits = load_splits(cfg.data, task)
    teacher = build_teacher(cfg.teacher, cfg.sampling, tmp_path / "cache.sqlite")
    return build_jobs(cfg, splits.train, splits.train), teacher


def densest_text(texts, length):
    """`length` characters of the densest of `texts` (repeated): the worst a field of the sample may be."""
    return max(((text * (length // len(text) + 1))[:length] for text in texts), key=lambda t: len(t.encode()))


def test_japanese_bounds_fit_the_budget_in_the_teachers_own_tokens(tmp_path):
    """MCoNaLa's intents take 1 to 3 tiny-tokenizer tokens a character (3 characters a token was assumed):
    the intent's bound, measured with the teacher's tokenizer, keeps the densest intent within 64 tokens."""
    overrides = ["task=mconala", "method=new", "method.new.max_new_tokens=64", *TINY_TEACHER]
    jobs, teacher = jobs_and_teacher(tmp_path, [*overrides, *quiet_overrides(tmp_path / "c.sqlite")])
    rates = answer_rates(teacher, jobs)
    schema = with_answer_schema(jobs[0], teacher, rates).schema
    properties = schema["properties"]
    tokenizer = teacher.token_meter().tokenizer
    answer = json.dumps(
        {
            "intent": densest_text(
                [job.parent.text("intent") for job in jobs], properties["intent"]["maxLength"]
            ),
            "answer": densest_text([job.parent.target for job in jobs], properties["answer"]["maxLength"]),
        },
        ensure_ascii=False,
    )
    assert len(tokenizer.encode(answer, add_special_tokens=False)) + 1 <= 64
    assert properties["intent"]["maxLength"] < (64 - 14) * 3 / 2  # well under what 3 characters a token gave


def test_a_tiny_teacher_writes_japanese_records_within_their_budget(tmp_path):
    """The random tiny model under the fitted schema: every answer closes within 64 tokens, none is cut."""
    overrides = [
        "task=mconala",
        "method=new",
        "method.max_seeds=8",
        "method.new.max_new_tokens=64",
        *TINY_TEACHER,
    ]
    stats = augment(
        compose_augment_config([*overrides, *quiet_overrides(tmp_path / "c.sqlite")], tmp_path / "run")
    )
    assert stats["constrained"] == 8 and stats["truncated"] == 0 and stats["schema_violations"] == {}
    assert stats["parsed"] == 8, stats["rejected"]


def test_a_server_gets_bounds_from_the_task_held_to_the_budget_in_utf8_bytes(tmp_path):
    """An OpenAI-compatible server with length bounds on (vLLM's, llama.cpp's): no tokenizer here, so the
    bounds are fitted at the sample's UTF-8 bytes per character, a bound on byte-level tokenizers' tokens."""
    with FaultServer(answer=schema_answer) as server:
        overrides = [
            "task=mconala",
            "method=rewrite",
            "method.max_seeds=4",
            "method.rewrite.max_new_tokens=64",
            *fault_teacher_overrides(server.base_url, tmp_path),
            "teacher.length_bounds=true",
        ]
        stats = augment(compose_augment_config(overrides, tmp_path / "run"))
        schema = server.requests[0]["body"]["response_format"]["json_schema"]["schema"]
    bound = schema["properties"]["intent"]["maxLength"]
    assert stats["kept"] >= 1 and 5 <= bound <= 200
    intents = [
        item["intent"]
        for item in json.loads(
            (conf_dir().parent / "src/taskexpert/data/sample/mconala/ja_test.json").read_text()
        )
    ]
    worst = densest_text(intents, bound)
    assert len(json.dumps({"intent": worst}, ensure_ascii=False).encode()) + 1 <= 64


def test_sst2_answers_carry_the_tasks_bounds(tmp_path):
    """SST-2's sentence had no bounds (the teacher configs named PubMedQA's fields only)."""
    jobs, teacher = jobs_and_teacher(tmp_path, ["task=sst2", "method=rewrite", *TINY_TEACHER])
    schema = with_answer_schema(jobs[0], teacher, answer_rates(teacher, jobs)).schema
    assert schema["properties"]["sentence"]["minLength"] == 5
    assert schema["properties"]["sentence"]["maxLength"] <= 400


def test_json_string_is_what_the_answer_quotes():
    assert json_string('say "hi"\n') == 'say \\"hi\\"\\n' and json_string("逆順") == "逆順"


def test_a_teacher_config_that_still_bounds_fields_is_told_where_bounds_live(tmp_path):
    cfg = compose_augment_config(
        [*TINY_TEACHER, "+teacher.field_lengths.question=[15,300]"], tmp_path / "run"
    )
    with pytest.raises(ConfigError, match="task.field_lengths"):
        build_teacher(cfg.teacher, cfg.sampling, tmp_path / "cache.sqlite")
