"""An LLM2LLM arm, made round by round in one loop directory (`<arm dir>/llm2llm/`).

Round k runs the llm2llm method with `method.iterations=k`: the loop finds rounds 1..k-1 finished in its run
directory and does round k alone, so that process's teacher numbers are round k's. After each round its training
data (`augmented.jsonl`: rounds 1..k, or round k alone under `method.accumulate=false`) is kept as
`round_<k>.jsonl` with its guard sidecar, and arm.json records the rounds made. A job asking for more rounds than
are made extends the loop; one asking for fewer or as many reuses what is there.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from taskexpert.data.split_meta import meta_path
from taskexpert.study.arm_file import write_arm_file
from taskexpert.study.arm_runs import (
    ArmData,
    ArmDataError,
    ArmRequest,
    count_records,
    run_method,
    teacher_price,
)
from taskexpert.study.teacher_numbers import budget_left, exhausted, method_numbers, summed
from taskexpert.utils.atomic import atomic_write_text

log = logging.getLogger(__name__)
METHOD = "llm2llm"


def round_file(directory: Path, round_number: int) -> Path:
    return directory / f"round_{round_number}.jsonl"


def keep_round_data(loop_dir: Path, records_name: str, target: Path) -> None:
    """Copy the loop's training data as it is after this round, and its guard sidecar, atomically."""
    source = loop_dir / records_name
    atomic_write_text(target, source.read_text(encoding="utf-8") if source.is_file() else "")
    if meta_path(source).is_file():
        atomic_write_text(meta_path(target), meta_path(source).read_text(encoding="utf-8"))


def prepare_rounds(request: ArmRequest, stored: dict[str, Any] | None) -> ArmData:
    spec, directory = request.spec, request.directory
    wanted = int(spec.rounds or 0)
    rounds: list[dict[str, Any]] = list((stored or {}).get("rounds_detail") or [])
    loop_dir = directory / METHOD
    started, made_now = time.perf_counter(), 0
    for round_number in range(len(rounds) + 1, wanted + 1):
        left = budget_left(spec.budget, summed(r["teacher"] for r in rounds)) if spec.budget else None
        if left is not None and exhausted(spec.budget, left):
            raise_budget_spent(spec.name, exhausted(spec.budget, left), round_number)
        round_started = time.perf_counter()
        cfg, stats = run_method(request, METHOD, loop_dir, budget=left, iterations=round_number)
        target = round_file(directory, round_number)
        keep_round_data(loop_dir, str(cfg.output.records), target)
        rounds.append(
            {
                "round": round_number,
                "added": count_records(loop_dir / f"iter_{round_number}" / "added.jsonl"),
                "records_file": str(target),
                "records": count_records(target),
                "teacher": method_numbers(stats, teacher_price(cfg)),
                "seconds": round(time.perf_counter() - round_started, 3),
            }
        )
        made_now += 1
        write_arm_file(directory, {**request.identity(), "rounds_made": len(rounds), "rounds_detail": rounds})
        log.info("data arm %s: round %d made, %d records", spec.name, round_number, rounds[-1]["records"])
    used = rounds[:wanted]
    last = used[-1]
    if not last["records"]:  # the loop added nothing the student could train on
        failed = sum(r["teacher"]["failed"] for r in used)
        raise ArmDataError(
            f"data_arm={spec.name}: rounds 1..{wanted} of LLM2LLM added no teacher record ({failed} teacher "
            f"requests failed): check the teacher (augment.overrides) and run again; stats under {loop_dir}"
        )
    if not made_now:
        log.info("data arm %s: reusing rounds 1..%d from %s", spec.name, wanted, directory)
    return ArmData(
        directory=directory,
        records_files=[last["records_file"]],
        records=int(last["records"]),
        teacher=summed(r["teacher"] for r in used),
        reused=made_now == 0,
        seconds=round(time.perf_counter() - started, 3) if made_now else 0.0,
        rounds_detail=cumulative(used),
    )


def cumulative(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per round: the records trained on with that many rounds, and the teacher's numbers up to it."""
    detail = []
    for index, entry in enumerate(rounds):
        numbers = summed(r["teacher"] for r in rounds[: index + 1])
        detail.append(
            {
                "round": entry["round"],
                "records": entry["records"],
                "added": entry["added"],
                "answers": numbers["answers"],
                "calls": numbers["calls"],
                "prompt_tokens": numbers["prompt_tokens"],
                "completion_tokens": numbers["completion_tokens"],
                "cost_usd": numbers["cost_usd"],
            }
        )
    return detail


def raise_budget_spent(arm: str, stop: str | None, round_number: int) -> None:
    raise ArmDataError(
        f"data_arm={arm}: the shared budget ({stop}) is spent before round {round_number}: "
        f"raise data_arm.budget or lower data_arm.rounds"
    )
