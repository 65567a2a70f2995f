"""Invented seed records and composed `augment.yaml` configs for augmentation tests."""

from __future__ import annotations

import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from taskexpert.records import QARecord, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "conf"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Invented interventions, all ending in "ane" so the fault server can tell prompts apart by them.
INTERVENTIONS = [
    "Zorvane", "Kelmane", "Tribane", "Polvane", "Quorane", "Siltane", "Mendane", "Fardane",
    "Grelane", "Hostane", "Jumane", "Lirvane", "Nobrane", "Ostane", "Pemrane", "Rudane",
]  # fmt: skip
OUTCOMES = [
    "fatigue", "relapse", "readmission", "pain", "falls", "infection", "delirium", "anxiety",
    "nausea", "insomnia", "wound breakdown", "pneumonia", "thrombosis", "dizziness", "itching", "cramps",
]  # fmt: skip
LABEL_CYCLE = ["yes", "no", "maybe"]
# Three phrasings, none with eight fixed words in a row, so records share no 8-gram by construction.
CONTEXTS = [
    "We enrolled {n} adults recovering from surgery. Half received {drug} for {w} weeks and half a placebo; "
    "nurses recorded {outcome} without knowing the allocation.",
    "In a cohort of {n} patients on ward {ward}, {drug} was compared with usual care over {w} weeks, "
    "with {outcome} as primary end point.",
    "A pilot study gave {drug} to {n} volunteers and measured {outcome} at baseline and again after {w} weeks.",
]


def seed_records(count: int = 12) -> list[QARecord]:
    records = []
    for index in range(count):
        drug, outcome = INTERVENTIONS[index % len(INTERVENTIONS)], OUTCOMES[index % len(OUTCOMES)]
        context = CONTEXTS[index % len(CONTEXTS)].format(
            n=40 + 7 * index, drug=drug, w=index + 2, outcome=outcome, ward=chr(65 + index)
        )
        records.append(
            QARecord(
                id=f"s{index:02d}",
                question=f"Does {drug} reduce {outcome} in adults after surgery?",
                context=context,
                long_answer=f"{drug} changed the rate of {outcome} in trial {index}.",
                label=LABEL_CYCLE[index % 3],
            )
        )
    return records


def write_seed_file(directory: Path, count: int = 12) -> Path:
    return write_jsonl(seed_records(count), directory / "seeds.jsonl")


def data_overrides(seed_file: Path, train: int = 8, val: int = 2, test: int = 2) -> list[str]:
    """Point `data` at a JSONL of our records, split in file order."""
    return [
        f"data.path={seed_file}",
        "data.format=jsonl",
        f"data.split.train_size={train}",
        f"data.split.val_size={val}",
        f"data.split.test_size={test}",
    ]


def compose_augment_config(overrides: list[str], run_dir: Path | None = None) -> DictConfig:
    """The config `python augment.py OVERRIDES` would run, with Hydra's runtime fields set."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="augment", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    if run_dir is not None:
        with open_dict(cfg):
            cfg.paths.run_dir = str(run_dir)
    return cfg


def quiet_overrides(cache_path: Path) -> list[str]:
    """Fast and quiet: no progress bar, no embedding model, the cache where the test says."""
    return [f"cache.path={cache_path}", "progress=false", "diversity.embeddings=false"]
