"""FSDP as our runs use it: one unit per decoder layer, adapter-only sharded checkpoints that resume, evaluation
after the fit on the fit's own sharding, and a full state dict gathered for the export."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.strategies import FSDPStrategy as LightningFSDPStrategy
from torch import nn

log = logging.getLogger(__name__)

# What FSDP and activation checkpointing insert into parameter names; state-dict keys do not carry them.
_WRAPPER_SEGMENTS = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.")


def is_decoder_layer(module: nn.Module) -> bool:
    """A transformer block: transformers' decoder layers all derive from GradientCheckpointingLayer."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    return isinstance(module, GradientCheckpointingLayer)


class DecoderLayerWrap:
    """FSDP auto-wrap policy: every decoder layer is its own FSDP unit, gathered only while it computes; what is
    left (embeddings, final norm, LM head) forms the root unit. FSDP calls it for each module: with
    `recurse=True` to ask whether to look inside (always), with `recurse=False` whether to wrap the module."""

    def __call__(self, module: nn.Module, recurse: bool, nonwrapped_numel: int) -> bool:
        return recurse or is_decoder_layer(module)

    def __repr__(self) -> str:
        return "DecoderLayerWrap()"


class EmptyOnDevice:
    """FSDP `param_init_fn` for the processes that build the model on the meta device (see
    `loads_on_first_process`): storage on this process's device, filled by `sync_module_states` from the first
    process's loaded weights."""

    def __call__(self, module: nn.Module) -> None:
        device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else "cpu"
        module.to_empty(device=device, recurse=False)

    def __repr__(self) -> str:
        return "EmptyOnDevice()"


def loads_on_first_process(trainer_cfg: Any) -> bool:
    """FSDP with `sync_module_states`: only the first process loads the weights (host memory: one copy, not one
    per GPU); the others build the model on the meta device and receive the weights when FSDP wraps it."""
    strategy = trainer_cfg.get("strategy")
    if not hasattr(strategy, "get") or "fsdp" not in str(strategy.get("_target_", "")).lower():
        return False
    return bool(strategy.get("sync_module_states")) and strategy.get("param_init_fn") is not None


def fsdp_unit_sizes(model: nn.Module, policy: Any | None) -> list[int]:
    """Parameters per FSDP unit the way FSDP's auto-wrap assigns them: each module the policy wraps owns its
    parameters that no wrapped descendant owns; the root unit owns the rest. Works on a meta-device model.
    Without a policy the whole model is one unit. The root unit comes first."""
    units: list[int] = []
    seen: set[int] = set()  # tied weights (embeddings and LM head) count once, where FSDP first meets them

    def new_parameters(module: nn.Module, recurse: bool) -> int:
        fresh = [p for p in module.parameters(recurse=recurse) if id(p) not in seen]
        seen.update(id(p) for p in fresh)
        return sum(p.numel() for p in fresh)

    def owned(module: nn.Module) -> int:
        count = new_parameters(module, recurse=False)
        for child in module.children():
            if policy is not None and policy(module=child, recurse=True, nonwrapped_numel=0):
                child_count = owned(child)
                if policy(module=child, recurse=False, nonwrapped_numel=child_count):
                    units.append(child_count)
                else:
                    count += child_count
            else:
                count += new_parameters(child, recurse=True)
        return count

    root = owned(model)
    return [root, *units]


def _saved_model_keys(path: Path) -> set[str] | None:
    """The model keys a Lightning sharded checkpoint directory holds (its DCP metadata), or None for a file."""
    from lightning_fabric.strategies.fsdp import _is_sharded_checkpoint
    from torch.distributed.checkpoint import FileSystemReader

    if not _is_sharded_checkpoint(path):
        return None
    keys = FileSystemReader(path).read_metadata().state_dict_metadata
    return {key.removeprefix("model.") for key in keys if key.startswith("model.")}


def state_dict_name(parameter_name: str) -> str:
    """A parameter's name as state dicts spell it (without the FSDP and checkpoint wrapper segments)."""
    for segment in _WRAPPER_SEGMENTS:
        parameter_name = parameter_name.replace(segment, "")
    return parameter_name


def frozen_names(module: nn.Module) -> set[str]:
    return {state_dict_name(name) for name, p in module.named_parameters() if not p.requires_grad}


def _drop_keys(keys: Iterable[str]):
    dropped = set(keys)

    def hook(module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any) -> None:
        for key in dropped & set(state_dict):
            del state_dict[key]

    return hook


