"""`python train.py --help` / `augment.py --help`: each group's options and each key, with their one-line comments.

Built at the moment of asking from the config files themselves (taskexpert.config_docs), through Hydra's help
template (conf/hydra/default.yaml: `help.template: ${taskexpert_help:...}`), so the help cannot drift from them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from taskexpert.config_docs import defaults_comments, file_description, key_docs

ENTRY_POINTS = {
    "train": "Fine-tune and evaluate a task-expert model (a study of several jobs: add -m).",
    "augment": "Have a teacher LLM rewrite training records or write new ones; the result trains with train.py.",
}
# What a user of an entry point could take for one setting twice, and which one wins.
WHICH_WINS = {
    "augment": [
        "Which setting wins:",
        "  the teacher's answer length: method.<step>.max_new_tokens (e.g. method.rewrite.max_new_tokens), when null",
        "    sampling.max_new_tokens; eval.max_new_tokens is the student's (llm2llm with eval.mode=generate)",
        "  W&B: wandb.enabled logs this run's stats; logger=... (train.py's) logs only llm2llm's student trainings",
    ]
}
LAUNCHER_GROUP = "hydra/launcher"
# Launchers that come from installed Hydra plugins (no file in conf/ to read a comment from).
PLUGIN_DESCRIPTIONS = {
    "basic": "the jobs one after another, in this process",
    "submitit_local": "each job a local subprocess, through submitit",
    "submitit_slurm": "submitit's SLURM launcher with its own defaults (slurm = ours, tied to the trainer)",
}


def _width() -> int:
    return max(80, min(shutil.get_terminal_size((120, 24)).columns, 160))


def _clip(text: str, room: int) -> str:
    return text if len(text) <= room else text[: max(room - 1, 0)].rstrip() + "…"


def _conf_dir_and_choices() -> tuple[Path, dict[str, str | None]]:
    """The primary config directory and the current choice of every group, from the running Hydra."""
    from hydra.core.hydra_config import HydraConfig

    runtime = HydraConfig.get().runtime
    sources = [s for s in runtime.config_sources if s.provider == "main"]
    conf_dir = Path(str(sources[0].path).removeprefix("file://"))
    return conf_dir, dict(runtime.choices)


def _options(group: str) -> list[str]:
    from hydra.core.global_hydra import GlobalHydra

    return sorted(GlobalHydra.instance().config_loader().get_group_options(group))


def root_groups(root_file: Path) -> list[str]:
    """Groups chosen in a root config's defaults list, in its order (Hydra's own and configs left out)."""
    return [
        group
        for group in defaults_comments(root_file)
        if group != "hydra" and (root_file.parent / group).is_dir()
    ]


def comments_anywhere(conf_dir: Path, group: str) -> str:
    """The comment on `group` in any option file's defaults list (e.g. method/rebase.yaml: retrieval)."""
    for path in sorted(conf_dir.glob("*/*.yaml")):
        comment = defaults_comments(path).get(group)
        if comment:
            return comment
    return f"(conf/{group})"


def unlisted_groups(conf_dir: Path, listed: set[str]) -> list[str]:
    """Groups no root config chooses by default (e.g. `retrieval`, composed by method=rebase)."""
    return sorted(
        path.name
        for path in conf_dir.iterdir()
        if path.is_dir() and path.name not in listed and path.name not in ("hydra", "prompts")
    )


def groups_section(conf_dir: Path, groups: list[str], comments: dict[str, str], choices: dict) -> list[str]:
    width = _width()
    options = {group: _options(group) for group in groups}
    name_width = max((len(option) for names in options.values() for option in names), default=0) + 2
    lines = []
    for group in groups:
        lines.append(f"  {group}: {_clip(comments.get(group, ''), width - len(group) - 4)}")
        for option in options[group]:
            marker = "*" if choices.get(group) == option else " "
            path = conf_dir / group / f"{option}.yaml"
            description = file_description(path) if path.is_file() else PLUGIN_DESCRIPTIONS.get(option, "")
            lines.append(f"   {marker} {option:<{name_width}}{_clip(description, width - name_width - 6)}")
    return lines


def keys_section(root_file: Path, skip_prefixes: tuple[str, ...] = ("hydra",)) -> list[str]:
    docs = [doc for doc in key_docs(root_file) if doc.comment and not doc.key.startswith(skip_prefixes)]
    key_width = min(max((len(doc.key) for doc in docs), default=0) + 2, 44)
    width = _width()
    return [f"  {doc.key:<{key_width}}{_clip(doc.comment, width - key_width - 2)}" for doc in docs]


def help_text(config_name: str) -> str:
    conf_dir, choices = _conf_dir_and_choices()
    program = f"{config_name}.py"
    root_file = conf_dir / f"{config_name}.yaml"
    comments = defaults_comments(root_file)
    lines = [
        f"python {program} [-m] [GROUP=OPTION ...] [KEY=VALUE ...]",
        ENTRY_POINTS.get(config_name, file_description(root_file)),
        "",
        "Groups (GROUP=OPTION; * = chosen now):",
    ]
    own_groups = root_groups(root_file)
    train_file = conf_dir / "train.yaml"
    train_groups = root_groups(train_file) if train_file.is_file() else []
    extra = unlisted_groups(conf_dir, set(train_groups) | set(own_groups)) if config_name != "train" else []
    comments[LAUNCHER_GROUP] = "where the jobs of a study (-m) run"
    comments.update({group: comments_anywhere(conf_dir, group) for group in extra})
    lines += groups_section(conf_dir, [*own_groups, *extra, LAUNCHER_GROUP], comments, choices)
    lines += ["", f"Settings of {program} (KEY=VALUE; conf/{config_name}.yaml):", *keys_section(root_file)]
    if config_name != "train" and train_groups:
        shared = [group for group in train_groups if group != "sweep"]  # studies are train.py's
        lines += [
            "",
            f"Every setting of train.py applies as well: the groups {', '.join(shared)} and their keys",
            "(the data, whose training split are the seeds, and the student that llm2llm trains): python train.py --help",
        ]
    if config_name in WHICH_WINS:
        lines += ["", *WHICH_WINS[config_name]]
    lines += [
        "",
        "Every key of a group is commented in its file (conf/<group>/<option>.yaml); the composed config:",
        f"  python {program} [overrides] --cfg job      (--cfg job --package data: one group)",
        "Flags: -m runs "
        + ("a study (sweep=NAME) or " if config_name == "train" else "")
        + "one job per value (key=a,b); --verbose shows third-party warnings and logs;",
        "--hydra-help shows Hydra's own flags.",
    ]
    return "\n".join(lines).replace("$", "$$") + "\n"  # Hydra fills the template with string.Template
