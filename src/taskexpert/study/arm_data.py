"""Make an arm's teacher data once, or find it made: `<augment.dir>/<arm>_a<augment seed>/`.

The directory holds one augment.py run directory per method (`<method>/augmented.jsonl`, `augment_stats.json`,
...) and `arm.json`, written atomically and last: the arm's data is complete when it exists. The jobs of an arm
take an exclusive lock on `<arm dir>.lock` first, so of two jobs started together one makes the data and the other
waits, then reuses it. A job killed while making it leaves no `arm.json`: the next one makes it again, the
teacher's answers coming from its cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from taskexpert.study.arm_file import check_identity, read_arm_file, write_arm_file
from taskexpert.study.arm_runs import (
    ArmData,
    ArmDataError,
    ArmRequest,
    count_records,
    run_method,
    teacher_price,
)
from taskexpert.study.llm2llm_rounds import prepare_rounds
from taskexpert.study.locking import exclusive_lock
from taskexpert.study.teacher_numbers import budget_left, exhausted, method_numbers, summed

log = logging.getLogger(__name__)


def prepare_arm(request: ArmRequest) -> ArmData:
    """The arm's data, made now (under the lock) or found made."""
    directory = request.directory
    with exclusive_lock(directory.with_name(directory.name + ".lock"), f"data arm {request.spec.name}"):
        stored = read_arm_file(directory)
        if stored is not None:
            check_identity(directory, stored, request.identity())
        if request.spec.in_rounds:
            return prepare_rounds(request, stored)
        if stored is not None:
            log.info(
                "data arm %s: reusing %d records from %s", request.spec.name, stored["records"], directory
            )
            return arm_data_from_file(directory, stored, reused=True, seconds=0.0)
        return make_methods(request)


def make_methods(request: ArmRequest) -> ArmData:
    """Run the arm's methods in order, each with what the shared budget has left; write arm.json last."""
    spec, directory = request.spec, request.directory
    started = time.perf_counter()
    parts: list[dict[str, Any]] = []
    for method in spec.methods:
        left = budget_left(spec.budget, summed(part["teacher"] for part in parts)) if spec.budget else None
        stop = exhausted(spec.budget, left) if left is not None else None
        if stop:  # nothing left for this method: the records so far are the arm's
            log.info("data arm %s: shared budget %s spent, method %s not run", spec.name, stop, method)
            parts.append({"method": method, "skipped": "budget", "records": 0, "records_file": None,
                          "teacher": summed([{"budget_stop": stop}])})  # fmt: skip
            continue
        run_dir = directory / method
        method_started = time.perf_counter()
        cfg, stats = run_method(request, method, run_dir, budget=left)
        records_file = run_dir / str(cfg.output.records)
        parts.append(
            {
                "method": method,
                "run_dir": str(run_dir),
                "records_file": str(records_file),
                "records": count_records(records_file),
                "requested": stats.get("requested"),
                "failed": stats.get("failed"),
                "failures": (stats.get("failures") or [])[:3],
                "teacher": method_numbers(stats, teacher_price(cfg)),
                "seconds": round(time.perf_counter() - method_started, 3),
            }
        )
    require_records(spec.name, parts, directory)
    seconds = round(time.perf_counter() - started, 3)
    teacher = summed(part["teacher"] for part in parts)
    teacher["budget_stop"] = shared_stop(spec.budget, teacher["budget_stop"])
    payload = {
        **request.identity(),
        "records_files": [part["records_file"] for part in parts if part["records"]],
        "records": sum(part["records"] for part in parts),
        "teacher": teacher,
        "methods_detail": parts,
        "seconds": seconds,
    }
    write_arm_file(directory, payload)
    log.info(
        "data arm %s: made %d records in %.1f s (%d teacher answers, %d paid calls)",
        spec.name, payload["records"], seconds, payload["teacher"]["answers"], payload["teacher"]["calls"],
    )  # fmt: skip
    return arm_data_from_file(directory, payload, reused=False, seconds=seconds)


def shared_stop(budget: dict[str, Any], stop: str | None) -> str | None:
    """A method stopped by its share of the arm's budget stopped the arm at the shared cap: name that one."""
    key = (stop or "").partition("=")[0]
    if key not in budget:
        return stop  # no stop, or the teacher's own teacher.budget stopped it
    return f"{key}={budget[key]:g}" if key == "max_cost" else f"{key}={budget[key]}"


def require_records(arm: str, parts: Sequence[dict[str, Any]], directory: Path) -> None:
    """An arm that kept no record fails its job: training on the seeds alone would pass for the arm."""
    if any(part["records"] for part in parts):
        return
    described = []
    for part in parts:
        if part.get("skipped"):
            described.append(f"{part['method']}: not run, budget spent")
            continue
        reasons = ", ".join(str(item.get("reason", "")) for item in part.get("failures") or [])
        described.append(
            f"{part['method']}: 0 kept of {part.get('requested')} requested, {part.get('failed') or 0} failed"
            + (f" ({reasons})" if reasons else "")
        )
    raise ArmDataError(
        f"data_arm={arm}: the arm kept no teacher record ({'; '.join(described)}): check the teacher "
        f"(augment.overrides) and run again (answers received are cached); stats under {directory}"
    )


def arm_data_from_file(directory: Path, payload: dict[str, Any], reused: bool, seconds: float) -> ArmData:
    return ArmData(
        directory=directory,
        records_files=list(payload["records_files"]),
        records=int(payload["records"]),
        teacher=dict(payload["teacher"]),
        reused=reused,
        seconds=seconds,
        methods_detail=list(payload.get("methods_detail") or []),
    )
