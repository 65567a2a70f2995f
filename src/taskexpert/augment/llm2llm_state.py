"""What an LLM2LLM run keeps on disk, how a re-run finds where it stopped, and what the final outputs hold.

Layout of the run directory:
- `iter_<k>/` is iteration k's training run (metrics.json, predictions.jsonl, adapter/, checkpoints/),
  plus `train_extra.jsonl` (the generated records it trained on besides the seeds), `added.jsonl` (the
  records the teacher wrote after it) and `rejected.jsonl` (answers not kept);
- `llm2llm_history.json` holds one entry per finished iteration (with that round's teacher tokens and
  cost). It is written last, atomically, so an
  entry exists only when everything of that iteration is on disk: finished iterations are never redone,
  an iteration without an entry is picked up where it stopped (its training is skipped when its
  metrics.json exists; otherwise it resumes from its last.ckpt; teacher answers come from the cache).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from taskexpert.augment.generation import GenerationResult
from taskexpert.augment.method import RoundsOutcome
from taskexpert.errors import ConfigError, DataError
from taskexpert.records import Record, iter_json_lines, read_jsonl
from taskexpert.utils.atomic import atomic_write_json, atomic_write_text
from taskexpert.utils.json_lines import json_objects

HISTORY_FILE = "llm2llm_history.json"
# Settings that change what an iteration produces: a run directory cannot mix them.
SETTINGS_KEYS = (
    "n_per_wrong", "from_scratch", "only_seed_errors", "accumulate", "seed_selection", "max_hard_seeds",
)  # fmt: skip
# a round's teacher ledger (augment/spend.py): paid tokens and their cost; cached answers' tokens apart
ROUND_SPEND_KEYS = (
    "prompt_tokens", "completion_tokens", "cached_prompt_tokens", "cached_completion_tokens", "cost_usd",
)  # fmt: skip
ROUND_KEYS = ("iteration", "requested", "added", "teacher_calls", "cache_hits", *ROUND_SPEND_KEYS)
EVAL_METRICS = ("val/acc", "val/macro_f1", "test/acc", "test/macro_f1", "train/acc", "train/macro_f1")
# the answer and span kinds' metrics, in the history when the task has them
OTHER_METRICS = tuple(
    f"{split}/{name}"
    for split in ("val", "test", "train")
    for name in ("exact_match", "parse_failure_rate", "f1", "bleu")
)


def iteration_dir(run_dir: Path, iteration: int) -> Path:
    return run_dir / f"iter_{iteration}"


def added_path(run_dir: Path, iteration: int) -> Path:
    return iteration_dir(run_dir, iteration) / "added.jsonl"


def training_finished(run_dir: Path, iteration: int) -> bool:
    """metrics.json is written after predictions.jsonl and the adapter: its presence means training ended."""
    return (iteration_dir(run_dir, iteration) / "metrics.json").is_file()


def load_history(run_dir: Path, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The finished iterations of this run directory (empty for a new run), checked for consistency."""
    path = run_dir / HISTORY_FILE
    if not path.is_file():
        return []
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(str(path), "-", f"is not valid JSON ({error})", "delete it to start over") from None
    stored = payload.get("settings", {})
    changed = [key for key in SETTINGS_KEYS if key in stored and stored[key] != settings.get(key)]
    if changed:
        key = changed[0]
        raise ConfigError(
            f"{path}: this run was made with method.{key}={stored[key]!r}, now {settings.get(key)!r}; "
            "use a new run directory (hydra.run.dir=...) or the same settings"
        )
    entries = payload.get("iterations", [])
    for expected, entry in enumerate(entries, start=1):
        if entry.get("iteration") != expected:
            raise DataError(
                str(path), "iteration", f"entry {expected} says {entry.get('iteration')!r}", "delete it"
            )
        if not added_path(run_dir, expected).is_file():
            raise DataError(
                str(added_path(run_dir, expected)),
                "-",
                "is missing for a finished iteration",
                "delete the run",
            )
    return entries


def save_history(run_dir: Path, settings: dict[str, Any], entries: list[dict[str, Any]]) -> Path:
    return atomic_write_json(
        run_dir / HISTORY_FILE, {"method": "llm2llm", "settings": settings, "iterations": entries}
    )


