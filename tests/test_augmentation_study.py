"""The augmentation study, launched as a user launches it (`train.py -m sweep=augmentation`) on the bundled
sample, with a real HTTP teacher of ours (tests/servers/fault_server.py, which reports `usage`) or the tiny local
teacher: an arm's data is made once for all its jobs, every job trains on it and says what it took."""

from __future__ import annotations

from servers.fault_server import FaultServer
from study_helpers import (
    FEW_SEEDS,
    QUIET,
    SEEDS_ASKED,
    TINY_TEACHER,
    augment_overrides,
    fault_teacher,
    job_dirs,
    lines,
    read_json,
    report_files,
    run_study,
    server_tokens,
    study_dir,
    train_ids,
)

SAMPLE_TRAIN = 36  # training records of the bundled PubMedQA sample


def test_a_study_makes_each_arm_once_and_counts_the_teachers_tokens(tmp_path):
    with FaultServer() as server:
        run_study(tmp_path, "data_arm=none,rewrite", "seed=1,2", augment_overrides(fault_teacher(server)))
        requests = len(server.requests)
        prompt_tokens, completion_tokens = server_tokens(server)
    assert requests == SEEDS_ASKED  # the rewrite arm's data was paid once, for both seeds
    jobs = job_dirs(study_dir(tmp_path))
    assert sorted(jobs) == ["none/1", "none/2", "rewrite/1", "rewrite/2"]
    arm_dir = study_dir(tmp_path) / "arms" / "rewrite_a42"
    records_file = arm_dir / "rewrite" / "augmented.jsonl"
    assert (arm_dir / "arm.json").is_file()
    made, reused = (read_json(jobs[f"rewrite/{seed}"] / "data_arm.json") for seed in (1, 2))
    assert (made["reused"], reused["reused"]) == (False, True)
    for record in (made, reused):
        assert (
            record["arm"] == "rewrite" and record["methods"] == ["rewrite"] and record["augment_seed"] == 42
        )
        assert record["records_files"] == [str(records_file)] and record["records"] == lines(records_file) > 0
        teacher = record["teacher"]
        assert (teacher["prompt_tokens"], teacher["completion_tokens"]) == (prompt_tokens, completion_tokens)
        assert teacher["answers"] == teacher["calls"] == requests and teacher["cache_hits"] == 0
        assert teacher["cost_usd"] is None  # the fault model is not in teacher.pricing
    assert reused["seconds"]["augment"] == 0.0 < made["seconds"]["augment"]
    for seed in (1, 2):
        plain, augmented = jobs[f"none/{seed}"], jobs[f"rewrite/{seed}"]
        none_record = read_json(plain / "data_arm.json")
        assert none_record["records"] == 0 and none_record["records_files"] == []
        assert none_record["teacher"]["answers"] == 0 and none_record["teacher"]["prompt_tokens"] == 0
        assert len(train_ids(plain)) == SAMPLE_TRAIN
        assert len(train_ids(augmented)) == SAMPLE_TRAIN + made["records"]
        assert read_json(plain / "splits.json")["test"] == read_json(augmented / "splits.json")["test"]
        assert "test/macro_f1" in read_json(augmented / "metrics.json")

    # python -m taskexpert.report on the study: per arm, the paired difference to `none` with its interval and
    # the arm's teacher calls and tokens
    import csv
    import io

    report = report_files(study_dir(tmp_path))
    rows = {row["arm"]: row for row in csv.DictReader(io.StringIO(report["summary.csv"]))}
    assert sorted(rows) == ["none", "rewrite"]
    rewrite = rows["rewrite"]
    assert float(rewrite["ci_low"]) <= float(rewrite["diff"]) <= float(rewrite["ci_high"])
    assert rewrite["paired_seeds"] == "1 2" and rewrite["paired_items"] == "16 16"  # the sample's test items
    assert int(rewrite["teacher_calls"]) == requests
    assert (int(rewrite["prompt_tokens"]), int(rewrite["completion_tokens"])) == (
        prompt_tokens,
        completion_tokens,
    )
    assert rows["none"]["diff"] == "" and int(rows["none"]["teacher_calls"]) == 0  # the baseline itself
    assert "over plain fine-tuning" in report["printed"] or "No arm beat the baseline" in report["printed"]
    assert (study_dir(tmp_path) / "augmentation.png").is_file()


def test_the_tiny_local_teacher_makes_the_arm_once(tmp_path):
    run_study(
        tmp_path, "data_arm=none,rewrite", "seed=1,2", augment_overrides([*TINY_TEACHER, *QUIET, FEW_SEEDS])
    )
    jobs = job_dirs(study_dir(tmp_path))
    arm_dir = study_dir(tmp_path) / "arms" / "rewrite_a42"
    stats = read_json(arm_dir / "rewrite" / "augment_stats.json")
    totals = stats["teacher_totals"]
    assert totals["calls"] == SEEDS_ASKED and totals["cache_hits"] == 0  # one augment.py run, for both seeds
    made, reused = (read_json(jobs[f"rewrite/{seed}"] / "data_arm.json") for seed in (1, 2))
    assert (made["reused"], reused["reused"]) == (False, True)
    for record in (made, reused):
        assert record["teacher"]["answers"] == SEEDS_ASKED
        assert record["teacher"]["prompt_tokens"] == totals["prompt_tokens"] > 0
        assert record["teacher"]["completion_tokens"] == totals["completion_tokens"] > 0
        assert record["records"] == stats["kept"] == lines(arm_dir / "rewrite" / "augmented.jsonl")
    assert all((jobs[name] / "metrics.json").is_file() for name in jobs)


def test_under_submitit_the_jobs_of_an_arm_run_at_once_and_pay_once(tmp_path):
    """submitit's local launcher starts every job in its own process at once (as SLURM would): each composes
    its arm's augment.py config there, and the lock lets one of them pay."""
    with FaultServer(delay=0.3) as server:
        teacher = augment_overrides(fault_teacher(server, "teacher.max_concurrency=1"))
        run_study(tmp_path, "hydra/launcher=submitit_local", "data_arm=rewrite", "seed=1,2", teacher)
        requests = len(server.requests)
    assert requests == SEEDS_ASKED
    jobs = job_dirs(study_dir(tmp_path))
    records = [read_json(jobs[f"rewrite/{seed}"] / "data_arm.json") for seed in (1, 2)]
    assert sorted(record["reused"] for record in records) == [False, True]
    assert all((job / "metrics.json").is_file() for job in jobs.values())
