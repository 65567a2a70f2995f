"""The Optuna sweeper (hydra_plugins/taskexpert_optuna_sweeper) with real SQLite studies and real Hydra
multiruns in subprocesses: search-space parsing, exact grids, resume after a SIGKILL, failures, pruning that
reaches the training job, and the train.py study file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import ROOT, compose_config
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hydra_plugins.taskexpert_optuna_sweeper._errors import SweepConfigError
from hydra_plugins.taskexpert_optuna_sweeper._factories import build_pruner, pruner_target
from hydra_plugins.taskexpert_optuna_sweeper._liveness import current_owner
from hydra_plugins.taskexpert_optuna_sweeper._search_space import format_value, parse_search_space
from hydra_plugins.taskexpert_optuna_sweeper._study import count_trials, recover_interrupted

APP_DIR = ROOT / "tests" / "optuna_app"
GRID = ["hydra.sweeper.sampler.name=grid"]
optuna.logging.set_verbosity(optuna.logging.WARNING)


def run_app(
    app: str, sweep_dir: Path, *overrides: str, env: dict[str, str] | None = None, check: bool = True
):
    """`python APP -m hydra.sweep.dir=SWEEP_DIR OVERRIDES`, from a directory outside the repository, so the
    plugin is found through the installed package."""
    command = [sys.executable, str(APP_DIR / app), "-m", f"hydra.sweep.dir={sweep_dir}", *overrides]
    result = subprocess.run(
        command,
        cwd=sweep_dir.parent,
        env={**os.environ, "HYDRA_FULL_ERROR": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def load_study(sweep_dir: Path) -> optuna.Study:
    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"
    (name,) = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def job_dirs(sweep_dir: Path) -> list[int]:
    return sorted(int(path.name) for path in sweep_dir.iterdir() if path.is_dir() and path.name.isdigit())


# --- search space -----------------------------------------------------------------------------------------


def test_params_parse_into_optuna_distributions():
    params = {
        "optimizer.lr": "tag(log, interval(1e-5, 1e-3))",
        "peft.lora_alpha": "choice(32, 64, 128, 256)",
        "dropout": "interval(0.0, 0.5)",
        "layers": "int(interval(1, 4))",
        "width": "tag(log, int(interval(8, 64)))",
        "steps": "range(10, 40, 10)",
        "ratio": "range(0.1, 0.4, 0.1)",
        "peft": "lora,prefix",
        "target": "[q,v],[q,k,v,o]",
        "trainer.max_epochs": 3,
    }
    space = parse_search_space(params, ["+extra=1,2", "seed=7", "peft.lora_alpha=16,32"])
    assert space.distributions() == {
        "optimizer.lr": FloatDistribution(1e-5, 1e-3, log=True),
        "dropout": FloatDistribution(0.0, 0.5),
        "layers": IntDistribution(1, 4),
        "width": IntDistribution(8, 64, log=True),
        "steps": IntDistribution(10, 30, step=10),
        "ratio": FloatDistribution(0.1, 0.3, step=0.1),
        "peft": CategoricalDistribution(["lora", "prefix"]),
        "target": CategoricalDistribution(["[q,v]", "[q,k,v,o]"]),
        "extra": CategoricalDistribution([1, 2]),
        "peft.lora_alpha": CategoricalDistribution([16, 32]),  # the command line wins over params
    }
    assert space.fixed_overrides == ["trainer.max_epochs=3", "seed=7"]
    by_name = {param.name: param for param in space.params}
    assert by_name["ratio"].grid_values == [0.1, 0.2, 0.3]  # decimal steps, no 0.30000000000000004
    assert by_name["layers"].grid_values == [1, 2, 3, 4]
    assert by_name["optimizer.lr"].grid_values is None
    assert by_name["extra"].override(2) == "+extra=2"
    assert by_name["target"].override("[q,v]") == "target=[q,v]"  # lists travel as written
    with pytest.raises(SweepConfigError, match=r"hydra\.sweeper\.params\.optimizer\.lr: the grid sampler"):
        space.grid()
    discrete = parse_search_space({"a": "range(0, 3)", "b": "x,y"}, [])
    assert discrete.grid() == {"a": [0, 1, 2], "b": ["x", "y"]} and discrete.grid_size() == 6


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lr": "tag(lg, interval(0.1, 1))"}, r"hydra\.sweeper\.params\.lr: unknown tag 'lg'"),
        ({"lr": "interval(1, 0.1)"}, r"hydra\.sweeper\.params\.lr: .*low"),
        ({"n": "range(5, 1)"}, r"hydra\.sweeper\.params\.n: range\(5, 1, 1\) is empty"),
        ({"lr": "choice(1, 2"}, r"hydra\.sweeper\.params\.lr: cannot parse"),
    ],
)
def test_bad_params_name_their_key(params, message):
    with pytest.raises(SweepConfigError, match=message):
        parse_search_space(params, [])


@pytest.mark.parametrize(
    "value", ["lora", "1", "true", "a,b", "it's", "sqlite:////tmp/x y.db", None, 1e-5, [1, "x"]]
)
def test_values_become_overrides_hydra_reads_back(value):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_override(f"key={format_value(value)}").value()
    assert parsed == value


def test_pruner_specs_build_optuna_pruners_and_refuse_foreign_keys():
    assert isinstance(build_pruner({"name": "median", "n_startup_trials": 2}), optuna.pruners.MedianPruner)
    assert isinstance(build_pruner({"name": "none"}), optuna.pruners.NopPruner)
    assert pruner_target({"name": "hyperband", "min_resource": 1}) == {
        "_target_": "optuna.pruners.HyperbandPruner",
        "min_resource": 1,
    }
    with pytest.raises(SweepConfigError, match=r"~hydra\.sweeper\.pruner\.KEY"):
        build_pruner({"name": "threshold", "n_startup_trials": 5})
    with pytest.raises(SweepConfigError, match=r"hydra\.sweeper\.pruner\.name: unknown pruner 'mediam'"):
        build_pruner({"name": "mediam"})


def test_running_trials_of_dead_or_silent_sweepers_are_interrupted_and_requeued():
    study = optuna.create_study(direction="maximize")
    ended = subprocess.Popen(["true"])
    ended.wait()
    me = current_owner()
    here = {"host": me["host"], "boot": me["boot"]}
    owners = {
        "dead here": {**here, "pid": ended.pid, "start": None},
        "alive here": {**here, "pid": os.getppid(), "start": None},
        "silent elsewhere": {"host": "elsewhere", "boot": "b", "pid": 1, "start": None},
        "beating elsewhere": {"host": "elsewhere", "boot": "b", "pid": 1, "start": None},
    }
    for label, owner in owners.items():
        study.enqueue_trial({"x": label})
        trial = study.ask({"x": CategoricalDistribution(list(owners))})
        trial.set_user_attr("sweeper", owner)
        trial.set_user_attr("heartbeat", time.time() - (3600 if label == "silent elsewhere" else 1))
    assert recover_interrupted(study, stale_after=600) == 2
    states = {t.params["x"]: (t.state, t.user_attrs.get("fail_reason")) for t in study.get_trials()[:4]}
    assert states == {
        "dead here": (TrialState.FAIL, "interrupted"),
        "alive here": (TrialState.RUNNING, None),
        "silent elsewhere": (TrialState.FAIL, "interrupted"),
        "beating elsewhere": (TrialState.RUNNING, None),
    }
    requeued = study.get_trials(states=(TrialState.WAITING,))
    assert sorted(t.user_attrs["retry_of"] for t in requeued) == [0, 2]  # "dead here", "silent elsewhere"
    counts = count_trials(study)
    assert (counts.interrupted, counts.running, counts.waiting, counts.finished) == (2, 2, 2, 0)


# --- whole sweeps, in subprocesses --------------------------------------------------------------------------


def test_grid_sampler_runs_the_exact_grid_in_batches_and_writes_results(tmp_path):
    sweep_dir = tmp_path / "grid"
    result = run_app(
        "app.py",
        sweep_dir,
        *GRID,
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=null",  # the whole grid
        "x=range(1,4)",  # sweeps on the command line replace the app's params of the same key
        "y=0,1",
    )
    study = load_study(sweep_dir)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    assert sorted((t.params["x"], t.params["y"]) for t in study.trials) == [
        (x, y) for x in (1, 2, 3) for y in (0, 1)
    ]
    assert (result.stdout + result.stderr).count("Launching 2 jobs locally") == 3
    assert job_dirs(sweep_dir) == list(range(6))
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["best_params"] == {"x": 2, "y": 1} and results["best_value"] == 0.0
    assert results["direction"] == "maximize" and results["sampler"] == "grid"
    assert results["trials"]["complete"] == 6 and results["trials"]["fail"] == 0
    assert results["best_overrides"] == ["x=2", "y=1"]
    assert results["best_job_dir"] == str(sweep_dir / str(results["best_trial"]))


def test_grid_refuses_a_continuous_param(tmp_path):
    result = run_app("app.py", tmp_path / "bad", *GRID, "+z=interval(0,1)", check=False)
    assert result.returncode != 0
    assert "command-line override '+z=interval(0,1)': the grid sampler needs discrete values" in result.stderr


def test_killed_sweep_resumes_to_exactly_n_trials_with_new_job_numbers(tmp_path):
    sweep_dir = tmp_path / "killed"
    first = run_app("app.py", sweep_dir, env={"OPTUNA_APP_KILL_AT_TRIAL": "2"}, check=False)
    assert first.returncode == -signal.SIGKILL
    states = [t.state for t in load_study(sweep_dir).trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.RUNNING]
    assert yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())["trials"]["complete"] == 2

    second = run_app("app.py", sweep_dir)  # the same command: n_trials=5 is the total
    study = load_study(sweep_dir)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 5
    interrupted = study.trials[2]
    assert interrupted.state == TrialState.FAIL and interrupted.user_attrs["fail_reason"] == "interrupted"
    retry = study.trials[3]
    assert retry.user_attrs["retry_of"] == 2 and retry.params == interrupted.params
    assert job_dirs(sweep_dir) == list(range(6))  # 2 holds the killed job; the resume went on with 3, 4, 5
    results = {n: json.loads((sweep_dir / str(n) / "result.json").read_text()) for n in (0, 1, 3, 4, 5)}
    assert not (sweep_dir / "2" / "result.json").exists()
    assert {results[n]["trial"] for n in results} == {
        0,
        1,
        3,
        4,
        5,
    }  # each job wrote into its own trial's dir
    assert len({results[0]["pid"], results[3]["pid"]}) == 2
    assert "1 interrupted ones re-queued" in second.stdout + second.stderr
    assert yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())["trials"] == {
        "complete": 5,
        "pruned": 0,
        "fail": 0,
        "interrupted": 1,
        "running": 0,
        "waiting": 0,
    }


@pytest.mark.parametrize("sampler", ["tpe", "random", "grid"])
def test_a_killed_and_resumed_study_runs_n_trials_distinct_parameter_sets(tmp_path, sampler):
    """SIGKILLed mid-trial and resumed: a seeded sampler must not replay its first draws, nor repeat a set the
    study holds. The grid's interrupted point is killed again in its retry and must still run, once."""
    sweep_dir = tmp_path / sampler
    if sampler == "grid":
        overrides, kills = [*GRID, "hydra.sweeper.n_trials=null", "x=range(0,3)", "y=0,1"], ["2", "3"]
    else:  # the app's 15-point space (x in 0..4, y in 0..2), seed 0
        overrides, kills = [f"hydra.sweeper.sampler.name={sampler}", "hydra.sweeper.n_trials=6"], ["3"]
    for kill_at in kills:
        killed = run_app(
            "app.py", sweep_dir, *overrides, env={"OPTUNA_APP_KILL_AT_TRIAL": kill_at}, check=False
        )
        assert killed.returncode == -signal.SIGKILL
    run_app("app.py", sweep_dir, *overrides)
    study = load_study(sweep_dir)
    complete = [(t.params["x"], t.params["y"]) for t in study.get_trials(states=(TrialState.COMPLETE,))]
    assert len(complete) == 6 and len(set(complete)) == 6, complete
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    if sampler == "grid":
        assert set(complete) == {(x, y) for x in range(3) for y in (0, 1)}


