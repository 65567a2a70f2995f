"""Label consistency: a judge answers each generated record; records whose label it disagrees with are dropped.

Judges:
- `TeacherJudge`: the teacher itself (through the cache) with the judge prompt, decoding greedily;
- `StudentJudge`: a trained student run directory (its adapter, model and prompt format), label scoring.
A judge returns None for a record it could not answer; such records are dropped as `judge_no_answer`
unless `keep_unanswered` is set.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from taskexpert.augment.filters import Dropped
from taskexpert.augment.parsing import normalize_label
from taskexpert.augment.prompts import PromptTemplate
from taskexpert.errors import ConfigError
from taskexpert.models.calibration_file import load_calibration
from taskexpert.records import LABELS, QARecord
from taskexpert.teachers.json_text import first_json_object
from taskexpert.teachers.teacher import Teacher
from taskexpert.teachers.types import TeacherRequest

_LABEL_WORD = re.compile(r"\b(" + "|".join(LABELS) + r")\b", re.IGNORECASE)


class Judge(Protocol):
    name: str

    def predict(self, records: Sequence[QARecord]) -> list[str | None]: ...


def label_from_answer(text: str | None) -> str | None:
    """The label of a judge's answer: the JSON `label` if there is one, else the first label word."""
    if not text:
        return None
    payload = first_json_object(text)
    if payload is not None and isinstance(payload.get("label"), str):
        label = normalize_label(payload["label"])
        return label if label in LABELS else None
    match = _LABEL_WORD.search(text)
    return match.group(1).lower() if match else None


class TeacherJudge:
    def __init__(self, teacher: Teacher, template: PromptTemplate, max_new_tokens: int = 16) -> None:
        template.check({"question", "context"})
        self.teacher = teacher
        self.template = template
        self.max_new_tokens = max_new_tokens
        self.name = f"teacher:{teacher.name}"

    def predict(self, records: Sequence[QARecord]) -> list[str | None]:
        requests = [
            TeacherRequest.chat(
                self.template.render({"question": r.question, "context": r.context}),
                temperature=0.0,  # a judge answers, it does not sample
                repetition_penalty=1.0,
                max_new_tokens=self.max_new_tokens,
            )
            for r in records
        ]
        return [label_from_answer(response.text) for response in self.teacher.generate(requests)]


class StudentJudge:
    """A trained student run (`train.py` output directory) scoring the three labels of each record; it decides
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
        from taskexpert.data.prompts import PromptFormat
        from taskexpert.models.loading import load_model_and_tokenizer

        run_cfg = OmegaConf.load(self.run_dir / ".hydra" / "config.yaml")
        base, tokenizer = load_model_and_tokenizer(run_cfg.model)
        self._model = PeftModel.from_pretrained(base, str(self.run_dir / "adapter")).eval()
        prompt = PromptFormat(**OmegaConf.to_container(run_cfg.prompt), target=run_cfg.data.target)
        self._encoder = ExampleEncoder(tokenizer, prompt, run_cfg.data.max_length, "label")
        self._pad_id = tokenizer.pad_token_id
        self._calibration = load_calibration(self.run_dir / "adapter", LABELS)

    def predict(self, records: Sequence[QARecord]) -> list[str | None]:
        from taskexpert.data.collate import EvalCollator
        from taskexpert.models.label_scoring import score_labels

        if self._model is None:
            self._load()
        collate = EvalCollator(self._pad_id)
        examples = self._encoder.encode(list(records), "generated records")
        labels: list[str | None] = []
        for start in range(0, len(examples), self.batch_size):
            batch = collate(examples[start : start + self.batch_size])
            scores = score_labels(self._model, batch, self._encoder.label_first_token_ids)
            if self._calibration is not None and self._calibration.applied:
                rows = [dict(zip(LABELS, row, strict=True)) for row in scores.tolist()]
                labels.extend(self._calibration.decision(row) for row in rows)
            else:
                labels.extend(LABELS[int(index)] for index in scores.argmax(dim=-1))
        return labels


class LabelConsistencyFilter:
    name = "label_consistency"

    def __init__(self, judge: Judge, keep_unanswered: bool = False) -> None:
        self.judge = judge
        self.keep_unanswered = keep_unanswered

    def apply(self, records: list[QARecord]) -> tuple[list[QARecord], list[Dropped]]:
        if not records:
            return [], []
        kept, dropped = [], []
        for record, predicted in zip(records, self.judge.predict(records), strict=True):
            if predicted is None and not self.keep_unanswered:
                dropped.append(Dropped(record, "judge_no_answer", self.judge.name))
            elif predicted is not None and predicted != record.label:
                dropped.append(
                    Dropped(
                        record,
                        "label_disagreement",
                        f"{self.judge.name} says {predicted}, record says {record.label}",
                    )
                )
            else:
                kept.append(record)
        return kept, dropped
