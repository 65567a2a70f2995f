"""The LightningModule: causal-LM loss on answer tokens; evaluation by label scoring or by generating and reading
the answer, with the task's metrics.

Under DDP/FSDP each process evaluates a shard of the split; the rows are gathered from every process and the
metrics computed once, on the whole split, by each process alike (so checkpoint selection agrees everywhere).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch

from taskexpert.data.encoding import LabelTokens
from taskexpert.models.calibration import Calibration, CalibrationPlan, calibrated_results, describe
from taskexpert.models.decoding import Sampling, greedy_generate
from taskexpert.models.label_scoring import answer_only_loss, supports_answer_only_logits
from taskexpert.models.label_sequences import score_task_labels
from taskexpert.models.weighted_loss import weighted_answer_loss
from taskexpert.tasks.task import Task

log = logging.getLogger(__name__)


@dataclass
class OptimizerSettings:
    lr: float = 3e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.1
    scheduler: str = "linear"  # linear | cosine | constant
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass
class EvalSettings:
    mode: str = "label"  # label (scoring) | generate (generate, then read the answer: task.generate)
    max_new_tokens: int = 32
    sampling: dict | None = None  # generate mode: {enabled, temperature, top_p}; greedy unless enabled

    def sampler(self) -> Sampling | None:
        if not self.sampling or not self.sampling.get("enabled"):
            return None
        return Sampling(float(self.sampling["temperature"]), float(self.sampling["top_p"]))


class QAModule(pl.LightningModule):
    def __init__(
        self,
        model,
        tokenizer,
        task: Task,
        label_tokens: LabelTokens | None,
        optimizer: OptimizerSettings,
        evaluation: EvalSettings,
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.task = task
        self.label_tokens = label_tokens
        self.optimizer_settings = optimizer
        self.eval_settings = evaluation
        self.strict_loading = False  # checkpoints hold the trainable weights only
        self._outputs: list[tuple[int, dict[str, Any]]] = []  # (position in the split, prediction row)
        self.predictions: dict[str, list[dict[str, Any]]] = {}
        self.results: dict[str, dict[str, object]] = {}
        self.test_split_name = "test"  # the test loop also scores other splits (e.g. "train" for LLM2LLM)
        # The loss needs logits only where an answer token follows; computing the vocabulary projection
        # everywhere else cost about a quarter of a SmolLM2 step (see BENCHMARKS.md). Same loss value.
        self.answer_only_logits = supports_answer_only_logits(model)
        # Offsets applied to the label scores at evaluation (None: plain argmax), and the plan that fits them
        # at the next validation's end (set by the pipeline for the final validation).
        self.calibration: Calibration | None = None
        self.calibration_plan: CalibrationPlan | None = None

    # --- training -------------------------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_index: int) -> torch.Tensor:
        weights = batch.get("weights")  # data.class_weights: a loss weight per example
        if weights is not None:
            inputs = {key: value for key, value in batch.items() if key != "weights"}
            loss = weighted_answer_loss(self.model, inputs, weights, self.answer_only_logits)
        elif self.answer_only_logits:
            loss = answer_only_loss(self.model, batch)
        else:
            loss = self.model(**batch).loss
        tokens = (batch["labels"] != -100).sum()
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        self.log("train/answer_tokens", tokens.float(), reduce_fx="sum", batch_size=1)
        return loss

    def configure_optimizers(self):
        settings = self.optimizer_settings
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            parameters, lr=settings.lr, weight_decay=settings.weight_decay, betas=tuple(settings.betas)
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(total * settings.warmup_ratio)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            if settings.scheduler == "constant":
                return 1.0
            progress = (step - warmup) / max(1, total - warmup)
            if settings.scheduler == "cosine":
                return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
            return max(0.0, 1.0 - progress)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(
        self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None
    ) -> None:
        """Under FSDP the norm is the global one across shards (Lightning's FSDP precision has no norm clipping)."""
        from taskexpert.training.fsdp import clip_sharded_gradients

        if not clip_sharded_gradients(self, gradient_clip_val, gradient_clip_algorithm):
            self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep only what trains: an adapter checkpoint carries no base weights. (Under FSDP parameter names
        carry the wrappers' segments, which state-dict keys do not.)"""
        from taskexpert.training.fsdp import state_dict_name

        trainable = {state_dict_name(name) for name, p in self.named_parameters() if p.requires_grad}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}

    # --- evaluation -----------------------------------------------------------------------------------------
    def _predict(self, batch: dict) -> list[dict[str, Any]]:
        """Per example, what the kind needs: the prediction, and the label scores or the generated text."""
        if self.eval_settings.mode == "label":
            labels = self.label_tokens
            scores = score_task_labels(self.model, batch, labels, self.tokenizer.pad_token_id)
            return [
                {
                    "pred": labels.names[int(row.argmax())],
                    "scores": dict(zip(labels.names, row.tolist(), strict=True)),
                }
                for row in scores
            ]
        settings = self.eval_settings
        generated = greedy_generate(
            self.model,
            batch,
            settings.max_new_tokens,
            self.tokenizer.eos_token_id,
            self.tokenizer.pad_token_id,
            settings.sampler(),
        )
        texts = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        outputs = []
        for text in texts:
            prediction, parsed = self.task.kind.read_generated(self.task, text)
            output: dict[str, Any] = {"pred": prediction, "parsed": parsed}
            if self.task.labels:  # the label predicted, as scores, so every classification row has them
                output["scores"] = {label: float(label == prediction) for label in self.task.labels}
                output["scores"]["parsed"] = float(parsed)
            output["generated"] = text
            outputs.append(output)
        return outputs

    def _eval_step(self, batch: dict) -> None:
        for index, output in enumerate(self._predict(batch)):
            golds = tuple(batch["golds"][index])
            row = {"id": batch["ids"][index], "gold": golds[0], **output}
            if len(golds) > 1:
                row["golds"] = list(golds)
            if batch["groups"][index] is not None:
                row["group"] = batch["groups"][index]
            self._outputs.append((int(batch["positions"][index]), row))

    def _eval_epoch_end(self, split: str) -> None:
        rows = gather_split_rows(self._outputs)
        self._outputs = []
        if not rows:
            return
        if split == "val" and self.calibration_plan is not None:  # every process fits on the same rows
            self.calibration = self.calibration_plan.fit(rows, self._score_batch)
            self.calibration_plan = None
            log.info(describe(self.calibration))
        if self.calibration is not None and self.eval_settings.mode == "label" and self.task.labels:
            rows, metrics = calibrated_results(rows, self.calibration, self._split_metrics, f"{split}/")
        else:
            metrics = self._split_metrics(rows, f"{split}/")
        if split == "val" and self.calibration is not None:
            metrics.update(self.calibration.summary())
        scalars = {k: v for k, v in metrics.items() if isinstance(v, float)}
        # Every process holds the same whole-split values: "max" over processes keeps them exact.
        self.log_dict(scalars, prog_bar=False, batch_size=len(rows), sync_dist=True, reduce_fx="max")
        summary = ", ".join(
            f"{title} {metrics[f'{split}/{name}']:.4f}"
            for name, title in self.task.kind.table_columns(self.task)[:2]
            if f"{split}/{name}" in metrics
        )
        log.info("%s: %d records, %s", split, len(rows), summary)
        self.results[split] = metrics
        self.predictions[split] = rows

    def _score_batch(self, batch: dict) -> list[list[float]]:
        """Label scores of an evaluation batch built outside the loaders (the content-free inputs)."""
        on_device = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        with torch.no_grad():
            return score_task_labels(
                self.model, on_device, self.label_tokens, self.tokenizer.pad_token_id
            ).tolist()

    def _split_metrics(self, rows: list[dict[str, Any]], prefix: str) -> dict[str, object]:
        return split_metrics(self.task, rows, prefix)

    def validation_step(self, batch: dict, batch_index: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: dict, batch_index: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end(self.test_split_name)


def split_metrics(task: Task, rows: list[dict[str, Any]], prefix: str) -> dict[str, object]:
    """The kind's metrics over `rows`, and per group of `task.group_by` (scalars named <metric>_<group>)."""
    with_golds = [{**row, "golds": row.get("golds", [row["gold"]])} for row in rows]
    metrics = task.kind.metrics(task, with_golds, prefix)
    if task.group_by:
        for group in sorted({row.get("group", "") for row in with_golds}):
            subset = [row for row in with_golds if row.get("group", "") == group]
            for name, value in task.kind.metrics(task, subset, "").items():
                if isinstance(value, float):
                    metrics[f"{prefix}{name}_{group}"] = value
    return metrics


def gather_split_rows(outputs: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """This process's (position, row) pairs joined with every other process's, each record once, in split order.

    Lightning's DistributedSampler pads the shards with repeated records so that all have the same length;
    keeping the first row per record id drops those repeats. With one process this only sorts."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        parts: list[Any] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(parts, outputs)
        outputs = [pair for part in parts for pair in part]
    by_id: dict[str, tuple[int, dict[str, Any]]] = {}
    for position, row in outputs:
        by_id.setdefault(row["id"], (position, row))
    return [row for _, row in sorted(by_id.values(), key=lambda pair: pair[0])]