def test_a_finite_space_ends_once_every_point_has_run(tmp_path):
    sweep_dir = tmp_path / "small"
    result = run_app("app.py", sweep_dir, "hydra.sweeper.sampler.name=random", "x=1,2", "y=0,1")
    complete = [(t.params["x"], t.params["y"]) for t in load_study(sweep_dir).trials]
    assert sorted(complete) == [(1, 0), (1, 1), (2, 0), (2, 1)]  # n_trials=5, but only 4 points
    assert "exceeds the 4 points of the search space" in result.stderr + result.stdout


def test_failed_trials_are_recorded_and_the_study_goes_on(tmp_path):
    sweep_dir = tmp_path / "failing"
    run_app(
        "app.py",
        sweep_dir,
        *GRID,
        "x=1,2,3,4",
        "y=1",
        "fail_at_x=3",
        "nan_at_x=4",
    )
    by_x = {t.params["x"]: t for t in load_study(sweep_dir).trials}
    assert len(by_x) == 4
    assert by_x[3].state == TrialState.FAIL and by_x[3].user_attrs["error"] == "RuntimeError: boom at x=3"
    assert by_x[4].state == TrialState.FAIL and "NaN" in by_x[4].user_attrs["error"]
    assert by_x[1].state == by_x[2].state == TrialState.COMPLETE
    assert by_x[3].user_attrs["job_dir"] == str(sweep_dir / str(by_x[3].number))