def load_added(run_dir: Path, iterations: int) -> list[list[Record]]:
    """The records added by iterations 1..iterations, one list per iteration."""
    return [read_jsonl(added_path(run_dir, k)) for k in range(1, iterations + 1)]


def current_extra(added: list[list[Record]], accumulate: bool) -> list[Record]:
    """The generated records the next student trains on: all so far, or only the latest iteration's."""
    if not added:
        return []
    return [record for batch in added for record in batch] if accumulate else list(added[-1])


def write_if_changed(path: Path, records: list[Record]) -> Path:
    """Write records atomically, leaving the file (and its mtime) alone when the content is the same."""
    text = "".join(iter_json_lines(records))
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        atomic_write_text(path, text)
    return path


def read_train_predictions(run_dir: Path, iteration: int) -> dict[str, dict[str, Any]]:
    """id -> prediction row of the training split scored at the end of iteration `iteration`."""
    path = iteration_dir(run_dir, iteration) / "predictions.jsonl"
    if not path.is_file():
        raise DataError(str(path), "-", "does not exist", "the iteration's training did not finish")
    rows: dict[str, dict[str, Any]] = {}
    for where, row in json_objects(path):
        if row.get("split") == "train":
            if "id" not in row or "pred" not in row:
                raise DataError(where, "pred", "is missing", "re-run the iteration")
            rows[str(row["id"])] = row
    return rows


def json_line(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False) + "\n"


def history_entry(
    iteration: int,
    metrics: dict[str, Any],
    seeds: list[Record],
    wrong_seeds: list,
    wrong_generated: list,
    extra: list[Record],
    result: GenerationResult,
    train_seconds: float,
) -> dict[str, Any]:
    stats = result.stats()
    return {
        "iteration": iteration,
        "seeds": len(seeds),
        "trained_on_generated": len(extra),
        "seed_train_acc": round(1 - len(wrong_seeds) / len(seeds), 6) if seeds else None,
        "wrong": len(wrong_seeds),
        "wrong_generated": len(wrong_generated),
        "requested": stats["requested"],
        "added": stats["kept"],
        "rejected": stats["rejected"],
        "teacher_calls": stats["generated"],
        "cache_hits": stats["cache_hits"],
        "teacher_failed": stats["failed"],
        "teacher_seconds": stats["teacher_seconds"],
        **{key: result.spend.get(key) for key in ROUND_SPEND_KEYS},  # this round's teacher ledger
        "train_seconds": round(train_seconds, 3),
        **{name: metrics.get(name) for name in EVAL_METRICS},
        **{name: metrics[name] for name in OTHER_METRICS if name in metrics},
        "global_step": metrics.get("global_step"),
    }


def final_outcome(
    run_dir: Path,
    settings: dict[str, Any],
    history: list[dict[str, Any]],
    added: list[list[Record]],
    labelled: bool,
) -> RoundsOutcome:
    """The final dataset, every iteration's rejected answers, the totals over the iterations and each round's
    ledger (`rounds`), for the runner to write (augmented.jsonl, augment_rejected.jsonl, augment_stats.json)."""
    final = current_extra(added, settings["accumulate"])
    rejected_rows = [
        json.loads(line)
        for entry in history
        for line in (iteration_dir(run_dir, entry["iteration"]) / "rejected.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
        if line.strip()
    ]
    rejected: Counter = Counter()
    for entry in history:
        rejected.update(entry["rejected"])
    stats = {
        "settings": settings,
        "iterations": len(history),
        "seeds": history[-1]["seeds"] if history else 0,
        "kept": len(final),  # the final dataset: what `train.py data.extra_train=[...]` would add
        **({"kept_by_label": dict(sorted(Counter(r.target for r in final).items()))} if labelled else {}),
        "added_total": sum(entry["added"] for entry in history),
        "requested": sum(entry["requested"] for entry in history),
        "teacher_calls": sum(entry["teacher_calls"] for entry in history),
        "cache_hits": sum(entry["cache_hits"] for entry in history),
        "failed": sum(entry["teacher_failed"] for entry in history),
        "rejected": dict(sorted(rejected.items())),
        "final": {name: history[-1].get(name) for name in EVAL_METRICS} if history else {},
        "rounds": [{key: entry.get(key) for key in ROUND_KEYS} for entry in history],
    }
    return RoundsOutcome(final, rejected_rows, stats, history)
