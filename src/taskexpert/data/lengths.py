"""`data.max_length: auto`: the records' token lengths measured once, and the length that fits them.

Every record of every split is measured as the encoder builds it (prompt + target + eos for training; prompt +
what evaluation adds for evaluation), with the run's tokenizer. The smallest length that holds them all is chosen,
capped by the model's context window and `data.max_length_cap`. A record over the chosen length is handled by
`data.too_long`: error (all of them named in one message), skip (dropped and counted per split) or truncate (the
task's truncate_field is cut). Measurements are cached under `$TASKEXPERT_CACHE/lengths`, keyed by the data
files' contents, the tokenizer and the prompt settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from taskexpert.data.encoding import ExampleEncoder, RecordLength
from taskexpert.data.splits import Splits
from taskexpert.errors import ConfigError
from taskexpert.models.cache_dir import cache_root
from taskexpert.tasks.task import Task
from taskexpert.utils.atomic import atomic_write_json

log = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "validation", "test")
METRIC_SPLIT = {"train": "train", "validation": "val", "test": "test"}  # metrics.json's split prefixes
TOO_LONG = ("error", "skip", "truncate")
SHOWN_IDS = 5  # offending records named in an error message
UNSET_LENGTHS = 10**9  # tokenizers without a real limit report about 1e30 (transformers' VERY_LARGE_INTEGER)


def length_setting(data_cfg: Any) -> int | str:
    """`data.max_length` as the run uses it: an int, or "auto". The bundled samples keep their fixed
    `data.sample_max_length` under `auto`, so sample runs are the same as with a fixed length."""
    value = data_cfg.get("max_length", "auto")
    if value is None or str(value) == "auto":
        sample = data_cfg.get("sample_max_length")
        if sample is not None and str(data_cfg.get("path") or "").startswith("sample:"):
            return int(sample)
        return "auto"
    if isinstance(value, bool) or not str(value).isdigit() or int(value) <= 0:
        raise ConfigError(f"data.max_length={value!r}: use a positive number of tokens, or auto")
    return int(value)


def too_long_policy(data_cfg: Any, task: Task) -> str:
    """`data.too_long`, null meaning the task's way: truncate its truncate_field, else an error."""
    policy = data_cfg.get("too_long")
    if policy is None:
        return "truncate" if task.truncate_field else "error"
    if policy not in TOO_LONG:
        raise ConfigError(f"data.too_long={policy!r} is unknown: use one of {', '.join(TOO_LONG)}")
    if policy == "truncate" and not task.truncate_field:
        raise ConfigError(
            f"data.too_long=truncate cuts the task's truncate_field, but task {task.name} has none "
            "(task.truncate_field=null): use data.too_long=error or skip"
        )
    return policy


def context_window(model_config: Any, tokenizer: Any) -> int | None:
    """The model's longest sequence: config.max_position_embeddings or tokenizer.model_max_length, the smaller
    of those that are set (tokenizers without a limit report an enormous number)."""
    limits = [
        getattr(model_config, "max_position_embeddings", None) if model_config is not None else None,
        getattr(tokenizer, "model_max_length", None),
    ]
    real = [int(limit) for limit in limits if isinstance(limit, int) and 0 < limit < UNSET_LENGTHS]
    return min(real) if real else None


def measuring_encoder(cfg: Any, tokenizer: Any, task: Task) -> ExampleEncoder:
    """An encoder set up as the run's (eval mode, target, tokens to generate), without a length."""
    return ExampleEncoder(
        tokenizer,
        task,
        None,
        cfg.eval.get("mode"),
        target=cfg.data.get("target"),
        missing_rationale=cfg.data.get("missing_rationale", "label_only"),
        max_new_tokens=cfg.eval.get("max_new_tokens"),
    )


# --- the cache ---------------------------------------------------------------------------------------


def _file_digest(path: Path, digest: Any) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)


def data_fingerprint(paths: list[str]) -> str | None:
    """A digest of the files' contents (a folder: every file in it); None when one is not a local file
    (a hub id), which is then measured every time."""
    digest = hashlib.blake2b(digest_size=16)
    for name in paths:
        path = Path(name)
        if path.is_file():
            files = [path]
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
        else:
            return None
        for file in files:
            digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
            _file_digest(file, digest)
    return digest.hexdigest()


def tokenizer_identity(tokenizer: Any) -> str:
    """What makes two tokenizers count alike: their vocabulary and rules (the fast tokenizer's whole
    definition when there is one), special tokens and class."""
    digest = hashlib.blake2b(digest_size=16)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        digest.update(backend.to_str().encode())
    else:
        digest.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    specials = [type(tokenizer).__name__, tokenizer.bos_token_id, tokenizer.eos_token_id, len(tokenizer)]
    digest.update(json.dumps(specials).encode())
    return digest.hexdigest()


