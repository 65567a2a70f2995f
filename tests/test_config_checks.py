"""The checks behind the one-line errors, in process: every required key of every config file, the YAML comments
read as documentation, a study's swept keys, a job's input files."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CONF_DIR, compose_config
from omegaconf import open_dict, read_write

from taskexpert.config_checks import check_job
from taskexpert.config_checks.preflight import check_command
from taskexpert.config_checks.studies import check_swept_keys
from taskexpert.config_docs import example_assignment, file_description, key_docs
from taskexpert.errors import ConfigError


def required_keys_of_options() -> list[tuple[str, str, str]]:
    """(group, option, dotted key) for every `???` written in an option file of a config group."""
    found = []
    for path in sorted(CONF_DIR.glob("*/*.yaml")):
        for doc in key_docs(path):
            if doc.value == "???":
                found.append((path.parent.name, path.stem, f"{path.parent.name}.{doc.key}"))
    return found


REQUIRED = required_keys_of_options()


def test_the_configs_have_required_keys_to_check():
    assert ("data", "pubmedqa", "data.path") in REQUIRED
    assert ("model", "local", "model.path") in REQUIRED


@pytest.mark.parametrize(("group", "option", "key"), REQUIRED, ids=[f"{g}={o}" for g, o, _ in REQUIRED])
def test_every_required_key_is_required_even_when_inherited_files_give_a_value(group, option, key):
    """OmegaConf keeps an inherited value under a later `???`; the check follows Hydra's merge order instead.
    The fix shows an example value, from the key's comment (`# required: data.path=/path/to/ori_pqal.json`)."""
    with pytest.raises(
        ConfigError,
        match=rf"^{key} is required by conf/{group}/{option}\.yaml and not set: set {key}=(?!<value>)",
    ):
        check_command([f"{group}={option}"], CONF_DIR, "augment", "augment.py")  # augment composes train too


def test_a_required_key_given_on_the_command_line_or_by_a_later_file_is_set(tmp_path):
    check_command(
        ["data=pubmedqa_hub", "dry_run=true"], CONF_DIR, "train", "train.py"
    )  # the hub file sets path
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    check_command(["model=local", f"model.path={model_dir}", "dry_run=true"], CONF_DIR, "train", "train.py")


def test_yaml_comments_are_read_per_key_with_quotes_and_nesting(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(
        "# First line of the description\n# and its second.\n"
        "defaults:\n  - other          # not a key\n  - _self_\n"
        'input: "Q: {q} # not a comment"  # the prompt (str)\n'
        "split:                # how to split (dict)\n"
        "  train_size: 36      # records for training (int)\n"
        "path: ???             # required: data.path=/path/to/ori_pqal.json, or rows (str)\n"
    )
    docs = {doc.key: doc for doc in key_docs(path)}
    assert set(docs) == {"input", "split", "split.train_size", "path"}
    assert docs["input"].value == '"Q: {q} # not a comment"' and docs["input"].comment == "the prompt (str)"
    assert docs["split.train_size"].comment == "records for training (int)"
    assert file_description(path) == "First line of the description and its second."
    assert example_assignment(docs["path"].comment, "data.path") == "data.path=/path/to/ori_pqal.json"


def test_a_study_that_sweeps_a_key_the_config_lacks_is_named_with_the_closest_key(tmp_path):
    cfg = compose_config(["sweep=lora_alpha"], tmp_path)
    with read_write(cfg.hydra), open_dict(cfg.hydra):
        cfg.hydra.sweeper.params["peft.lora_alfa"] = "32,64"
    with pytest.raises(
        ConfigError, match=r"sweeps/lora_alpha\.yaml sweeps .*did you mean peft\.lora_alpha=32,64"
    ):
        check_swept_keys(cfg, {"model", "peft", "data"}, lambda group: [])


def test_a_job_whose_augmented_set_is_missing_names_the_command_that_makes_it(tmp_path):
    missing = tmp_path / "outputs" / "augment" / "rewrite" / "augmented.jsonl"
    cfg = compose_config(["model=tiny_llama", f"data.extra_train=[{missing}]"], tmp_path)
    with pytest.raises(ConfigError, match=r"does not exist: make it first: python augment\.py name=rewrite"):
        check_job(cfg)
    assert not Path(tmp_path / "run").exists()
