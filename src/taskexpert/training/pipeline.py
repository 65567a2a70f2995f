"""The training pipeline: plain config in, metrics out. Callable from Python and tests without a command line."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from taskexpert.data.class_weights import training_balance
from taskexpert.data.datamodule import QADataModule
from taskexpert.data.encoding import ExampleEncoder
from taskexpert.data.lengths import fit_lengths
from taskexpert.data.loading import load_splits
from taskexpert.models.adapter_compute import compute_lora_in_input_dtype, lora_computes_in_base_dtype
from taskexpert.models.adapters import adapter_name, apply_adapter, count_parameters, load_adapter
from taskexpert.models.compilation import compile_decoder_blocks
from taskexpert.models.loading import load_model_and_tokenizer
from taskexpert.models.lora_dropout import choose_lora_dropout
from taskexpert.models.module import EvalSettings, OptimizerSettings, QAModule
from taskexpert.tasks import Task, build_task
from taskexpert.training.calibration_setup import EVAL_KEYS, prepare_calibration, save_beside_adapter
from taskexpert.training.checkpoint_files import resumable_checkpoint
from taskexpert.training.config_logging import loggable_config
from taskexpert.training.dry_run import dry_run
from taskexpert.training.fsdp import exported_model, loads_on_first_process
from taskexpert.training.last_checkpoint import LastCheckpoint
from taskexpert.training.loggers import build_loggers, close_loggers
from taskexpert.training.precision import RunPrecision, resolve_precision
from taskexpert.training.pruning import OptunaPruningCallback, TrialPruned, pruned_run_metrics
from taskexpert.training.results import print_results, write_metrics, write_predictions, write_splits
from taskexpert.training.resume import TrainingRandomState, checkpoint_log_step
from taskexpert.training.schedule_record import LearningRateRecord
from taskexpert.utils.hardware import resolve_device

log = logging.getLogger(__name__)


def _callbacks(cfg: DictConfig, run_dir: Path) -> list[pl.Callback]:
    callbacks: list[pl.Callback] = [TrainingRandomState(), LearningRateRecord(_resume_path(cfg, run_dir))]
    if cfg.checkpoint.enabled:
        callbacks.append(
            ModelCheckpoint(
                dirpath=run_dir / "checkpoints",
                monitor=cfg.optimized_metric if cfg.optimized_metric.startswith("val/") else None,
                mode="min" if cfg.optimized_metric.endswith("loss") else "max",
                save_top_k=cfg.checkpoint.save_top_k,
                save_last=False,  # last.ckpt is LastCheckpoint's alone (two writers make last-v1.ckpt)
                filename="best-{step}",
                save_on_train_epoch_end=False,  # at validation end, so LastCheckpoint then saves its state
            )
        )
        callbacks.append(LastCheckpoint(run_dir / "checkpoints", cfg.checkpoint.get("every_n_train_steps")))
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


@contextmanager
def _known_warnings_silenced() -> Iterator[None]:
    """Lightning warnings that do not apply here: the DataModule carries the training order's position and
    TrainingRandomState the random state, so a mid-epoch resume is exact although the DataLoader has no
    state_dict; and "best" means the best-checkpoint callback, the first, beside LastCheckpoint."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*your dataloader is not resumable")
        warnings.filterwarnings(
            "ignore", message=r".*called with Trainer configured with multiple .ModelCheckpoint"
        )
        yield


def _resume_path(cfg: DictConfig, run_dir: Path) -> str | None:
    if cfg.ckpt_path == "last":
        last = resumable_checkpoint(
            run_dir / "checkpoints" / "last.ckpt"
        )  # a file, or FSDP's sharded directory
        return str(last) if last else None  # a fresh run starts from scratch
    return cfg.ckpt_path


def build_data_and_module(
    cfg: DictConfig, model, tokenizer, splits, task: Task | None = None, max_length: int | None = None
) -> tuple[QADataModule, QAModule]:
    """The DataModule (prompt format, tokenization, batching) and the LightningModule a run trains, from `cfg`.
    `max_length`: the length `fit_lengths` chose; None = fit it here (`data.max_length: auto` measures)."""
    task = task or build_task(cfg.task)
    if max_length is None:
        max_length = fit_lengths(cfg, splits, tokenizer, task, getattr(model, "config", None)).max_length
    encoder = ExampleEncoder(
        tokenizer,
        task,
        max_length,
        cfg.eval.mode,
        target=cfg.data.target,
        missing_rationale=cfg.data.get("missing_rationale", "label_only"),
        max_new_tokens=cfg.eval.get("max_new_tokens"),
    )
    datamodule = QADataModule(
        splits,
        encoder,
        batch_size=cfg.data.batch_size,
        eval_batch_size=cfg.data.eval_batch_size,
        group_by_length=cfg.data.group_by_length,
        num_workers=cfg.data.num_workers,
        seed=cfg.seed,
        **training_balance(cfg.data, [record.target for record in splits.train], task.labels),
    )
    eval_settings = {
        k: v
        for k, v in OmegaConf.to_container(cfg.eval, resolve=True).items()
        if k not in ("test", "train", *EVAL_KEYS)
    }
    eval_settings["mode"] = encoder.eval_mode  # null in the config: the task's default
    eval_settings["max_new_tokens"] = eval_settings.get("max_new_tokens") or task.generate.max_new_tokens
    module = QAModule(
        model,
        tokenizer,
        task,
        encoder.label_tokens,
        OptimizerSettings(**cfg.optimizer),
        EvalSettings(**eval_settings),
    )
    return datamodule, module


