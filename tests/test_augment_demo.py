"""The `make run` demo's glue: commands echoed verbatim, the comparison read from the runs' files."""

from __future__ import annotations

import json
from pathlib import Path

from taskexpert import demo


def test_commands_with_brackets_are_echoed_and_run(capsys):
    seconds = demo.run_step("a step", ["-c", "print('ran')", "data.extra_train=[/runs/a/augmented.jsonl]"])
    assert seconds >= 0
    assert "data.extra_train=[/runs/a/augmented.jsonl]" in capsys.readouterr().out


def test_main_runs_three_steps_and_compares_their_metrics(tmp_path, monkeypatch, capsys):
    commands = []

    def fake_step(title, arguments):
        commands.append(arguments)
        directory = Path(next(a.split("=", 1)[1] for a in arguments if a.startswith("hydra.run.dir=")))
        directory.mkdir(parents=True, exist_ok=True)
        if arguments[0] == "augment.py":
            stats = {"requested": 5, "kept": 4, "rejected": {"invalid_json": 1}, "cache_hits": 0}
            (directory / "augment_stats.json").write_text(json.dumps(stats))
        else:
            augmented = any(a.startswith("data.extra_train=") for a in arguments)
            metrics = {"val/acc": 0.5, "val/macro_f1": 0.3, "test/acc": 0.6 if augmented else 0.5}
            metrics |= {"test/macro_f1": 0.4, "global_step": 20 if augmented else 10}
            (directory / "metrics.json").write_text(json.dumps(metrics))
        return 1.0

    monkeypatch.setattr(demo, "run_step", fake_step)
    assert demo.main(["--max-seeds", "5", "--epochs", "1", "--out", str(tmp_path / "demo")]) == 0
    assert [c[0] for c in commands] == ["augment.py", "train.py", "train.py"]
    assert "method.max_seeds=5" in commands[0] and "trainer.max_epochs=1" in commands[1]
    assert f"data.extra_train=[{tmp_path / 'demo' / 'augment' / 'augmented.jsonl'}]" in commands[2]
    output = capsys.readouterr().out
    assert "+0.100" in output and "4 kept" in output
