"""FSDP on CPU for the tests: our FSDP strategy with the one thing CUDA gives it, a device for FSDP.

Stands in for FSDP on GPUs with NCCL: torch's FSDP runs on CPU tensors with gloo once it is told the device
(Lightning passes `device_id=None` for a CPU, and FSDP then looks for an accelerator); everything else is the
real FSDP, Lightning strategy, torch.distributed.checkpoint and our code. The subclass also passes Lightning's
"FSDP needs a GPU" check, which looks for Lightning's class itself.
"""

from __future__ import annotations

import functools
from unittest import mock

import torch
from torch.distributed.fsdp import FullyShardedDataParallel

from taskexpert.training.fsdp import FSDPStrategy

_fsdp_init = FullyShardedDataParallel.__init__


@functools.wraps(_fsdp_init)
def _init_on_cpu(self, module, *args, device_id=None, **kwargs):
    _fsdp_init(self, module, *args, device_id=device_id or torch.device("cpu"), **kwargs)


class CPUFSDPStrategy(FSDPStrategy):
    def _setup_model(self, model):
        with mock.patch.object(FullyShardedDataParallel, "__init__", _init_on_cpu):
            return super()._setup_model(model)
