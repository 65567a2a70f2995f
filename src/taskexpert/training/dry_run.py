"""`dry_run=true`: parameters and memory from the architecture alone, for the trainer's devices and nodes.

Nothing is downloaded, nothing trains, nothing is written (Hydra's own files go under outputs/dry_runs/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from taskexpert.models.adapters import adapter_name
from taskexpert.models.sizing import DeviceShare, SizeEstimate, estimate_size, per_device
from taskexpert.training.precision import resolve_precision

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
        return Layout(f"FSDP {kind}", devices, nodes, divisor[weights], divisor[states], note)
    name = "DDP" if world > 1 else "one device"
    return Layout(name, devices, nodes, 1, 1, note)


def _describe_share(layout: Layout, share: DeviceShare, batch: str) -> str:
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
    return (
        f"  per GPU, {layout.name} over {where}: {share.total_gib:.1f} GiB = {parts} "
        f"+ one gathered block {share.gathered_gib:.2f} ({batch} per GPU){layout.note}"
    )


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
    weights_dtype = resolve_precision(cfg.trainer, cfg.model, cfg.peft).weights_dtype
    sequence_length, length_note = _planned_length(cfg)
    size: SizeEstimate = estimate_size(
        cfg.model, cfg.peft, cfg.data.batch_size, sequence_length, weights_dtype
    )
    layout = layout_of(cfg.trainer)
    share = per_device(size, layout.devices, layout.shard_weights, layout.shard_states)
    batch = f"batch {cfg.data.batch_size} x {sequence_length} tokens{length_note}"
    print(f"Dry run: {cfg.model.name} with {adapter_name(cfg.peft)}")
    print(f"  total parameters:     {size.total_parameters:,}")
    percent = 100 * size.trainable_parameters / size.total_parameters
    print(f"  trainable parameters: {size.trainable_parameters:,} ({percent:.4f}%)")
    print(
        f"  training memory, rough: {size.training_gib:.1f} GiB = weights {size.weights_gib:.1f} + gradients/AdamW "
        f"{size.gradients_and_optimizer_gib:.2f} + activations {size.activations_gib:.1f} ({batch})"
    )
    print(_describe_share(layout, share, batch))
    return {
        "params/total": size.total_parameters,
        "params/trainable": size.trainable_parameters,
        "memory/weights_gib": round(size.weights_gib, 3),
        "memory/gradients_and_optimizer_gib": round(size.gradients_and_optimizer_gib, 3),
        "memory/activations_gib": round(size.activations_gib, 3),
        "memory/training_estimate_gib": round(size.training_gib, 3),
        "memory/per_device_gib": round(share.total_gib, 3),
        "devices": layout.devices,
    }