def test_too_many_failures_abort_the_study(tmp_path):
    sweep_dir = tmp_path / "aborted"
    result = run_app(
        "app.py",
        sweep_dir,
        "hydra.sweeper.n_trials=8",
        "x=3",
        "y=range(0,10)",  # more points than trials: distinct parameter sets never run out
        "fail_at_x=3",
        check=False,
    )
    assert result.returncode != 0
    assert (
        "4 of 4 finished trials failed" in result.stderr
        and "hydra.sweeper.max_failure_rate=0.5" in result.stderr
    )
    assert [t.state for t in load_study(sweep_dir).trials] == [TrialState.FAIL] * 4


def test_a_bad_trial_is_pruned_before_its_last_epoch(tmp_path):
    """The real pruning callback in a tiny Lightning app; lr=0 never learns. Median pruner, 2 startup trials."""
    sweep_dir = tmp_path / "pruned"
    run_app("lightning_app.py", sweep_dir)
    study = load_study(sweep_dir)
    last_step = 24  # 6 epochs x 4 batches, one report per epoch
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert pruned and len(complete) >= 2
    assert all(t.params["lr"] == 0.0 for t in pruned)
    assert all(max(t.intermediate_values) < last_step for t in pruned)
    assert all(max(t.intermediate_values) == last_step for t in complete)
    assert all(t.params["lr"] > 0 for t in complete[2:])  # once pruning is on, a bad trial never completes


