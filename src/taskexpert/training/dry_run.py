"""`dry_run=true`: parameters and memory from the architecture alone, for the trainer's devices and nodes.

Nothing is downloaded, nothing trains, nothing is written (Hydra's own files go under outputs/dry_runs/).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from taskexpert.errors import ConfigError
from taskexpert.models.adapters import adapter_name, apply_adapter
from taskexpert.models.sizing import GIB, DeviceShare, SizeEstimate, estimate_size, meta_model, per_device
from taskexpert.training.fsdp import fsdp_unit_sizes, loads_on_first_process
from taskexpert.training.precision import resolve_precision

# Host memory of one process besides model weights (Python, torch and CUDA libraries, tokenizer, data): a rough
# planning figure for the SLURM memory request.
PROCESS_HOST_GIB = 3.0
MIN_MEMORY_REQUEST_GB = 32  # what the SLURM launcher asks for at least, whatever the estimate

# FSDP sharding strategy -> (what divides the weights, what divides gradients and optimizer state):
# "world" = every GPU of the run, "node" = the GPUs of one node (hybrid sharding replicates across nodes).
FSDP_SHARDING = {
    "FULL_SHARD": ("world", "world"),
    "SHARD_GRAD_OP": ("one", "world"),
    "NO_SHARD": ("one", "one"),
    "HYBRID_SHARD": ("node", "node"),
    "_HYBRID_SHARD_ZERO2": ("one", "node"),
}


@dataclass
class Layout:
    """How a run spreads over GPUs, read from the trainer config."""

    name: str  # "one device", "DDP", "FSDP FULL_SHARD", ...
    devices_per_node: int
    num_nodes: int
    shard_weights: int
    shard_states: int
    note: str = ""
    wrap_policy: Any = (
        None  # FSDP: the trainer's auto_wrap_policy config (None = the whole model is one unit)
    )

    @property
    def devices(self) -> int:
        return self.devices_per_node * self.num_nodes


def _device_count(devices: Any) -> tuple[int, str]:
    if isinstance(devices, int) and devices > 0:
        return devices, ""
    if isinstance(devices, (list, tuple)) or (hasattr(devices, "__len__") and not isinstance(devices, str)):
        return max(len(devices), 1), ""
    if isinstance(devices, str) and devices.replace(",", "").isdigit():
        ids = [d for d in devices.split(",") if d]
        return (len(ids), "") if "," in devices else (int(devices), "")
    return 1, f" (trainer.devices={devices} is decided at run time; counted as 1)"


def layout_of(trainer_cfg: Any) -> Layout:
    devices, note = _device_count(trainer_cfg.get("devices", 1))
    nodes = int(trainer_cfg.get("num_nodes", 1) or 1)
    strategy = trainer_cfg.get("strategy")
    target = (
        str(strategy.get("_target_", "")) if isinstance(strategy, (dict, DictConfig)) else str(strategy or "")
    )
    world, sharded = devices * nodes, "fsdp" in target.lower()
    if sharded:
        kind = "FULL_SHARD"
        if isinstance(strategy, (dict, DictConfig)):
            kind = str(strategy.get("sharding_strategy") or kind).upper()
        weights, states = FSDP_SHARDING.get(kind, ("world", "world"))
        divisor = {"world": world, "node": devices, "one": 1}
        policy = strategy.get("auto_wrap_policy") if isinstance(strategy, (dict, DictConfig)) else None
        return Layout(f"FSDP {kind}", devices, nodes, divisor[weights], divisor[states], note, policy)
    name = "DDP" if world > 1 else "one device"
    return Layout(name, devices, nodes, 1, 1, note)


@dataclass
class FSDPUnits:
    """How FSDP's auto-wrap splits the model: parameters per unit, the root unit first."""

    sizes: list[int]
    compute_bytes: int  # bytes per parameter of a gathered unit (FSDP gathers in the compute dtype)

    @property
    def largest(self) -> int:
        return max(self.sizes)

    @property
    def gathered_gib(self) -> float:
        return self.largest * self.compute_bytes / GIB

    def describe(self) -> str:
        if len(self.sizes) == 1:
            return f"the whole model gathered at once {self.gathered_gib:.2f} (no auto_wrap_policy: one FSDP unit)"
        where = (
            "the root unit: embeddings and head" if self.largest == self.sizes[0] else "a decoder-layer unit"
        )
        return (
            f"the largest of {len(self.sizes)} FSDP units gathered {self.gathered_gib:.2f} "
            f"({where}, {self.largest:,} parameters)"
        )


def fsdp_units(cfg: DictConfig, layout: Layout, precision_name: str, weight_bytes: int) -> FSDPUnits:
    """The trainer's wrap policy applied to the model (on the meta device), as FSDP would apply it."""
    model, _ = meta_model(cfg.model)
    model = apply_adapter(
        model, cfg.peft, bool(cfg.model.get("gradient_checkpointing")), low_cpu_mem_usage=True
    )
    policy = instantiate(layout.wrap_policy) if layout.wrap_policy else None
    compute_bytes = 2 if precision_name in ("bf16-mixed", "16-mixed") else weight_bytes
    return FSDPUnits(fsdp_unit_sizes(model, policy), compute_bytes)


def host_memory_gib(size: SizeEstimate, layout: Layout, trainer_cfg: Any) -> float:
    """One node's host memory, rough: the full weights once per process that loads them (only the first with
    FSDP's `sync_module_states`; it is also where the export gathers them), plus each process's own needs."""
    copies = 1 if loads_on_first_process(trainer_cfg) else layout.devices_per_node
    return copies * size.weights_gib + layout.devices_per_node * PROCESS_HOST_GIB