def _settings_identity(cfg: Any) -> str:
    """The task (prompt, fields, targets) and the data settings that change the text each record becomes."""
    task = OmegaConf.to_container(cfg.task, resolve=True) if OmegaConf.is_config(cfg.task) else cfg.task
    data = cfg.data
    options = data.get("options")
    settings = {
        "task": task,
        "reader": data.get("reader"),
        "options": OmegaConf.to_container(options, resolve=True) if OmegaConf.is_config(options) else options,
        "target": data.get("target"),
        "missing_rationale": data.get("missing_rationale", "label_only"),
    }
    return json.dumps(settings, sort_keys=True, default=str)


def cache_file(cfg: Any, tokenizer: Any, files: list[str], cache_dir: Path | None = None) -> Path | None:
    fingerprint = data_fingerprint(files)
    if fingerprint is None:
        return None
    key = hashlib.blake2b(digest_size=16)
    for part in (fingerprint, tokenizer_identity(tokenizer), _settings_identity(cfg)):
        key.update(part.encode())
    return (cache_dir or cache_root() / "lengths") / f"{key.hexdigest()}.json"


def _read_cache(path: Path | None) -> dict[str, list[int]]:
    if path is None or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())["lengths"]
    except (OSError, ValueError, KeyError):  # a damaged cache is measured again
        return {}


def measure_splits(
    encoder: ExampleEncoder,
    splits: Splits,
    cache: Path | None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, list[RecordLength]], bool]:
    """Split name -> each record's lengths, from the cache where it has them; (lengths, cache was complete)."""
    cached = _read_cache(cache)
    missing = [
        (name, record)
        for name in SPLIT_NAMES
        for record in getattr(splits, name)
        if f"{name}:{record.id}" not in cached
    ]
    if missing:
        measured = encoder.measure([record for _, record in missing], on_progress)
        for (name, _), length in zip(missing, measured, strict=True):
            cached[f"{name}:{length.id}"] = [length.fixed, length.field, length.target]
        if cache is not None:
            atomic_write_json(cache, {"lengths": cached})
    lengths = {
        name: [RecordLength(record.id, *cached[f"{name}:{record.id}"]) for record in getattr(splits, name)]
        for name in SPLIT_NAMES
    }
    return lengths, not missing


# --- choosing the length and applying data.too_long ----------------------------------------------------


@dataclass
class LengthPlan:
    """What the run uses: the length, how it was chosen, and the records over it."""

    max_length: int
    setting: int | str  # data.max_length as configured ("auto" or a number)
    fits_all: int  # the smallest length that holds every record
    too_long: str  # the policy applied
    context_window: int | None
    cap: int | None  # data.max_length_cap
    over: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # split -> (id, tokens needed)
    skipped: dict[str, list[str]] = field(default_factory=dict)
    cache_hit: bool = False

    def summary(self) -> dict[str, Any]:
        """For splits.json and the log."""
        return {
            "max_length": self.max_length,
            "setting": self.setting,
            "fits_all": self.fits_all,
            "context_window": self.context_window,
            "max_length_cap": self.cap,
            "too_long": self.too_long,
            "over": {name: len(rows) for name, rows in self.over.items()},
            "skipped": self.skipped,
            "skipped_count": {name: len(ids) for name, ids in self.skipped.items()},
        }

    def metrics(self) -> dict[str, int]:
        """For metrics.json: the length, and the items skipped beside the split metrics they change."""
        metrics = {"data/max_length": self.max_length, "data/fits_all": self.fits_all}
        if self.too_long == "skip":
            for name in SPLIT_NAMES:
                metrics[f"{METRIC_SPLIT[name]}/skipped_too_long"] = len(self.skipped.get(name, []))
        return metrics

    def describe(self) -> str:
        how = (
            f"auto: {self.fits_all} fits every record"
            if self.setting == "auto"
            else f"data.max_length={self.setting}"
        )
        if self.setting == "auto" and self.max_length < self.fits_all:
            how += f", capped at {self.max_length}"
        line = f"max_length {self.max_length} ({how})"
        counted = {name: len(rows) for name, rows in self.over.items() if rows}
        if counted:
            verb = {"skip": "skipped", "truncate": "truncated", "error": "over"}[self.too_long]
            line += "; " + ", ".join(f"{name}: {count} {verb}" for name, count in counted.items())
        return line


