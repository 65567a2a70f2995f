"""The task layer: task configs are checked before any work, records against their task, and no module below
the task layer names a dataset or its labels."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from conftest import CONF_DIR
from omegaconf import OmegaConf

from taskexpert.errors import ConfigError, DataError
from taskexpert.records import Record
from taskexpert.tasks import KINDS, Kind, build_task, load_task, register_kind
from taskexpert.tasks.kinds.base import get_kind

SRC = Path(__file__).resolve().parents[1] / "src" / "taskexpert"
PUBMEDQA = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "task" / "pubmedqa.yaml").task)


def pubmedqa_config(**changes):
    config = copy.deepcopy(PUBMEDQA)
    for key, value in changes.items():
        node = config
        *parents, last = key.split(".")
        for parent in parents:
            node = node[parent]
        node[last] = value
    return config


# --- no dataset wired into the code ----------------------------------------------------------------

# The files allowed to name PubMedQA and its labels: its own reader (configs live in conf/, not here).
ALLOWED = {SRC / "tasks" / "readers" / "pubmedqa.py"}
FORBIDDEN = [
    re.compile(r"pubmedqa", re.IGNORECASE),
    re.compile(r"\bmaybe\b", re.IGNORECASE),
    re.compile(r"[\"'](yes|maybe)[\"']", re.IGNORECASE),
    re.compile(r"\byes/no\b", re.IGNORECASE),
]


def test_no_module_outside_the_pubmedqa_reader_names_pubmedqa_or_its_labels():
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        if path in ALLOWED:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(pattern.search(line) for pattern in FORBIDDEN):
                hits.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert hits == []


def test_the_check_would_catch_a_label_list():
    assert any(pattern.search('LABELS = ("yes", "no", "maybe")') for pattern in FORBIDDEN)
    assert not any(pattern.search('save_strategy="no"  # no JSON object') for pattern in FORBIDDEN)


# --- task configs --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(path.stem for path in (CONF_DIR / "task").glob("*.yaml")))
def test_every_shipped_task_config_builds(name):
    task = load_task(name)
    assert task.name == name
    assert task.kind.name in KINDS
    assert task.default_target in task.targets
    assert task.optimized_metric.startswith("val/")


def test_the_default_task_is_pubmedqa_with_its_labels():
    task = load_task()
    assert (task.name, task.kind.name, task.labels) == ("pubmedqa", "classification", ("yes", "no", "maybe"))
    assert task.input_fields == ("question", "context") and task.truncate_field == "context"
    assert task.generate.default_label == "maybe" and task.optimized_metric == "val/macro_f1"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "task.name"),
        ({"kind": "regression"}, "task.kind='regression' is unknown"),
        ({"inputs": []}, "task.inputs is empty"),
        ({"main_field": "title"}, "task.main_field='title' is not one of task.inputs"),
        ({"truncate_field": "abstract"}, "task.truncate_field"),
        ({"prompt.input": "Question: {question}\nAnswer:"}, "{context} is missing"),
        ({"prompt.input": "{question} {context} {title}"}, "{title} is not one"),
        ({"prompt.decision": " it is {label} and {label}."}, "exactly once"),
        ({"prompt.decision": " no field here."}, "exactly once"),
        ({"prompt.decision": " the answer is {answer}."}, "{label}"),
        ({"prompt.reference": " {rationale}"}, "task.prompt.reference"),
        ({"labels": ["yes"]}, "2 to 50"),
        ({"labels": [f"l{i}" for i in range(51)]}, "2 to 50"),
        ({"labels": ["yes", "no", "Yes"]}, "repeats a label"),
        ({"labels": [True, False, "maybe"]}, "quote such labels"),
        ({"generate.default_label": "unsure"}, "default_label='unsure'"),
        ({"label_scoring": {"normalize": "max"}}, "normalize='max'"),
        ({"targets": {"label": ["decision", "summary"]}}, "task.targets.label"),
        ({"target": "long_answer"}, "task.target='long_answer'"),
        ({"eval_mode": "beam"}, "eval.mode='beam'"),
    ],
)
def test_bad_task_configs_are_config_errors(changes, message):
    with pytest.raises(ConfigError) as caught:
        build_task(pubmedqa_config(**changes))
    assert message in str(caught.value)


def test_answer_and_span_kinds_only_generate():
    config = pubmedqa_config(kind="answer", labels=[], **{"prompt.decision": " #### {answer}"})
    config["generate"]["default_label"] = None
    with pytest.raises(ConfigError, match="eval.mode='label' does not suit the answer task"):
        build_task({**config, "eval_mode": "label"})
    assert build_task({**config, "eval_mode": "generate"}).kind.name == "answer"


# --- records against their task ------------------------------------------------------------------


def test_validate_names_the_missing_empty_or_unknown_field():
    task = load_task("pubmedqa")
    good = Record(id="1", inputs={"question": "Q?", "context": "C."}, target="no")
    assert task.validate(good, "f.jsonl, record 1") is good
    cases = [
        (Record(id="1", inputs={"question": "Q?"}, target="no"), "context", "is missing"),
        (Record(id="1", inputs={"question": " ", "context": "C."}, target="no"), "question", "is empty"),
        (
            Record(id="1", inputs={"question": "Q?", "context": "C."}, target="probably"),
            "target",
            "unknown label",
        ),
    ]
    for record, field, problem in cases:
        with pytest.raises(DataError, match=problem) as caught:
            task.validate(record, "f.jsonl, record 1")
        assert caught.value.field == field and "f.jsonl, record 1" in str(caught.value)


# --- kinds are a registry ------------------------------------------------------------------------


def test_a_new_kind_is_a_registered_class():
    @register_kind
    class Regression(Kind):  # a toy kind: the prediction is a number, scored by absolute error
        name = "toy_regression"

        def read_generated(self, task, text):
            return text.strip(), bool(text.strip())

        def metrics(self, task, rows, prefix):
            errors = [abs(float(row["pred"] or 0) - float(row["gold"])) for row in rows]
            return {f"{prefix}mae": sum(errors) / len(errors)}

        def table_columns(self, task):
            return [("mae", "MAE")]

    try:
        assert get_kind("toy_regression") is KINDS["toy_regression"]
        config = pubmedqa_config(kind="toy_regression", labels=[], eval_mode="generate")
        config["prompt"]["decision"] = " {answer}"
        config["generate"]["default_label"] = None
        task = build_task(config)
        assert task.kind.metrics(task, [{"pred": "2", "gold": "3"}], "val/") == {"val/mae": 1.0}
        with pytest.raises(ValueError, match="registered twice"):
            register_kind(Regression)
    finally:
        del KINDS["toy_regression"]