def memory_request_gb(host_gib: float) -> int:
    return max(MIN_MEMORY_REQUEST_GB, math.ceil(host_gib))


def host_memory_request(cfg: DictConfig) -> int:
    """The SLURM launcher's `mem_gb` for this run: the dry run's host memory per node, at least the minimum (also
    when the model cannot be sized without downloading it)."""
    try:
        precision = resolve_precision(cfg.trainer, cfg.model, cfg.peft)
        size = estimate_size(
            cfg.model, cfg.peft, cfg.data.batch_size, _planned_length(cfg)[0], precision.weights_dtype
        )
    except ConfigError:
        return MIN_MEMORY_REQUEST_GB
    return memory_request_gb(host_memory_gib(size, layout_of(cfg.trainer), cfg.trainer))


def _describe_share(layout: Layout, share: DeviceShare, batch: str, units: FSDPUnits | None = None) -> str:
    where = f"{layout.devices} GPUs ({layout.devices_per_node} devices x {layout.num_nodes} node{'s' if layout.num_nodes > 1 else ''})"
    parts = (
        f"weights {share.weights_gib:.1f} + gradients/AdamW {share.gradients_and_optimizer_gib:.2f} "
        f"+ activations {share.activations_gib:.1f}"
    )
    if layout.name == "one device":
        return (
            f"  per device: {share.total_gib:.1f} GiB on one device{layout.note} "
            "(trainer=ddp or trainer=fsdp with trainer.devices=N show a GPU's share)"
        )
    if layout.name == "DDP":
        return (
            f"  per GPU, DDP over {where}: {share.total_gib:.1f} GiB = {parts} "
            f"(every GPU holds the whole model and its optimizer state; {batch} per GPU){layout.note}"
        )
    gathered = units.describe() if units else f"one gathered block {share.gathered_gib:.2f}"
    return f"  per GPU, {layout.name} over {where}: {share.total_gib:.1f} GiB = {parts} + {gathered} ({batch} per GPU){layout.note}"


def _planned_length(cfg: DictConfig) -> tuple[int, str]:
    """The sequence length memory is sized for. `auto` is measured at the start of a run, from the data, which a
    dry run does not read: its memory is shown for the most `auto` may choose (the cap, else the context window)."""
    from taskexpert.data.lengths import length_setting

    setting = length_setting(cfg.data)
    if setting != "auto":
        return int(setting), ""
    from taskexpert.models.sizing import architecture_config

    window = getattr(architecture_config(cfg.model).get_text_config(), "max_position_embeddings", None)
    bounds = [int(b) for b in (cfg.data.get("max_length_cap"), window) if b]
    bound = min(bounds) if bounds else 512
    return bound, "; data.max_length=auto (measured at start): memory shown for the most it may choose"


def dry_run(cfg: DictConfig) -> dict[str, float]:
    """Print and return parameter counts and memory: the whole run's, and one GPU's share of it."""
    precision = resolve_precision(cfg.trainer, cfg.model, cfg.peft)
    sequence_length, length_note = _planned_length(cfg)
    size: SizeEstimate = estimate_size(
        cfg.model, cfg.peft, cfg.data.batch_size, sequence_length, precision.weights_dtype
    )
    layout = layout_of(cfg.trainer)
    share = per_device(size, layout.devices, layout.shard_weights, layout.shard_states)
    units = None
    if (
        layout.name.startswith("FSDP") and layout.shard_weights > 1
    ):  # what FSDP gathers is what the policy made
        weight_bytes = round(size.weights_gib * GIB / size.total_parameters)
        units = fsdp_units(cfg, layout, precision.name, weight_bytes)
        share = dataclasses.replace(share, gathered_gib=units.gathered_gib)
    host = host_memory_gib(size, layout, cfg.trainer)
    batch = f"batch {cfg.data.batch_size} x {sequence_length} tokens{length_note}"
    print(f"Dry run: {cfg.model.name} with {adapter_name(cfg.peft)}")
    print(f"  total parameters:     {size.total_parameters:,}")
    percent = 100 * size.trainable_parameters / size.total_parameters
    print(f"  trainable parameters: {size.trainable_parameters:,} ({percent:.4f}%)")
    print(
        f"  training memory, rough: {size.training_gib:.1f} GiB = weights {size.weights_gib:.1f} + gradients/AdamW "
        f"{size.gradients_and_optimizer_gib:.2f} + activations {size.activations_gib:.1f} ({batch})"
    )
    print(_describe_share(layout, share, batch, units))
    print(
        f"  host memory per node, rough: {host:.1f} GiB (hydra/launcher=slurm requests {memory_request_gb(host)} GB)"
    )
    summary = {
        "params/total": size.total_parameters,
        "params/trainable": size.trainable_parameters,
        "memory/weights_gib": round(size.weights_gib, 3),
        "memory/gradients_and_optimizer_gib": round(size.gradients_and_optimizer_gib, 3),
        "memory/activations_gib": round(size.activations_gib, 3),
        "memory/training_estimate_gib": round(size.training_gib, 3),
        "memory/per_device_gib": round(share.total_gib, 3),
        "memory/gathered_gib": round(share.gathered_gib, 6),
        "memory/host_per_node_gib": round(host, 3),
        "devices": layout.devices,
    }
    if units:
        summary |= {"fsdp/units": len(units.sizes), "fsdp/largest_unit_parameters": units.largest}
    return summary
