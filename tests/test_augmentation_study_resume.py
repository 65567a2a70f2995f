"""The augmentation study under interruption and concurrency, with real processes: two jobs of one arm started
together pay its teacher once (the arm's file lock), and a study killed with SIGKILL (its whole process group)
mid-augmentation and again mid-training, then run again with the same command, ends with every job's
metrics.json and predictions.jsonl equal to the bit to those of a study never interrupted, no answer paid twice."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT
from servers.fault_server import FaultServer
from study_helpers import (
    SEEDS_ASKED,
    STUDENT,
    augment_overrides,
    fault_teacher,
    job_dirs,
    kill_when,
    read_json,
    report_files,
    run_study,
    start_study,
    study_dir,
)

CHECKPOINTED = ["trainer.max_steps=12", "trainer.max_epochs=100", "checkpoint.every_n_train_steps=3"]


def single_job(output_root, run_dir, arms_dir, server) -> subprocess.Popen:
    command = [
        sys.executable, "train.py", "data_arm=rewrite", *STUDENT, "checkpoint.enabled=false",
        f"augment.dir={arms_dir}", f"hydra.run.dir={run_dir}", f"paths.output_root={output_root}",
        augment_overrides(fault_teacher(server, "teacher.max_concurrency=1")),
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_jobs_of_one_arm_started_together_pay_once(tmp_path):
    """The teacher answers slowly (0.6 s each, one at a time), so the second job reaches the arm while the first
    is making it: it waits on the lock, then reuses the data."""
    arms = tmp_path / "arms"
    with FaultServer(delay=0.6) as server:
        jobs = [single_job(tmp_path, tmp_path / f"job{n}", arms, server) for n in (0, 1)]
        outputs = [job.communicate(timeout=300)[0] for job in jobs]
        requests = len(server.requests)
    assert [job.returncode for job in jobs] == [0, 0], outputs
    assert requests == SEEDS_ASKED
    records = [read_json(tmp_path / f"job{n}" / "data_arm.json") for n in (0, 1)]
    assert sorted(record["reused"] for record in records) == [False, True]
    waited = [
        n for n in (0, 1) if "another job is making it" in (tmp_path / f"job{n}" / "train.log").read_text()
    ]
    assert len(waited) == 1 and records[waited[0]]["reused"]  # the one that waited reused
    assert records[0]["records_files"] == records[1]["records_files"]
    assert records[0]["teacher"] == records[1]["teacher"]


def request_bodies(requests) -> list[str]:
    return [json.dumps(entry["body"], sort_keys=True) for entry in requests]


def test_a_study_killed_twice_resumes_to_the_uninterrupted_result(tmp_path):
    reference_root, killed_root = tmp_path / "reference", tmp_path / "killed"
    with FaultServer(delay=0.15) as server:
        teacher = augment_overrides(fault_teacher(server, "teacher.max_concurrency=1"))
        args = ["data_arm=none,rewrite", "seed=1,2", *CHECKPOINTED, teacher]
        run_study(reference_root, *args)
        paid_by_reference = len(server.requests)

        study = start_study(killed_root, *args)  # killed mid-augmentation, the third answer in flight
        kill_when(study, lambda: len(server.requests) >= paid_by_reference + 3)
        assert not (study_dir(killed_root) / "arms" / "rewrite_a42" / "arm.json").exists()

        second_job = study_dir(killed_root) / "3"  # rewrite, seed 2: after its arm's data was made
        study = start_study(killed_root, *args)  # killed mid-training of that job
        kill_when(study, lambda: (second_job / "checkpoints" / "last.ckpt").is_file())
        assert not (second_job / "metrics.json").exists()

        finished = run_study(killed_root, *args)
        paid_by_killed = server.requests[paid_by_reference:]
        bodies = request_bodies(paid_by_killed)
    assert len(set(bodies)) == SEEDS_ASKED == paid_by_reference  # every answer received was cached ...
    assert len(bodies) <= SEEDS_ASKED + 1  # ... only the one in flight at the kill was asked again
    assert "finished before with this config" in finished.stdout + finished.stderr
    assert "Resuming from" in (second_job / "train.log").read_text()

    reference, killed = job_dirs(study_dir(reference_root)), job_dirs(study_dir(killed_root))
    assert sorted(reference) == sorted(killed) == ["none/1", "none/2", "rewrite/1", "rewrite/2"]
    for name in reference:
        for file in ("metrics.json", "predictions.jsonl"):
            assert (killed[name] / file).read_bytes() == (reference[name] / file).read_bytes(), (name, file)
        made, remade = read_json(reference[name] / "data_arm.json"), read_json(killed[name] / "data_arm.json")
        for key in ("answers", "prompt_tokens", "completion_tokens"):
            assert remade["teacher"][key] == made["teacher"][key], key
        assert remade["records"] == made["records"] and remade["finished"]
    # the verdict too: the same report as the uninterrupted study's
    reports = [report_files(study_dir(root)) for root in (reference_root, killed_root)]
    assert reports[0] == reports[1] and "rewrite" in reports[0]["summary.csv"]
