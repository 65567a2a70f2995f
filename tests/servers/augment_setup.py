"""Invented seed records and composed `augment.yaml` configs for augmentation tests."""

from __future__ import annotations

from pathlib import Path

from conftest import compose_config  # also sets the offline environment every test runs in
from data_fixtures import qa_record
from omegaconf import DictConfig

from taskexpert.records import write_jsonl

ROOT = Path(__file__).resolve().parents[2]

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


def seed_records(count: int = 12) -> list[qa_record]:
    records = []
    for index in range(count):
        drug, outcome = INTERVENTIONS[index % len(INTERVENTIONS)], OUTCOMES[index % len(OUTCOMES)]
        context = CONTEXTS[index % len(CONTEXTS)].format(
            n=40 + 7 * index, drug=drug, w=index + 2, outcome=outcome, ward=chr(65 + index)
        )
        records.append(
            qa_record(
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
    return compose_config(overrides, run_dir, config_name="augment")


def quiet_overrides(cache_path: Path) -> list[str]:
    """Fast and quiet: no progress bar, no embedding model, the cache where the test says."""
    return [f"cache.path={cache_path}", "progress=false", "diversity.embeddings=false"]


def fault_teacher_overrides(base_url: str, tmp_path: Path) -> list[str]:
    """The OpenAI-compatible teacher pointed at a test server (no API key), quiet, its cache under `tmp_path`."""
    return [
        "teacher=openai",
        f"teacher.base_url={base_url}",
        "teacher.model=fault-model",
        "teacher.api_key_env=null",
        *quiet_overrides(tmp_path / "cache.sqlite"),
    ]