def build_trainable_model(cfg: DictConfig, precision: RunPrecision):
    """The base model in the run's precision with its adapter (new, or `init_adapter`; under bf16-base its LoRA
    matmuls compute in bf16 from fp32 weights), the LoRA dropout mask of `model.lora_dropout_mask` and, if asked,
    compiled decoder blocks. Returns (model, tokenizer)."""
    # FSDP with sync_module_states: the first process alone loads the weights, the others get them from it
    on_meta = loads_on_first_process(cfg.trainer) and rank_zero_only.rank != 0 and not cfg.get("init_adapter")
    model, tokenizer = load_model_and_tokenizer(
        cfg.model, precision.weights_dtype, precision.attention, on_meta
    )
    if cfg.get("init_adapter"):
        model = load_adapter(model, cfg.init_adapter)
    else:
        model = apply_adapter(
            model, cfg.peft, bool(cfg.model.get("gradient_checkpointing")), low_cpu_mem_usage=on_meta
        )
    # bf16-base: fp32 LoRA weights, bf16 activations, no fp32 copies of whole activations
    if precision.name == "bf16-base" and lora_computes_in_base_dtype(cfg.model.get("lora_compute")):
        compute_lora_in_input_dtype(model)
    device = resolve_device(str(cfg.trainer.get("accelerator", "cpu")))
    dropout_mask = choose_lora_dropout(model, cfg.model.get("lora_dropout_mask"), device)
    log.debug("LoRA dropout mask: %s", dropout_mask)
    compile_decoder_blocks(model, cfg.model.get("compile"))  # model.compile: off by default
    return model, tokenizer


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fine-tune, evaluate, and write the run directory. Returns the metrics (also in metrics.json)."""
    if cfg.get("dry_run"):
        return dry_run(cfg)
    run_dir = Path(cfg.paths.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    task = build_task(cfg.task)
    splits = load_splits(cfg.data, task)
    precision = resolve_precision(cfg.trainer, cfg.model, cfg.peft)
    log.info("precision: %s", precision.describe())
    model, tokenizer = build_trainable_model(cfg, precision)
    trainable, total = count_parameters(model)
    log.info(
        "parameters: %s trainable of %s total (%.4f%%)",
        f"{trainable:,}",
        f"{total:,}",
        100 * trainable / total,
    )

    # data.max_length (auto: measured) and data.too_long, once, before splits.json records what is used
    lengths = fit_lengths(cfg, splits, tokenizer, task, model.config)
    if rank_zero_only.rank == 0:  # under DDP every process runs this; the first one writes the run's files
        write_splits(run_dir, splits)
    datamodule, module = build_data_and_module(cfg, model, tokenizer, splits, task, lengths.max_length)

    resume_from = _resume_path(cfg, run_dir)
    resumed_log_step = checkpoint_log_step(resume_from) if resume_from else None
    if resume_from:
        log.info("Resuming from %s (step %d)", resume_from, resumed_log_step)
    loggers = build_loggers(cfg.get("logger"), run_dir, resumed_log_step)
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
            with _known_warnings_silenced():
                trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
        except TrialPruned:  # keep what was measured, then let the sweeper record the trial as pruned
            measured = {"params/trainable": trainable, "params/total": total, "precision": precision.name}
            if trainer.is_global_zero:
                write_metrics(run_dir, pruned_run_metrics(trainer, module.results, **measured))
            raise
        best = "best" if cfg.checkpoint.enabled and trainer.checkpoint_callback.best_model_path else None
        prepare_calibration(cfg, module, datamodule.encoder, task.labels, trained=trainer.global_step > 0)
        with _known_warnings_silenced():
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
        metrics.update(lengths.metrics())  # the length used, and evaluation items skipped as too long
        for split_metrics in module.results.values():
            metrics.update(split_metrics)
        exported = exported_model(trainer, model)  # FSDP: the weights gathered from every process onto rank 0
        if trainer.is_global_zero:  # every process holds the same gathered results; one writes them
            export_dir = run_dir / "adapter" if cfg.peft is not None else run_dir / "model"
            exported.save_pretrained(export_dir)
            save_beside_adapter(module, export_dir)
            write_predictions(run_dir, module.predictions)
            write_metrics(run_dir, metrics)
        status = "success"
    finally:
        close_loggers(loggers, status)
    if trainer.is_global_zero:
        print_results(metrics, run_dir, f"{task.name}: {cfg.model.name} + {adapter_name(cfg.peft)}", task)
    return metrics
