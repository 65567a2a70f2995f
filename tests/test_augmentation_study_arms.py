"""The arms that are more than one augment.py run: LLM2LLM in rounds (a job asking for more rounds extends the
loop, paying only the new rounds), and a mix of methods under one shared teacher budget that stops it. And the
arms that must stop their job: one whose teacher answers nothing, one whose teacher is not set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from servers.fault_server import FaultServer
from study_helpers import (
    SEEDS_ASKED,
    STUDENT,
    augment_overrides,
    fault_teacher,
    job_dirs,
    lines,
    read_json,
    run_study,
    server_tokens,
    study_dir,
    train_ids,
)

SAMPLE_TRAIN = 36
LLM2LLM = ["method.max_new_tokens=128"]  # the loop's students are the job's: tiny, 3 steps, on 6 seeds


def test_llm2llm_rounds_extend_one_loop_and_report_each_round(tmp_path):
    with FaultServer() as server:
        teacher = augment_overrides(fault_teacher(server, *LLM2LLM, max_seeds=False))
        run_study(
            tmp_path, "data_arm=llm2llm", "data_arm.rounds=1,2", "seed=1", "data.train_limit=6", teacher
        )
        requests = len(server.requests)
        prompt_tokens, _ = server_tokens(server)
    directory = study_dir(tmp_path)
    arm = read_json(directory / "arms" / "llm2llm_a42" / "arm.json")
    assert arm["rounds_made"] == 2 and [r["round"] for r in arm["rounds_detail"]] == [1, 2]
    records = {}
    for job in directory.glob("*/data_arm.json"):
        record = read_json(job)
        records[record["rounds"]] = record
    one, two = records[1], records[2]
    assert not one["reused"] and not two["reused"]  # the second job made round 2 only
    assert [r["round"] for r in two["rounds_detail"]] == [1, 2] and one["rounds_detail"] == two[
        "rounds_detail"
    ][:1]
    assert (
        two["teacher"]["answers"] == two["rounds_detail"][-1]["answers"] == requests
    )  # round 1 not paid twice
    assert two["teacher"]["prompt_tokens"] == prompt_tokens
    added = [r["added"] for r in arm["rounds_detail"]]
    assert one["records"] == added[0] and two["records"] == added[0] + added[1] > 0  # accumulated rounds
    assert two["records_files"] == [str(directory / "arms" / "llm2llm_a42" / "round_2.jsonl")]
    for record in (one, two):
        assert lines(Path(record["records_files"][0])) == record["records"]


def test_a_mix_shares_one_budget_and_keeps_what_it_made(tmp_path):
    """rewrite pays 6 of the 8 calls, new gets the 2 left and stops there: the records so far are the arm's."""
    with FaultServer() as server:
        teacher = augment_overrides(fault_teacher(server))
        run_study(tmp_path, "data_arm=mix", "data_arm.budget.max_calls=8", "seed=1", teacher)
        requests = len(server.requests)
    (job,) = job_dirs(study_dir(tmp_path)).values()
    record = read_json(job / "data_arm.json")
    assert requests == 8 == record["teacher"]["calls"]
    assert record["teacher"]["budget_stop"] == "max_calls=8"  # the arm's shared cap stopped it ...
    rewrite, new = record["methods_detail"]
    assert (rewrite["method"], rewrite["teacher"]["calls"]) == ("rewrite", SEEDS_ASKED)
    assert (new["method"], new["teacher"]["calls"]) == ("new", 2)
    assert new["teacher"]["budget_stop"] == "max_calls=2"  # ... in new, which had the 2 calls left of it
    assert record["records"] == rewrite["records"] + new["records"] and new["records"] <= 2
    assert len(train_ids(job)) == SAMPLE_TRAIN + record["records"]


def failing_job(tmp_path, *teacher: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "train.py", "data_arm=rewrite", *STUDENT, f"paths.output_root={tmp_path}",
        f"hydra.run.dir={tmp_path / 'job'}", augment_overrides(list(teacher)),
    ]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_an_arm_whose_teacher_answers_nothing_fails_its_job_in_one_line(tmp_path):
    with FaultServer(plan={"": ["always_500"]}) as server:  # "" is in every prompt
        result = failing_job(tmp_path, *fault_teacher(server))
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "data_arm=rewrite: the arm kept no teacher record" in errors[0]
    assert "6 failed" in errors[0]
    assert not (tmp_path / "job" / "metrics.json").exists()  # it did not train on the seeds alone
    assert not (tmp_path / "job" / "data_arm.json").exists()


def test_an_arm_without_its_teacher_model_says_which_key_to_set(tmp_path):
    result = failing_job(tmp_path, "teacher=hf")  # teacher.model is required
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "data_arm=rewrite: teacher.model is required" in errors[0], result.stderr[
        -2000:
    ]


def test_a_secret_inside_augment_overrides_reaches_no_file(tmp_path):
    """A key given as a value inside `augment.overrides` moves to the environment like a top-level one: Hydra's
    overrides.yaml, the job's and the arm's files, the cache and the console hold it by reference only."""
    import uuid

    secret = f"sk-listed-{uuid.uuid4().hex}"
    with FaultServer() as server:
        teacher = fault_teacher(server, f"+wandb.api_key={secret}")  # augment.py's W&B block
        result = run_study(tmp_path, "data_arm=rewrite", "seed=1", augment_overrides(teacher))
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.name == "overrides.yaml" for path in written) and any(
        p.name == "arm.json" for p in written
    )
    assert [str(path) for path in written if secret.encode() in path.read_bytes()] == []
    assert secret not in result.stdout + result.stderr
    overrides = next(path for path in written if path.name == "overrides.yaml").read_text()
    assert "+wandb.api_key=${oc.env:" in overrides
