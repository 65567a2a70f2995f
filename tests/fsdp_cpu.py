"""FSDP on CPU for the tests: our FSDP strategy with the one thing CUDA gives it, a device for FSDP.

Stands in for FSDP on GPUs with NCCL: torch's FSDP runs on CPU tensors with gloo once it is told the device
(Lightning passes `device_id=None` for a CPU, and FSDP then looks for an accelerator) and may broadcast CPU
tensors for `sync_module_states` (refused for NCCL's sake); everything else is the
real FSDP, Lightning strategy, torch.distributed.checkpoint and our code. The subclass also passes Lightning's
"FSDP needs a GPU" check, which looks for Lightning's class itself.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from unittest import mock

import torch
from torch.distributed.fsdp import FullyShardedDataParallel
from torch.distributed.fsdp import _init_utils as fsdp_init_utils

from taskexpert.training.fsdp import FSDPStrategy

_fsdp_init = FullyShardedDataParallel.__init__


@functools.wraps(_fsdp_init)
def _init_on_cpu(self, module, *args, device_id=None, **kwargs):
    _fsdp_init(self, module, *args, device_id=device_id or torch.device("cpu"), **kwargs)


class CPUFSDPStrategy(FSDPStrategy):
    def _setup_model(self, model):
        # `sync_module_states` refuses CPU tensors, which NCCL cannot broadcast; gloo can.
        with (
            mock.patch.object(FullyShardedDataParallel, "__init__", _init_on_cpu),
            mock.patch.object(
                fsdp_init_utils, "_check_module_states_for_sync_module_states", lambda states: None
            ),
        ):
            return super()._setup_model(model)


class InterruptedCPUFSDPStrategy(CPUFSDPStrategy):
    """Also stands in for a preemption: every process dies at once (`os._exit`, no clean-up, as under SIGKILL)
    when a training step would start at global step `exit_at_step`; and the first training step each run takes
    is written to `first_step_file`, to tell a resumed run from one that started over. With `storage_file`,
    each process writes `<storage_file>.<rank>`: "meta" if the model it hands FSDP holds no weights, else
    "loaded"."""

    def __init__(
        self,
        *args,
        exit_at_step: int | None = None,
        first_step_file: str | None = None,
        storage_file: str | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.exit_at_step, self.first_step_file, self.storage_file = (
            exit_at_step,
            first_step_file,
            storage_file,
        )
        self._first_step_seen = False

    def _setup_model(self, model):
        report = Path(f"{self.storage_file}.{self.global_rank}")
        if self.storage_file and not report.exists():  # the fit's set-up; later stages reuse its FSDP model
            on_meta = all(parameter.is_meta for parameter in model.parameters())
            report.write_text("meta" if on_meta else "loaded")
        return super()._setup_model(model)

    def training_step(self, *args, **kwargs):
        step = self.lightning_module.trainer.global_step
        if not self._first_step_seen and self.first_step_file and self.global_rank == 0:
            Path(self.first_step_file).write_text(str(step))
        self._first_step_seen = True
        if self.exit_at_step is not None and step >= self.exit_at_step:
            os._exit(137)
        return super().training_step(*args, **kwargs)