class FSDPStrategy(LightningFSDPStrategy):
    """Lightning's FSDP strategy with three things our runs need.

    - Adapter checkpoints hold the trainable weights only (QAModule.on_save_checkpoint); resuming from a sharded
      one loads those and leaves the frozen base as loaded, where Lightning asks the checkpoint for every key.
    - Validation and test after the fit run on the fit's FSDP model: Lightning wraps the module again for each
      stage, which with nested units skips the root unit, whose parameters then stay flat shards.
    - `full_state_dict()`: the unsharded weights gathered on rank 0, for `save_pretrained`.
    """

    def _setup_model(self, model: nn.Module) -> nn.Module:
        from torch.distributed.fsdp import FullyShardedDataParallel

        fitted = getattr(self, "_fitted_root", None)
        if isinstance(fitted, FullyShardedDataParallel) and fitted.module is model:
            return fitted
        self._fitted_root = super()._setup_model(model)
        return self._fitted_root

    def load_checkpoint(self, checkpoint_path: Any, weights_only: bool | None = None) -> dict[str, Any]:
        saved = _saved_model_keys(Path(checkpoint_path))
        if saved is None or self.model is None or self.lightning_module is None:
            return super().load_checkpoint(checkpoint_path, weights_only=weights_only)
        # Frozen weights the checkpoint left out are not asked of it; any other missing key still fails.
        absent_frozen = frozen_names(self.lightning_module) - saved
        handle = self.model.register_state_dict_post_hook(_drop_keys(absent_frozen))
        try:
            return super().load_checkpoint(checkpoint_path, weights_only=weights_only)
        finally:
            handle.remove()

    def full_state_dict(self, prefix: str = "") -> dict[str, torch.Tensor] | None:
        """The whole model's state dict on CPU on rank 0 (None on the others), keys under `prefix` with it cut
        off. Every rank must call it: the gather is collective."""
        from torch.distributed.fsdp import FullStateDictConfig, FullyShardedDataParallel, StateDictType

        assert self.model is not None
        # Off the GPU there is nothing to offload (and FSDP's CPU offload of CPU tensors crashes the process).
        config = FullStateDictConfig(offload_to_cpu=self.root_device.type != "cpu", rank0_only=True)
        with FullyShardedDataParallel.state_dict_type(self.model, StateDictType.FULL_STATE_DICT, config):
            state = self.model.state_dict()
        if self.global_rank != 0:
            return None
        return {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}


def unwrapped_twin(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> nn.Module:
    """The same architecture (and adapter) as `model`, built on the meta device and given `state_dict`'s tensors:
    a plain module tree whose `save_pretrained` writes what a one-device run writes (PEFT finds its adapter
    weights by module names, which FSDP's wrappers change)."""
    from peft import PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    is_peft = isinstance(model, PeftModel)
    base = model.get_base_model() if is_peft else model
    with torch.device("meta"):
        twin = AutoModelForCausalLM.from_config(copy.deepcopy(base.config))
    if is_peft:
        twin = get_peft_model(twin, copy.deepcopy(model.peft_config["default"]), low_cpu_mem_usage=True)
    twin.load_state_dict(state_dict, strict=True, assign=True)
    return twin


def exported_model(trainer: Any, model: nn.Module, attribute: str = "model") -> nn.Module | None:
    """What to `save_pretrained` after training: `model` itself on one device or under DDP; under FSDP its
    whole weights, gathered from every process onto the first, in an unwrapped twin (None on the other
    processes). Every process calls this: the gather is collective."""
    strategy = trainer.strategy
    if not isinstance(strategy, LightningFSDPStrategy):
        return model
    if not isinstance(strategy, FSDPStrategy):
        raise TypeError(f"{type(strategy).__name__}: use taskexpert.training.fsdp.FSDPStrategy for FSDP runs")
    state = strategy.full_state_dict(prefix=f"{attribute}.")
    return None if state is None else unwrapped_twin(model, state)


def clip_sharded_gradients(module: Any, clip_value: float | None, algorithm: str | None) -> bool:
    """Clip by the global gradient norm across shards when the module trains under FSDP (Lightning's FSDP
    precision refuses norm clipping). Returns False when the usual clipping applies."""
    from torch.distributed.fsdp import FullyShardedDataParallel

    root = module.trainer.strategy.model
    if not clip_value or not isinstance(root, FullyShardedDataParallel) or algorithm not in (None, "norm"):
        return False
    root.clip_grad_norm_(clip_value)
    return True