def test_train_py_study_file_composes_and_prunes_through_the_pipeline(tmp_path):
    cfg = compose_config(["sweep=optuna_tpe"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("TaskExpertOptunaSweeper") and sweeper.direction == "maximize"
    assert sweeper.params == {
        "optimizer.lr": "tag(log, interval(1e-5, 1e-3))",
        "peft.lora_alpha": "choice(32, 64, 128, 256)",
    }
    assert sweeper.pruner.name == "median" and sweeper.sampler.name == "tpe"

    # one real trial on the tiny model; a threshold no macro-F1 reaches prunes it at its first validation
    sweep_dir = tmp_path / "train"
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "sweep=optuna_tpe",
        "model=tiny_llama",
        "trainer=fast",
        "logger=csv",
        "checkpoint.enabled=false",
        "eval.test=false",
        "trainer.val_check_interval=1",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.pruner.name=threshold",
        "~hydra.sweeper.pruner.n_startup_trials",
        "~hydra.sweeper.pruner.n_warmup_steps",
        "++hydra.sweeper.pruner.lower=2.0",
    ]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=os.environ
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (trial,) = load_study(sweep_dir).trials
    assert trial.state == TrialState.PRUNED and set(trial.params) == {"optimizer.lr", "peft.lora_alpha"}
    metrics = json.loads((sweep_dir / "0" / "metrics.json").read_text())
    assert metrics["pruned"] is True and metrics["last_reported_step"] == 1 < 3  # trainer=fast: 3 steps
    assert "val/macro_f1" in metrics and metrics["global_step"] == 1
    assert trial.intermediate_values == {1: pytest.approx(metrics["val/macro_f1"])}
    assert yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())["trials"]["pruned"] == 1
