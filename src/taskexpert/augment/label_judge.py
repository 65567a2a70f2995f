"""Label consistency: a judge answers each generated record; records whose label it disagrees with are dropped.

Judges:
- `TeacherJudge`: the teacher itself (through the cache) with the judge prompt, decoding greedily, on any
  classification task: the prompt quotes the record's input fields by the task's names (never its label)
  and the task's labels, and the answer is constrained to one of them;
- `StudentJudge`: a trained student run directory (its adapter, model and prompt format), label scoring.
A judge returns None for a record it could not answer; such records are dropped as `judge_no_answer`
unless `keep_unanswered` is set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from taskexpert.augment.answer_schema import answer_schema
from taskexpert.augment.filters import Dropped
from taskexpert.augment.parsing import normalize_label
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.errors import ConfigError
from taskexpert.models.calibration_file import load_calibration
from taskexpert.records import Record
from taskexpert.tasks.kinds.classification import parse_label
from taskexpert.tasks.task import Task
from taskexpert.teachers.json_text import first_json_object
from taskexpert.teachers.teacher import Teacher
from taskexpert.teachers.token_budget import label_answer_tokens
from taskexpert.teachers.types import TeacherRequest

# what a judge prompt may quote besides the record's input fields (by the task's names)
JUDGE_PLACEHOLDERS = ("record_json", "description", "instruction", "labels", "label_choices")


class Judge(Protocol):
    name: str

    def predict(self, records: Sequence[Record]) -> list[str | None]: ...


def label_from_answer(text: str | None, labels: Sequence[str]) -> str | None:
    """The label of a judge's answer: the JSON `label` if there is one, else the first of `labels` in it."""
    if not text:
        return None
    payload = first_json_object(text)
    if payload is not None and isinstance(payload.get("label"), str):
        label = normalize_label(payload["label"], labels)
        return label if label in labels else None
    label, found = parse_label(text, labels, None, len(text), None)
    return label if found else None


def label_choices(labels: Sequence[str]) -> str:
    """The answers a judge may give, as the prompt shows them: `{"label": "a"}, {"label": "b"} or ...`."""
    answers = [json.dumps({"label": label}, ensure_ascii=False) for label in labels]
    return answers[0] if len(answers) == 1 else f"{', '.join(answers[:-1])} or {answers[-1]}"


def judge_values(task: Task, record: Record) -> dict[str, str]:
    """What a judge prompt quotes of `record`: its input fields (by name and as one JSON object), never its
    label or reference, and the task's description, instruction and labels."""
    inputs = {name: record.text(name) for name in task.input_fields}
    return inputs | {
        "record_json": json.dumps(inputs, ensure_ascii=False),
        "description": task.description,
        "instruction": task.instruction,
        "labels": ", ".join(task.labels),
        "label_choices": label_choices(task.labels),
    }


class TeacherJudge:
    """The teacher labels each record anew. `max_new_tokens` is raised, when it is smaller, to what the
    longest label's answer takes in the teacher's tokens (or UTF-8 bytes), so no answer is cut."""

    def __init__(
        self, teacher: Teacher, template: PromptTemplate, task: Task, max_new_tokens: int = 16
    ) -> None:
        if not task.labels:
            raise ConfigError(f"a label judge needs a task with labels; task {task.name} has none")
        template.check({*task.input_fields, *JUDGE_PLACEHOLDERS})
        self.teacher = teacher
        self.template = template
        self.task = task
        self.labels = task.labels
        self.max_new_tokens = max_new_tokens
        self.name = f"teacher:{teacher.name}"

    def budget(self) -> int:
        """Tokens for one answer: the configured ones, or more if the longest label needs more."""
        return max(self.max_new_tokens, label_answer_tokens(self.teacher.token_meter(), self.labels))

    def predict(self, records: Sequence[Record]) -> list[str | None]:
        schema = answer_schema(("label",), self.labels)  # constrained, the judge can only name a label
        budget = self.budget()
        requests = [
            TeacherRequest.chat(
                self.template.render(judge_values(self.task, r)),
                schema=schema,
                temperature=0.0,  # a judge answers, it does not sample
                repetition_penalty=1.0,
                max_new_tokens=budget,
            )
            for r in records
        ]
        return [label_from_answer(response.text, self.labels) for response in self.teacher.generate(requests)]


