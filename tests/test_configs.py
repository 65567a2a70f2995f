"""Every option of every config group composes, and what it names can be instantiated here."""

from __future__ import annotations

import inspect

import pytest
import pytorch_lightning as pl
from conftest import CONF_DIR, compose_config
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from taskexpert.models.adapters import build_peft_config
from taskexpert.models.sizing import meta_model
from taskexpert.training.precision import resolve_precision

GROUPS = {
    group.name: sorted(path.stem for path in group.glob("*.yaml"))
    for group in CONF_DIR.iterdir()
    if group.is_dir() and group.name != "hydra"
}
OPTIONS = [(group, option) for group, options in GROUPS.items() for option in options]


# Groups with a default in augment.yaml (which includes all of train.yaml); the others are added with `+`.
DEFAULTED_GROUPS = {"data", "task", "model", "peft", "trainer", "logger", "teacher", "method", "sweep"}
DEFAULTED_GROUPS |= {"data_arm"}  # train.yaml: data_arm: none
# Options with a required key (`???`), and a value for it.
REQUIRED_VALUES = {
    "pubmedqa": ["data.path=/data/ori_pqal.json"],
    "drllama_table": ["data.path=/data/ori_pqal.json"],
    "local": ["model.path=/models/my-model"],
}


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_resolves(group, option, tmp_path):
    extra = REQUIRED_VALUES.get(option, [])
    override = f"{group}={option}" if group in DEFAULTED_GROUPS else f"+{group}={option}"
    cfg = compose_config([override, *extra], tmp_path, config_name="augment")
    assert cfg.hydra.runtime.choices[group] == option
    # Every interpolation of the job config resolves (a typo in ${...} fails here).
    job_config = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    OmegaConf.to_container(job_config, resolve=True)


@pytest.mark.parametrize("option", GROUPS["peft"])
def test_peft_options_instantiate_peft_classes(option, tmp_path):
    cfg = compose_config([f"peft={option}"], tmp_path)
    peft_config = build_peft_config(cfg.peft)
    if option == "none":
        assert peft_config is None
    else:
        assert type(peft_config).__module__.startswith("peft.")
        assert peft_config.task_type == "CAUSAL_LM"


@pytest.mark.parametrize("option", GROUPS["model"])
def test_model_options_build_on_meta_device(option, tmp_path):
    """The architecture numbers (or the local tiny config) give a real model class, with no download."""
    from taskexpert.models.tiny import tiny_model_dir

    # model=local is sized from its directory's config.json
    local = [f"model.path={tiny_model_dir('llama')}"] if option == "local" else []
    cfg = compose_config([f"model={option}", *local], tmp_path)
    model, config = meta_model(cfg.model)
    expected = {"biogpt": "BioGptForCausalLM", "llama": "LlamaForCausalLM"}[config.model_type]
    assert type(model).__name__ == expected
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    assert set(cfg.model.lora_target_modules) <= names


@pytest.mark.parametrize("option", GROUPS["trainer"])
def test_trainer_options_are_lightning_trainer_arguments(option, tmp_path):
    cfg = compose_config([f"trainer={option}"], tmp_path)
    assert get_class(cfg.trainer._target_) is pl.Trainer
    accepted = set(inspect.signature(pl.Trainer.__init__).parameters)
    assert set(cfg.trainer) - {"_target_"} <= accepted
    if option in ("cpu", "fast"):  # precision: the pipeline passes Lightning the one resolved for the run
        precision = resolve_precision(cfg.trainer, cfg.model, cfg.peft).lightning
        trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False, precision=precision)
        assert trainer.max_epochs == cfg.trainer.max_epochs
    else:
        # No GPU on this machine: a GPU Trainer cannot be built here, but its strategy object can.
        if "_target_" in (cfg.trainer.get("strategy") or {}):
            instantiate(cfg.trainer.strategy)


@pytest.mark.parametrize("option", GROUPS["logger"])
def test_logger_options_instantiate(option, tmp_path):
    from pytorch_lightning.loggers import CSVLogger

    from taskexpert.training.loggers import build_loggers, close_loggers

    cfg = compose_config([f"logger={option}"], tmp_path)
    loggers = build_loggers(cfg.get("logger"), tmp_path)
    assert isinstance(loggers[0], CSVLogger)  # always on
    expected = {"csv": [], "wandb": ["WandbLogger"], "tensorboard": ["TensorBoardLogger"]}[option]
    assert [type(logger).__name__ for logger in loggers[1:]] == expected
    close_loggers(loggers)


def test_logger_null_is_accepted_on_the_command_line():
    from taskexpert.entry import null_group_overrides_to_deletions

    assert null_group_overrides_to_deletions(["train.py", "logger=null", "seed=null"], str(CONF_DIR)) == [
        "train.py",
        "~logger",
        "seed=null",
    ]