def _over_message(plan: LengthPlan, what: str, hint: str) -> str:
    rows = [(name, rid, need) for name, entries in plan.over.items() for rid, need in entries]
    rows.sort(key=lambda row: -row[2])
    per_split = ", ".join(f"{name}: {len(entries)}" for name, entries in plan.over.items() if entries)
    shown = "; ".join(f"{name} {rid} ({need})" for name, rid, need in rows[:SHOWN_IDS])
    more = f"; and {len(rows) - SHOWN_IDS} more" if len(rows) > SHOWN_IDS else ""
    return (
        f"{len(rows)} records {what} data.max_length={plan.max_length} tokens ({per_split}); the longest: "
        f"{shown}{more}. data.max_length={plan.fits_all} fits them all{hint}"
    )


def _limits_hint(plan: LengthPlan) -> str:
    limits = []
    if plan.context_window is not None and plan.fits_all > plan.context_window:
        limits.append(f"the model's context window is {plan.context_window}")
    if plan.cap is not None and plan.fits_all > plan.cap:
        limits.append(f"data.max_length_cap={plan.cap}")
    return f", but {' and '.join(limits)}" if limits else ""


def plan_lengths(
    lengths: dict[str, list[RecordLength]],
    eval_budget: int,
    setting: int | str,
    policy: str,
    window: int | None,
    cap: int | None,
) -> LengthPlan:
    """Choose the length and find the records over it; raises for `error` (and for records that `truncate`
    cannot cut short enough), naming all of them."""
    needs = {name: [(item.id, item.needed(eval_budget)) for item in items] for name, items in lengths.items()}
    fits_all = max((need for items in needs.values() for _, need in items), default=1)
    if setting == "auto":
        limits = [limit for limit in (window, cap) if limit is not None]
        chosen = min([fits_all, *limits])
    else:
        chosen = int(setting)
    plan = LengthPlan(chosen, setting, fits_all, policy, window, cap)
    plan.over = {name: [(rid, need) for rid, need in items if need > chosen] for name, items in needs.items()}
    hint = _limits_hint(plan)
    if not any(plan.over.values()):
        return plan
    if policy == "error":
        fix = "raise data.max_length (or set it to auto), or " if not hint else ""
        raise ConfigError(
            _over_message(plan, "need more than", hint) + f": {fix}set data.too_long=skip to drop them"
        )
    if policy == "truncate":
        short = {
            (name, item.id): item.minimum(eval_budget) for name, items in lengths.items() for item in items
        }
        uncuttable = LengthPlan(chosen, setting, fits_all, policy, window, cap)
        uncuttable.over = {
            name: [(rid, need) for rid, need in rows if short[name, rid] > chosen]
            for name, rows in plan.over.items()
        }
        if any(uncuttable.over.values()):
            raise ConfigError(
                _over_message(uncuttable, "do not fit even with their truncate_field cut, in", hint)
                + ": raise data.max_length, or set data.too_long=skip to drop them"
            )
    return plan


def apply_plan(plan: LengthPlan, splits: Splits) -> None:
    """Drop the records over the length when skipping, and record the plan in the splits' settings."""
    if plan.too_long == "skip":
        for name in SPLIT_NAMES:
            over = {rid for rid, _ in plan.over.get(name, [])}
            plan.skipped[name] = [record.id for record in getattr(splits, name) if record.id in over]
            setattr(splits, name, [record for record in getattr(splits, name) if record.id not in over])
    splits.settings["lengths"] = plan.summary()


def fit_lengths(
    cfg: Any,
    splits: Splits,
    tokenizer: Any,
    task: Task,
    model_config: Any = None,
    cache_dir: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> LengthPlan:
    """Measure the splits (cached), choose the length, apply `data.too_long` to `splits`, and log it."""
    setting = length_setting(cfg.data)
    policy = too_long_policy(cfg.data, task)
    cap = cfg.data.get("max_length_cap")
    encoder = measuring_encoder(cfg, tokenizer, task)
    files = [str(splits.settings.get("path") or ""), *splits.settings.get("extra_train", [])]
    cache = cache_file(cfg, tokenizer, files, cache_dir)
    lengths, hit = measure_splits(encoder, splits, cache, on_progress)
    window = context_window(model_config, tokenizer)
    plan = plan_lengths(lengths, encoder.eval_budget, setting, policy, window, int(cap) if cap else None)
    plan.cache_hit = hit
    apply_plan(plan, splits)
    log.info("%s%s", plan.describe(), " (lengths from the cache)" if hit else "")
    for name, ids in plan.skipped.items():
        if ids:
            log.warning(
                "%s: %d records over %d tokens skipped (data.too_long=skip): %s",
                name,
                len(ids),
                plan.max_length,
                ", ".join(ids[:SHOWN_IDS]) + (" ..." if len(ids) > SHOWN_IDS else ""),
            )
    return plan
