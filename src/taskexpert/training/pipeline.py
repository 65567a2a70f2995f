"""The training pipeline: plain config in, metrics out. Callable from Python and tests without a command line."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar

from taskexpert.data.datamodule import QADataModule
from taskexpert.data.encoding import ExampleEncoder
from taskexpert.data.loading import load_splits
from taskexpert.data.prompts import PromptFormat
from taskexpert.models.adapters import adapter_name, apply_adapter, count_parameters, load_adapter
from taskexpert.models.compilation import compile_decoder_blocks
from taskexpert.models.loading import load_model_and_tokenizer
from taskexpert.models.module import EvalSettings, OptimizerSettings, QAModule
from taskexpert.models.sizing import estimate_size
from taskexpert.training.config_logging import loggable_config
from taskexpert.training.loggers import build_loggers, close_loggers
from taskexpert.training.precision import resolve_precision
from taskexpert.training.pruning import OptunaPruningCallback, TrialPruned, pruned_run_metrics
from taskexpert.training.results import print_results, write_metrics, write_predictions, write_splits

log = logging.getLogger(__name__)


def dry_run(cfg: DictConfig) -> dict[str, float]:
    """Sizes from the architecture alone: nothing is downloaded, nothing trains."""
    weights_dtype = resolve_precision(cfg.trainer, cfg.model, cfg.peft).weights_dtype
    size = estimate_size(cfg.model, cfg.peft, cfg.data.batch_size, cfg.data.max_length, weights_dtype)
    summary = {
        "params/total": size.total_parameters,
        "params/trainable": size.trainable_parameters,
        "memory/weights_gib": round(size.weights_gib, 3),
        "memory/gradients_and_optimizer_gib": round(size.gradients_and_optimizer_gib, 3),
        "memory/activations_gib": round(size.activations_gib, 3),
        "memory/training_estimate_gib": round(size.training_gib, 3),
    }
    print(f"Dry run: {cfg.model.name} with {adapter_name(cfg.peft)}")
    print(f"  total parameters:     {size.total_parameters:,}")
    print(
        f"  trainable parameters: {size.trainable_parameters:,} ({100 * size.trainable_parameters / size.total_parameters:.4f}%)"
    )
    print(
        f"  training memory, rough: {size.training_gib:.1f} GiB = weights {size.weights_gib:.1f} + gradients/AdamW "
        f"{size.gradients_and_optimizer_gib:.2f} + activations {size.activations_gib:.1f} "
        f"(batch {cfg.data.batch_size} x {cfg.data.max_length} tokens)"
    )
    return summary


def _callbacks(cfg: DictConfig, run_dir: Path) -> list[pl.Callback]:
    callbacks: list[pl.Callback] = []
    if cfg.checkpoint.enabled:
        callbacks.append(
            ModelCheckpoint(
                dirpath=run_dir / "checkpoints",
                monitor=cfg.optimized_metric if cfg.optimized_metric.startswith("val/") else None,
                mode="min" if cfg.optimized_metric.endswith("loss") else "max",
                save_top_k=cfg.checkpoint.save_top_k,
                save_last=True,
                filename="best-{step}",
            )
        )
        if cfg.checkpoint.get("every_n_train_steps"):
            callbacks.append(
                ModelCheckpoint(
                    dirpath=run_dir / "checkpoints",
                    every_n_train_steps=cfg.checkpoint.every_n_train_steps,
                    save_top_k=0,
                    save_last=True,
                )
            )
    if cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(RichProgressBar())
    if cfg.get("optuna_trial"):  # set by the Optuna sweeper: report to the trial, stop when pruned
        callbacks.append(OptunaPruningCallback.from_config(cfg.optuna_trial, cfg.optimized_metric))
    return callbacks


def _cluster_plugins(cfg: DictConfig) -> dict[str, Any]:
    """Under SLURM, submitit owns requeueing (it resubmits the job into the same run directory, which then
    resumes from last.ckpt); Lightning must not install a second requeue handler."""
    if "SLURM_JOB_ID" not in os.environ or cfg.trainer.get("plugins"):
        return {}
    from pytorch_lightning.plugins.environments import SLURMEnvironment

    return {"plugins": [SLURMEnvironment(auto_requeue=False)]}


def _resume_path(cfg: DictConfig, run_dir: Path) -> str | None:
    if cfg.ckpt_path == "last":
        last = run_dir / "checkpoints" / "last.ckpt"
        return str(last) if last.is_file() else None  # a fresh run starts from scratch
    return cfg.ckpt_path


def build_data_and_module(cfg: DictConfig, model, tokenizer, splits) -> tuple[QADataModule, QAModule]:
    """The DataModule (prompt format, tokenization, batching) and the LightningModule a run trains, from `cfg`."""
    prompt_format = PromptFormat(
        **OmegaConf.to_container(cfg.prompt),
        target=cfg.data.target,
        missing_rationale=cfg.data.get("missing_rationale", "label_only"),
    )
    encoder = ExampleEncoder(tokenizer, prompt_format, cfg.data.max_length, cfg.eval.mode)
    datamodule = QADataModule(
        splits,
        encoder,
        batch_size=cfg.data.batch_size,
        eval_batch_size=cfg.data.eval_batch_size,
        group_by_length=cfg.data.group_by_length,
        num_workers=cfg.data.num_workers,
        seed=cfg.seed,
    )
    eval_settings = {k: v for k, v in OmegaConf.to_container(cfg.eval).items() if k not in ("test", "train")}
    module = QAModule(
        model,
        tokenizer,
        encoder.label_first_token_ids,
        OptimizerSettings(**cfg.optimizer),
        EvalSettings(**eval_settings),
    )
    return datamodule, module


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fine-tune, evaluate, and write the run directory. Returns the metrics (also in metrics.json)."""
    if cfg.get("dry_run"):
        return dry_run(cfg)
    run_dir = Path(cfg.paths.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    splits = load_splits(cfg.data)
    write_splits(run_dir, splits.ids())
    precision = resolve_precision(cfg.trainer, cfg.model, cfg.peft)
    log.info("precision: %s", precision.describe())
    model, tokenizer = load_model_and_tokenizer(cfg.model, precision.weights_dtype, precision.attention)
    if cfg.get("init_adapter"):
        model = load_adapter(model, cfg.init_adapter)
    else:
        model = apply_adapter(model, cfg.peft, bool(cfg.model.get("gradient_checkpointing")))
    compile_decoder_blocks(model, cfg.model.get("compile"))  # model.compile: off by default
    trainable, total = count_parameters(model)
    log.info(
        "parameters: %s trainable of %s total (%.4f%%)",
        f"{trainable:,}",
        f"{total:,}",
        100 * trainable / total,
    )

    datamodule, module = build_data_and_module(cfg, model, tokenizer, splits)

    loggers = build_loggers(cfg.get("logger"), run_dir)
    status = "failed"
    try:
        hyperparameters = loggable_config(cfg) | {"params/trainable": trainable, "params/total": total}
        hyperparameters["precision"] = precision.name
        for logger in loggers:
            logger.log_hyperparams(hyperparameters)
        trainer: pl.Trainer = instantiate(
            cfg.trainer,
            logger=loggers,
            callbacks=_callbacks(cfg, run_dir),
            default_root_dir=str(run_dir),
            enable_checkpointing=bool(cfg.checkpoint.enabled),
            precision=precision.lightning,
            **_cluster_plugins(cfg),
        )
        model.train()  # from_pretrained leaves eval mode, and Lightning keeps submodules' modes as it finds them
        try:
            trainer.fit(
                module, datamodule=datamodule, ckpt_path=_resume_path(cfg, run_dir), weights_only=True
            )
        except TrialPruned:  # keep what was measured, then let the sweeper record the trial as pruned
            measured = {"params/trainable": trainable, "params/total": total, "precision": precision.name}
            write_metrics(run_dir, pruned_run_metrics(trainer, module.results, **measured))
            raise
        if cfg.checkpoint.enabled:  # the callback misses the final state when max_steps ends an epoch early
            trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")
        best = "best" if cfg.checkpoint.enabled and trainer.checkpoint_callback.best_model_path else None
        trainer.validate(module, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False)
        if cfg.eval.test:
            trainer.test(module, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False)
        if cfg.eval.get("train"):
            module.test_split_name = "train"
            trainer.test(
                module,
                dataloaders=datamodule.train_eval_dataloader(),
                ckpt_path=best,
                weights_only=True,
                verbose=False,
            )
        metrics: dict[str, Any] = {
            "params/trainable": trainable,
            "params/total": total,
            "global_step": trainer.global_step,
        }
        metrics["precision"] = precision.name  # what `auto` chose on this machine
        for split_metrics in module.results.values():
            metrics.update(split_metrics)
        model.save_pretrained(run_dir / "adapter" if cfg.peft is not None else run_dir / "model")
        write_predictions(run_dir, module.predictions)
        write_metrics(run_dir, metrics)
        status = "success"
    finally:
        close_loggers(loggers, status)
    print_results(metrics, run_dir, f"{cfg.model.name} + {adapter_name(cfg.peft)}")
    return metrics
