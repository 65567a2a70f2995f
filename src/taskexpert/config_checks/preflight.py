"""The command line checked before Hydra starts: before any directory, W&B run or model exists.

Each mistake stops the program with one line on stderr, `error: ... <the fix>`, and exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from taskexpert.config_checks.command_line import normalise_arguments, one_line, parse_hydra_flags
from taskexpert.config_checks.inputs import check_data_files, check_model_path
from taskexpert.config_checks.machine import check_accelerator, how_asked
from taskexpert.config_checks.overrides import (
    check_added_keys_against_targets,
    check_group_choices,
    unknown_key_message,
)
from taskexpert.config_checks.required import check_required_keys
from taskexpert.config_checks.studies import (
    check_jobs_inputs,
    check_swept_keys,
    refuse_sweeps_without_multirun,
    swept_parameters,
)
from taskexpert.errors import ConfigError

# Launchers that run the jobs on this machine; other launchers (SLURM) run them where the accelerator is.
LOCAL_LAUNCHERS = ("basic", "submitit_local", "joblib")


def preflight(argv: list[str], conf_dir: str, config_name: str) -> list[str]:
    """`argv` with our conveniences applied (`--verbose`, `+sweep=`), after checking the command.

    On a mistake: one line naming the fix on stderr and exit status 2, before Hydra does anything.
    """
    arguments = normalise_arguments(argv[1:])
    try:
        check_command(arguments, Path(conf_dir), config_name, Path(argv[0]).name)
    except ConfigError as error:
        from taskexpert.utils.secrets import redact_text

        print(f"error: {redact_text(str(error))}", file=sys.stderr)
        raise SystemExit(2) from None
    except (
        Exception
    ):  # a gap in these checks must not stop a valid command: Hydra still reports its own errors
        if "verbose=true" in arguments:
            raise
    return [argv[0], *arguments]


def _all_groups(loader: Any, parent: str = "") -> set[str]:
    groups: set[str] = set()
    for name in loader.list_groups(parent):
        group = f"{parent}/{name}" if parent else name
        groups |= {group} | _all_groups(loader, group)
    return groups


def check_command(arguments: list[str], conf_dir: Path, config_name: str, program: str) -> None:
    """Every check that needs no model, no network and no GPU; raises ConfigError with the fix."""
    flags = parse_hydra_flags(arguments)
    if flags is None or flags.config_path or flags.config_dir or flags.config_name:
        return  # Hydra reports its own usage errors; other config trees are not ours to check
    if flags.shell_completion or flags.hydra_help or flags.experimental_rerun or flags.info is not None:
        return
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode

    try:
        overrides = OverridesParser.create().parse_overrides(flags.overrides)
    except Exception as error:
        raise ConfigError(one_line(str(error))) from None
    inspecting = bool(flags.help or flags.cfg)  # --help / --cfg print and exit: no study, no machine checks
    if not flags.multirun and not inspecting:
        refuse_sweeps_without_multirun(overrides, program, arguments)
    mode = RunMode.MULTIRUN if flags.multirun else RunMode.RUN
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            loader = GlobalHydra.instance().config_loader()
            groups = _all_groups(loader)
            options_of = loader.get_group_options
            check_group_choices(overrides, groups, options_of)
            cfg = _compose(loader, config_name, flags.overrides, overrides, mode, groups)
            check_added_keys_against_targets(overrides, cfg)
            if flags.multirun:
                check_swept_keys(cfg, groups, options_of)
            if inspecting:  # --help and --cfg may show a config with keys still to set
                return
            defaults = loader.compute_defaults_list(config_name, flags.overrides, mode).defaults
            _check_ready_to_run(cfg, overrides, groups, defaults, conf_dir, flags.multirun)
    finally:
        GlobalHydra.instance().clear()


def _check_ready_to_run(
    cfg: DictConfig,
    overrides: list[Any],
    groups: set[str],
    defaults: list[Any],
    conf_dir: Path,
    multirun: bool,
) -> None:
    """Required keys set, input files present (for every job of a grid), the accelerator on this machine."""
    set_keys = [o.key_or_group for o in overrides if not o.is_delete() and o.key_or_group not in groups]
    check_required_keys(defaults, conf_dir, set_keys + list(swept_parameters(cfg)), cfg)
    if multirun:
        check_jobs_inputs(cfg, overrides, groups)
    else:
        check_data_files(cfg.data)
    check_model_path(cfg.get("model"))
    _check_machine(cfg, multirun)


def _compose(
    loader: Any, config_name: str, lines: list[str], overrides: list[Any], mode: Any, groups: set[str]
) -> DictConfig:
    """The config Hydra will compose; when it cannot, the reason in one line with the closest valid names."""
    try:
        return loader.load_configuration(config_name, lines, mode)
    except Exception as error:
        failure = error
    _check_groups_belong(loader, config_name, overrides, groups, mode)
    choices_only = [o.input_line for o in overrides if o.key_or_group in groups or o.is_hydra_override()]
    try:
        base = loader.load_configuration(config_name, choices_only, mode)
    except Exception:
        base = None
    if base is not None:
        for override in overrides:
            if override.key_or_group in groups or override.is_hydra_override():
                continue
            problem = unknown_key_message(base, override, groups)
            if problem:
                raise ConfigError(problem) from None
    cause = f" ({one_line(str(failure.__cause__))})" if failure.__cause__ else ""
    raise ConfigError(one_line(str(failure)) + cause) from None


def _check_groups_belong(
    loader: Any, config_name: str, overrides: list[Any], groups: set[str], mode: Any
) -> None:
    """`teacher=openai` on train.py: the group exists, but another entry point's config chooses it."""
    from taskexpert.config_docs import defaults_comments

    known = loader.compute_defaults_list(config_name, [], mode).overrides.known_choices
    for override in overrides:
        group = override.key_or_group
        if group not in groups or group in known or override.is_add() or override.is_delete():
            continue
        main = next(source for source in loader.get_sources() if source.provider == "main")
        conf_dir = Path(str(main.path).removeprefix("file://"))
        owners = [
            f"{root.stem}.py" for root in sorted(conf_dir.glob("*.yaml")) if group in defaults_comments(root)
        ]
        where = f": it is {' and '.join(owners)}'s" if owners else ""
        shown_groups = ", ".join(sorted(g for g in known if not g.startswith("hydra")))
        raise ConfigError(f"{config_name}.py has no group {group} (its groups: {shown_groups}){where}")


def _check_machine(cfg: DictConfig, multirun: bool) -> None:
    """The accelerator, when the jobs run here; a dry run sizes jobs for other machines and is exempt."""
    if cfg.get("dry_run") or cfg.get("trainer") is None:
        return
    if cfg.get("method") is not None and cfg.method.get("name") != "llm2llm":
        return  # augment.py trains a student only in llm2llm
    choices = cfg.hydra.runtime.choices
    if multirun and choices.get("hydra/launcher") not in LOCAL_LAUNCHERS:
        return  # each job checks its own node when it starts (check_job)
    check_accelerator(cfg.trainer, *how_asked(choices.get("trainer"), list(cfg.hydra.overrides.task)))
