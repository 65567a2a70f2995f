"""The `make run` demo's glue: commands echoed verbatim, the comparison read from the runs' files."""

from __future__ import annotations

import json

from servers.fault_server import FaultServer

from taskexpert import demo


def test_commands_with_brackets_are_echoed_and_run(capfd):
    script = "import time; time.sleep(0.3); print('ran')"
    seconds = demo.run_step("a step", ["-c", script, "data.extra_train=[/runs/a/augmented.jsonl]"])
    assert seconds >= 0.3  # the step's wall time includes the command's own
    output = capfd.readouterr().out
    assert "data.extra_train=[/runs/a/augmented.jsonl]" in output
    assert "ran" in output.splitlines()  # the command itself ran (its output reaches the terminal)


def test_the_demo_runs_augment_then_both_trainings_for_real(tmp_path, capsys):
    """The three real commands on tiny models; the teacher is our local OpenAI-compatible server (SmolLM2 would
    take minutes), so the kept records are known and the table must show them."""
    with FaultServer() as server:
        teacher = [
            f"teacher.base_url={server.base_url}",
            "teacher.model=demo-model",
            "teacher.api_key_env=null",
            f"cache.path={tmp_path / 'cache.sqlite'}",
            "diversity.embeddings=false",
            "progress=false",
        ]
        training = ["model=tiny_llama", "trainer=fast", "logger=csv", "checkpoint.enabled=false"]
        arguments = [
            "--max-seeds",
            "4",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "demo"),
            "--teacher",
            "openai",
        ]
        arguments += [f"--augment-set={o}" for o in [*teacher, *training]]
        arguments += [f"--train-set={o}" for o in training]
        assert demo.main(arguments) == 0
        assert len(server.requests) == 4  # one rewrite per seed
    stats = json.loads((tmp_path / "demo" / "augment" / "augment_stats.json").read_text())
    augmented_lines = (tmp_path / "demo" / "augment" / "augmented.jsonl").read_text().splitlines()
    assert stats["kept"] == len(augmented_lines) > 0
    runs = {name: tmp_path / "demo" / name for name in ("train_seed_only", "train_augmented")}
    baseline, augmented = (json.loads((run / "metrics.json").read_text()) for run in runs.values())
    train_ids = {name: json.loads((run / "splits.json").read_text())["train"] for name, run in runs.items()}
    kept_ids = {json.loads(line)["id"] for line in augmented_lines}
    assert set(train_ids["train_augmented"]) == set(train_ids["train_seed_only"]) | kept_ids
    output = capsys.readouterr().out
    assert f"Without and with {stats['kept']} teacher-rewritten records" in output
    assert f"{baseline['test/acc']:.3f}" in output and f"{augmented['test/acc']:.3f}" in output