class StudentJudge:
    """A trained student run (`train.py` output directory) scoring the task's labels of each record; it decides
    with the calibration saved beside its adapter (adapter/calibration.json), as the run's own evaluation did."""

    def __init__(self, run_dir: str | Path, batch_size: int = 8) -> None:
        self.run_dir = Path(run_dir)
        self.batch_size = batch_size
        self.name = f"student:{self.run_dir.name}"
        config_path = self.run_dir / ".hydra" / "config.yaml"
        adapter = self.run_dir / "adapter"
        if not config_path.is_file() or not (adapter / "adapter_config.json").is_file():
            raise ConfigError(
                f"{self.run_dir} is not a trained student run: it needs .hydra/config.yaml and adapter/ "
                "(a train.py run directory with PEFT)"
            )
        self._model: Any = None

    def _load(self):
        from omegaconf import OmegaConf
        from peft import PeftModel

        from taskexpert.data.encoding import ExampleEncoder
        from taskexpert.models.loading import load_model_and_tokenizer
        from taskexpert.tasks import build_task
        from taskexpert.training.precision import resolve_precision

        run_cfg = OmegaConf.load(self.run_dir / ".hydra" / "config.yaml")
        if "task" not in run_cfg:
            raise ConfigError(
                f"{self.run_dir} was trained before tasks were configurable (its config has no `task`): "
                "train the judge again with this version"
            )
        task = build_task(run_cfg.task)
        precision = resolve_precision(run_cfg.trainer, run_cfg.model, run_cfg.peft)  # score as the run scored
        base, tokenizer = load_model_and_tokenizer(
            run_cfg.model, precision.weights_dtype, precision.attention
        )
        self._model = PeftModel.from_pretrained(base, str(self.run_dir / "adapter")).eval()
        self._encoder = ExampleEncoder(
            tokenizer, task, self._trained_max_length(run_cfg.data), "label", target=run_cfg.data.target
        )
        self._pad_id = tokenizer.pad_token_id
        self._calibration = load_calibration(self.run_dir / "adapter", task.labels)

    def _trained_max_length(self, data_cfg) -> int:
        """The length the run trained with: its config's number, or what `auto` chose (its splits.json)."""
        import json

        from taskexpert.data.lengths import length_setting

        setting = length_setting(data_cfg)
        if setting != "auto":
            return int(setting)
        splits_file = self.run_dir / "splits.json"
        try:
            return int(json.loads(splits_file.read_text())["settings"]["lengths"]["max_length"])
        except (OSError, ValueError, KeyError, TypeError):
            raise ConfigError(
                f"{self.run_dir} trained with data.max_length=auto but {splits_file} does not record the length "
                "it chose: train the judge again with this version"
            ) from None

    def predict(self, records: Sequence[Record]) -> list[str | None]:
        from taskexpert.data.collate import EvalCollator
        from taskexpert.models.label_sequences import score_task_labels

        if self._model is None:
            self._load()
        collate = EvalCollator(self._pad_id)
        examples = self._encoder.encode(list(records), "generated records")
        labels: list[str | None] = []
        for start in range(0, len(examples), self.batch_size):
            batch = collate(examples[start : start + self.batch_size])
            label_tokens = self._encoder.label_tokens
            scores = score_task_labels(self._model, batch, label_tokens, self._pad_id)
            if self._calibration is not None and self._calibration.applied:
                rows = [dict(zip(label_tokens.names, row, strict=True)) for row in scores.tolist()]
                labels.extend(self._calibration.decision(row) for row in rows)
            else:
                labels.extend(label_tokens.names[int(index)] for index in scores.argmax(dim=-1))
        return labels


class LabelConsistencyFilter:
    name = "label_consistency"

    def __init__(self, judge: Judge, keep_unanswered: bool = False) -> None:
        self.judge = judge
        self.keep_unanswered = keep_unanswered

    def apply(self, records: list[Record]) -> tuple[list[Record], list[Dropped]]:
        if not records:
            return [], []
        kept, dropped = [], []
        for record, predicted in zip(records, self.judge.predict(records), strict=True):
            if predicted is None and not self.keep_unanswered:
                dropped.append(Dropped(record, "judge_no_answer", self.judge.name))
            elif predicted is not None and predicted != record.target:
                dropped.append(
                    Dropped(
                        record,
                        "label_disagreement",
                        f"{self.judge.name} says {predicted}, record says {record.target}",
                    )
                )
            else:
                kept.append(record)
        return kept, dropped
