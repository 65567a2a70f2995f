"""Arm (a): this project's training step: the real QAModule and QADataModule under a Lightning Trainer
built from conf/trainer/cpu.yaml, assembled by the pipeline's own `build_data_and_module`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from taskexpert.bench.data import as_splits, training_records
from taskexpert.bench.flops import model_dims
from taskexpert.bench.measure import StepLog, batch_shape, mark_setup_done
from taskexpert.bench.settings import BenchSettings, hydra_model_option
from taskexpert.data.splits import Splits
from taskexpert.models.adapters import adapter_name
from taskexpert.training.loggers import build_loggers
from taskexpert.training.pipeline import build_data_and_module, build_trainable_model
from taskexpert.training.precision import resolve_precision

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"  # the repository's Hydra configs
TRAINER_PRECISION = {"fp32": "32-true", "bf16-base": "bf16-base", "bf16-mixed": "bf16-mixed"}


def compose_train_config(overrides: list[str], run_dir: Path) -> DictConfig:
    """The config `python train.py OVERRIDES` would run, with its run directory set."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.run_dir = str(run_dir)
    return cfg


def config_overrides(
    settings: BenchSettings, peft: str, precision: str, batch_size: int, max_length: int, steps: int
) -> list[str]:
    overrides = [
        f"model={hydra_model_option(settings)}",
        f"peft={peft}",
        "trainer=cpu",
        "logger=csv",
        f"trainer.precision={TRAINER_PRECISION[precision]}",
        f"trainer.max_steps={steps}",
        "trainer.max_epochs=1",
        "trainer.limit_val_batches=0",
        "trainer.enable_progress_bar=false",
        "checkpoint.enabled=false",
        f"data.batch_size={batch_size}",
        f"data.max_length={max_length}",
        f"optimizer.lr={settings.learning_rate}",
        f"seed={settings.seed}",
    ]
    if peft == "lora":
        overrides += [f"peft.r={settings.lora_rank}", f"peft.lora_alpha={settings.lora_alpha}"]
    if peft == "prefix":
        overrides.append(f"peft.num_virtual_tokens={settings.prefix_tokens}")
    return overrides


class StepClock(pl.Callback):
    """Records each optimizer step's batch shape and end time (after the optimizer has stepped)."""

    def __init__(self, log: StepLog) -> None:
        self.step_log = log

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.step_log.batch_seen(batch_shape(batch, head="answer" if pl_module.answer_only_logits else "all"))
        self.step_log.step_done()


def train_lightning(
    cfg: DictConfig,
    splits: Splits,
    warmup_steps: int,
    answer_only_logits: bool = True,
) -> dict:
    """Fit for `cfg.trainer.max_steps` steps and return the clock's summary.
    `answer_only_logits=False` computes the loss the way the module did before (logits at every position);
    `model.compile` puts the decoder blocks under torch.compile, as in the pipeline (it compiles in the warm-up)."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    run_dir = Path(cfg.paths.run_dir)
    precision = resolve_precision(cfg.trainer, cfg.model, cfg.peft)  # as the pipeline does
    model, tokenizer = build_trainable_model(cfg, precision)  # as the pipeline does
    datamodule, module = build_data_and_module(cfg, model, tokenizer, splits)
    module.answer_only_logits = module.answer_only_logits and answer_only_logits
    log = StepLog(warmup_steps)
    trainer: pl.Trainer = instantiate(
        cfg.trainer,
        logger=build_loggers(cfg.get("logger"), run_dir),
        callbacks=[StepClock(log)],
        default_root_dir=str(run_dir),
        enable_checkpointing=False,
        precision=precision.lightning,
    )
    model.train()
    datamodule.setup("fit")  # tokenization happens here, before the clock, as in a real run
    mark_setup_done(log)
    trainer.fit(module, datamodule=datamodule)
    method = (
        "full"
        if cfg.peft is None
        else {"prefixtuning": "prefix"}.get(adapter_name(cfg.peft), adapter_name(cfg.peft))
    )
    prefix_tokens = cfg.peft.get("num_virtual_tokens", 0) if cfg.peft is not None else 0
    return log.summary() | {"dims": model_dims(model, method, prefix_tokens), "precision": precision.name}


def run(
    settings: BenchSettings,
    peft: str,
    precision: str,
    answer_only_logits: bool = True,
    compiled: bool = False,
    stock_kernels: bool = False,
) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-lightning-") as run_dir:
        overrides = config_overrides(
            settings, peft, precision, settings.batch_size, settings.max_length, settings.total_steps
        )
        if compiled:  # the user's switch, with the settings' backend (smoke runs: eager, no C++ build)
            overrides.append(f"model.compile={settings.compile_backend}")
        if stock_kernels:  # what the CPU bf16 choices replace: nn.Dropout, sdpa, PEFT's fp32 adapter compute
            overrides += [
                "++model.lora_dropout_mask=torch",
                "++model.attn_implementation=sdpa",
                "++model.lora_compute=float32",
            ]
        cfg = compose_train_config(overrides, Path(run_dir))
        splits = as_splits(training_records(settings))
        return train_lightning(cfg, splits, settings.warmup_steps, answer_only_logits)
