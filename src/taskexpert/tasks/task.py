"""The task object: everything the code below it needs to know about a task, built from `cfg.task`.

Data loading, prompts, scoring, metrics and the methods ask this object for field names, labels, templates and
the kind's functions; none of them names a dataset, a label word or a fallback answer.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskexpert.errors import ConfigError, DataError
from taskexpert.records import Record
from taskexpert.tasks.kinds.base import Kind, get_kind

PIECES = ("decision", "reference", "rationale")  # what a target layout is made of
NORMALIZATIONS = ("none", "mean")  # label scoring: sum of a label's token log-probs, or their mean


@dataclass(frozen=True)
class PromptTemplates:
    """`input` over the input fields; `decision` holds the gold ({label} or {answer}); the other pieces their field."""

    input: str
    decision: str
    reference: str = " {reference}"
    rationale: str = " {rationale}"


@dataclass(frozen=True)
class GenerateSettings:
    """How an answer is read from generated text (eval.mode=generate)."""

    max_new_tokens: int = 32  # tokens generated per example
    answer_phrase: str | None = (
        None  # the answer follows this phrase (case-insensitive); None: the whole text
    )
    parse_window: int = 40  # classification: characters after the phrase searched for a label
    default_label: str | None = (
        None  # classification: prediction when no label is found; None: counts as wrong
    )
    answer_rule: str = "final_answer"  # answer kind: how the final answer is read (see kinds/answer.py)
    stop_at_newline: bool = True  # span/answer: the answer ends at the first line break


@dataclass(frozen=True)
class Task:
    name: str
    kind: Kind
    input_fields: tuple[str, ...]
    main_field: str  # the field dedup and retrieval queries use
    truncate_field: str | None  # the field cut from its end to fit max_length
    prompt: PromptTemplates
    targets: Mapping[str, tuple[str, ...]]  # layout name -> pieces in order
    default_target: str
    labels: tuple[str, ...] = ()
    generate: GenerateSettings = field(default_factory=GenerateSettings)
    label_normalize: str = "none"
    metrics: tuple[str, ...] = ()
    optimized_metric: str = "val/acc"
    eval_mode: str = "label"
    group_by: str | None = None  # a meta key: metrics are also reported per value (e.g. BBH's subtask)
    description: str = ""  # what a record is, in a phrase: the teacher prompts of the methods quote it
    reference_field: str | None = (
        None  # the name a teacher writes the reference under (e.g. a worked solution)
    )
    instruction: str = ""  # the task in one sentence: ReBase's instruction query (default: the description)
    span_of: str | None = None  # the input every answer is copied from (SQuAD: context); None: free text
    # [min, max] characters of each field a teacher may write (inputs, reference, answer, rationale)
    field_lengths: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def placeholder(self) -> str:
        return self.kind.placeholder

    @property
    def written_fields(self) -> tuple[str, ...]:
        """Every field a teacher may write: the inputs, the reference, the answer (not a label: labels are an
        enum) and a rationale."""
        reference = (self.reference_field,) if self.reference_field else ()
        answer = () if self.labels else (self.placeholder,)
        return (*self.input_fields, *reference, *answer, "rationale")

    def validate(self, record: Record, where: str) -> Record:
        """Every input field present and non-empty, and a target this task accepts; DataError names the field."""
        for name in self.input_fields:
            if name not in record.inputs:
                raise DataError(
                    where,
                    name,
                    "is missing",
                    f"{self.name} records need the inputs {', '.join(self.input_fields)}",
                )
            if not record.inputs[name].strip():
                raise DataError(where, name, "is empty", f"every {self.name} record needs a non-empty {name}")
        self.kind.validate_target(self, record, where)
        return record

    def golds(self, record: Record) -> tuple[str, ...]:
        return self.kind.golds(self, record)

    def is_correct(self, prediction: str, golds: tuple[str, ...] | list[str]) -> bool:
        return self.kind.is_correct(self, prediction, golds)


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def _text_list(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(f"{key} must be a list, not {value!r}")
    for item in value:
        if isinstance(item, bool):
            raise ConfigError(
                f"{key} has {item!r}: YAML reads bare yes, no, on, off as booleans: quote such labels"
            )
        if not isinstance(item, str | int) or not str(item).strip():
            raise ConfigError(f"{key} has {item!r}: write non-empty strings")
    return tuple(str(item) for item in value)


def _check_templates(prompt: PromptTemplates, inputs: tuple[str, ...], placeholder: str) -> None:
    used = _fields(prompt.input)
    missing, unknown = [n for n in inputs if n not in used], [n for n in used if n not in inputs]
    if unknown or missing:
        raise ConfigError(
            f"task.prompt.input must use exactly the input fields {{{'}, {'.join(inputs)}}}: "
            + (f"{{{unknown[0]}}} is not one" if unknown else f"{{{missing[0]}}} is missing")
        )
    if _fields(prompt.decision) != [placeholder]:
        raise ConfigError(
            f"task.prompt.decision must contain {{{placeholder}}} exactly once, and no other field"
        )
    for name in ("reference", "rationale"):
        if set(_fields(getattr(prompt, name))) - {name}:
            raise ConfigError(f"task.prompt.{name} may only use {{{name}}}")


def _check_targets(targets: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(targets, Mapping) or not targets:
        raise ConfigError("task.targets must map a layout name to its pieces, e.g. {label: [decision]}")
    layouts = {}
    for name, pieces in targets.items():
        pieces = _text_list(pieces, f"task.targets.{name}")
        if not pieces or any(piece not in PIECES for piece in pieces):
            raise ConfigError(f"task.targets.{name}={list(pieces)}: use pieces among {', '.join(PIECES)}")
        layouts[str(name)] = pieces
    return layouts


def _check_field_lengths(lengths: Any, allowed: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """`task.field_lengths`: `{field: [min, max]}` characters, 0 <= min <= max, for fields of the task."""
    checked: dict[str, tuple[int, int]] = {}
    for name, bounds in dict(lengths or {}).items():
        if name not in allowed:
            raise ConfigError(
                f"task.field_lengths.{name}: not a field a teacher writes here ({', '.join(allowed)})"
            )
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
            raise ConfigError(f"task.field_lengths.{name}={bounds!r} must be [min, max] characters")
        low, high = (int(value) for value in bounds)
        if not 0 <= low <= high or high < 1:
            raise ConfigError(f"task.field_lengths.{name}={list(bounds)}: need 0 <= min <= max and max >= 1")
        checked[str(name)] = (low, high)
    return checked


def build_task(cfg: Mapping[str, Any]) -> Task:
    """The Task of a `task` config block (conf/task/<name>.yaml), checked before any work starts."""
    from omegaconf import OmegaConf

    if OmegaConf.is_config(cfg):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    if cfg is None or not cfg.get("name"):
        raise ConfigError("task.name is not set: choose a task with task=NAME (conf/task/)")
    kind = get_kind(str(cfg.get("kind")))
    inputs = _text_list(cfg.get("inputs"), "task.inputs")
    if not inputs:
        raise ConfigError("task.inputs is empty: name the input fields of a record")
    main_field = str(cfg.get("main_field") or inputs[0])
    truncate_field = cfg.get("truncate_field")
    span_of = cfg.get("span_of")
    for key, value in (("main_field", main_field), ("truncate_field", truncate_field), ("span_of", span_of)):
        if value is not None and value not in inputs:
            raise ConfigError(f"task.{key}={value!r} is not one of task.inputs ({', '.join(inputs)})")
    prompt_cfg = dict(cfg.get("prompt") or {})
    if "input" not in prompt_cfg or "decision" not in prompt_cfg:
        raise ConfigError("task.prompt needs `input` (over the input fields) and `decision`")
    prompt = PromptTemplates(**{k: str(v) for k, v in prompt_cfg.items()})
    _check_templates(prompt, inputs, kind.placeholder)
    targets = _check_targets(cfg.get("targets") or {kind.placeholder: ["decision"]})  # "label" or "answer"
    default_target = str(cfg.get("target") or next(iter(targets)))
    if default_target not in targets:
        raise ConfigError(f"task.target={default_target!r} is not one of task.targets ({', '.join(targets)})")
    generate = GenerateSettings(**dict(cfg.get("generate") or {}))
    normalize = str((cfg.get("label_scoring") or {}).get("normalize", "none"))
    if normalize not in NORMALIZATIONS:
        raise ConfigError(f"task.label_scoring.normalize={normalize!r}: use none (sum) or mean")
    eval_mode = str(cfg.get("eval_mode") or kind.eval_modes[0])
    task = Task(
        name=str(cfg["name"]),
        kind=kind,
        input_fields=inputs,
        main_field=main_field,
        truncate_field=truncate_field,
        prompt=prompt,
        targets=targets,
        default_target=default_target,
        labels=_text_list(cfg.get("labels"), "task.labels"),
        generate=generate,
        label_normalize=normalize,
        metrics=_text_list(cfg.get("metrics"), "task.metrics"),
        optimized_metric=str(cfg.get("optimized_metric") or "val/acc"),
        eval_mode=eval_mode,
        group_by=cfg.get("group_by"),
        description=str(cfg.get("description") or f"{cfg['name']} examples"),
        reference_field=cfg.get("reference_field"),
        instruction=str(cfg.get("instruction") or cfg.get("description") or f"{cfg['name']} examples"),
        span_of=span_of,
    )
    task = dataclasses.replace(
        task, field_lengths=_check_field_lengths(cfg.get("field_lengths"), task.written_fields)
    )
    check_eval_mode(task, eval_mode)
    kind.check(task)
    return task


def check_eval_mode(task: Task, mode: str) -> None:
    if mode not in task.kind.eval_modes:
        raise ConfigError(
            f"eval.mode={mode!r} does not suit the {task.kind.name} task {task.name}: "
            f"use {' or '.join(task.kind.eval_modes)}"
        )


def conf_dir() -> Path:
    """This checkout's Hydra config directory (conf/ beside src/)."""
    return Path(__file__).resolve().parents[3] / "conf"


def load_task(name: str | None = None) -> Task:
    """The task of conf/task/<name>.yaml; without a name, the default task of `python train.py`."""
    from omegaconf import OmegaConf

    if name is None:
        defaults = OmegaConf.load(conf_dir() / "train.yaml").defaults
        name = next(str(item["task"]) for item in defaults if isinstance(item, Mapping) and "task" in item)
    path = conf_dir() / "task" / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"task={name} is unknown: there is no {path}")
    return build_task(OmegaConf.load(path).task)
