"""What an augmentation study's jobs say about their data arm: `data_arm.json` (the arm, its teacher cost) and the
test predictions the paired bootstrap needs. A sweep is a study when some job directory holds `data_arm.json`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from omegaconf import OmegaConf

from taskexpert.report.collect import Job

DATA_ARM_FILE = "data_arm.json"
PREDICTIONS_FILE = "predictions.jsonl"
BASELINE_ARM = "none"
# The teacher numbers of data_arm.json the report shows, in its column order.
TEACHER_NUMBERS = ("answers", "calls", "prompt_tokens", "completion_tokens", "cost_usd")


@dataclass
class ArmFile:
    """One job's data arm: what data_arm.json holds (or, without it, the arm name its config gives)."""

    name: str
    methods: tuple[str, ...] = ()
    rounds: int | None = None
    records: float | None = None
    teacher: dict[str, float | None] = field(default_factory=dict)
    rounds_detail: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""  # why data_arm.json could not be read

    @property
    def key(self) -> tuple[str, int | None]:
        """Arms are told apart by name and, for LLM2LLM, by the rounds of records they train on."""
        return self.name, self.rounds


def is_study(jobs: list[Job]) -> bool:
    """Jobs compare data arms when some job trained on teacher data. Every job of any study writes
    data_arm.json (it marks the job finished), so a sensitivity study, all of it on arm none, is not one."""
    for job in jobs:
        path = job.path / DATA_ARM_FILE
        if not path.is_file():
            continue
        try:
            held = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return True  # a study whose file is damaged: the arm rows say which
        if held.get("methods") or held.get("arm", "none") != "none":
            return True
    return False


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def _configured_arm(job: Job) -> ArmFile:
    """The arm a job without data_arm.json was launched with (`data_arm.name` in its saved config)."""
    config_file = job.path / ".hydra" / "config.yaml"
    try:
        config = OmegaConf.load(config_file)
        name = OmegaConf.select(config, "data_arm.name", default=None, throw_on_resolution_failure=False)
        rounds = OmegaConf.select(config, "data_arm.rounds", default=None, throw_on_resolution_failure=False)
    except Exception:
        name, rounds = None, None
    return ArmFile(
        name=str(name) if name is not None else "unknown",
        rounds=rounds if isinstance(rounds, int) and not isinstance(rounds, bool) else None,
    )


def read_arm_file(job: Job) -> ArmFile:
    path = job.path / DATA_ARM_FILE
    if not path.is_file():
        return _configured_arm(job)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(payload, dict) or not isinstance(payload.get("arm"), str):
            raise ValueError('it holds no JSON object with an "arm" name')
    except (OSError, UnicodeDecodeError, ValueError) as error:
        arm = _configured_arm(job)
        arm.problem = f"{path}: cannot be read ({error}); rerun the job or remove the file"
        return arm
    teacher = payload.get("teacher") if isinstance(payload.get("teacher"), dict) else {}
    rounds = payload.get("rounds")
    detail = payload.get("rounds_detail")
    arm = ArmFile(
        name=payload["arm"],
        methods=tuple(str(method) for method in payload.get("methods") or ()),
        rounds=rounds if isinstance(rounds, int) and not isinstance(rounds, bool) else None,
        records=_number(payload.get("records")),
        teacher={name: _number(teacher.get(name)) for name in TEACHER_NUMBERS},
        rounds_detail=[item for item in detail if isinstance(item, dict)] if isinstance(detail, list) else [],
    )
    return _up_to_rounds(arm)


def _up_to_rounds(arm: ArmFile) -> ArmFile:
    """An LLM2LLM arm trained on rounds 1..k costs what those rounds took: rounds_detail's cumulative entry for
    round k, when there is one (the arm's data may hold more rounds than it trains on)."""
    entry = next((item for item in arm.rounds_detail if item.get("round") == arm.rounds), None)
    if arm.rounds is None or entry is None:
        return arm
    answers = _number(entry.get("answers"))
    same_answers = answers is not None and answers == arm.teacher.get("answers")
    calls = (
        _number(entry.get("calls"))
        if "calls" in entry
        else arm.teacher.get("calls")
        if same_answers
        else None
    )
    arm.teacher = {
        "answers": answers,
        "calls": calls,
        "prompt_tokens": _number(entry.get("prompt_tokens")),
        "completion_tokens": _number(entry.get("completion_tokens")),
        "cost_usd": _number(entry.get("cost_usd")),
    }
    arm.records = _number(entry.get("records")) if "records" in entry else arm.records
    return arm


def read_test_rows(job: Job, split: str) -> list[dict[str, Any]]:
    """The job's predictions of `split` (each with an id), in file order; ValueError naming the line if bad."""
    path = job.path / PREDICTIONS_FILE
    if not path.is_file():
        raise ValueError(f"{path}: missing (the job wrote no predictions)")
    rows, seen = [], set()
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}: line {number} is not valid JSON ({error})") from None
            if not isinstance(row, dict) or row.get("split") != split:
                continue
            if "id" not in row or "pred" not in row or not ("gold" in row or "golds" in row):
                raise ValueError(f"{path}: line {number} lacks an id, pred or gold field")
            if row["id"] in seen:
                raise ValueError(f"{path}: line {number} repeats the {split} item id {row['id']!r}")
            seen.add(row["id"])
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: holds no {split} predictions")
    return rows
