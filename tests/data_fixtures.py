"""Shared helpers for the data tests: invented PubMedQA-shaped files and data configs.

Every text here is made up; nothing is copied from real abstracts.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from omegaconf import OmegaConf

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO_ROOT / "src" / "taskexpert" / "data" / "sample"
SAMPLE_DATA = SAMPLE_DIR / "ori_pqal.json"
SAMPLE_GROUND_TRUTH = SAMPLE_DIR / "test_ground_truth.json"
SAMPLE_DATA_CONFIG = REPO_ROOT / "conf" / "data" / "pubmedqa_sample.yaml"

# Label counts of the 1000 expert-labelled PubMedQA items.
PQAL_LABEL_COUNTS = {"yes": 552, "no": 338, "maybe": 110}

_TREATMENTS = [
    "daily walking",
    "a low-salt diet",
    "nurse phone calls",
    "a reminder app",
    "group exercise",
    "vitamin D tablets",
    "early mobilisation",
    "a sleep hygiene course",
    "peer mentoring",
    "yoga",
]
_OUTCOMES = [
    "blood pressure",
    "hospital stays",
    "fall rates",
    "pain scores",
    "wound healing",
    "memory tests",
    "bone density",
    "readmissions",
    "anxiety ratings",
    "step counts",
]
_GROUPS = [
    "older adults",
    "night-shift nurses",
    "school children",
    "office workers",
    "new mothers",
    "farm workers",
    "students",
    "retired teachers",
    "long-haul drivers",
    "choir singers",
]


def official_item(
    question="Does humming lower the pulse of choir singers?",
    contexts=("Choir singers hummed for ten minutes.", "Pulse was counted before and after."),
    label="yes",
    long_answer="Humming lowered the pulse a little.",
):
    """One record of `ori_pqal.json`, with every field the official file carries."""
    return {
        "QUESTION": question,
        "CONTEXTS": list(contexts),
        "LABELS": ["BACKGROUND", "METHODS"][: len(contexts)],
        "MESHES": ["Singing", "Heart Rate"],
        "YEAR": "2031",
        "reasoning_required_pred": label,
        "reasoning_free_pred": label,
        "final_decision": label,
        "LONG_ANSWER": long_answer,
    }


def write_json(path: Path, payload) -> Path:
    path.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return path


def write_jsonl_rows(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def invented_pqal(seed: int = 7, counts: dict[str, int] | None = None) -> dict[str, dict]:
    """A PQA-L-shaped dataset: PMID -> item, labels in the given counts, shuffled with `seed`."""
    counts = counts or PQAL_LABEL_COUNTS
    rng = random.Random(seed)
    labels = [label for label, count in counts.items() for _ in range(count)]
    rng.shuffle(labels)
    pmids = rng.sample(range(20_000_000, 29_999_999), len(labels))
    data = {}
    for pmid, label in zip(pmids, labels, strict=True):
        treatment, outcome, group = rng.choice(_TREATMENTS), rng.choice(_OUTCOMES), rng.choice(_GROUPS)
        size = rng.randint(20, 900)
        data[str(pmid)] = official_item(
            question=f"Does {treatment} change {outcome} in {group}?",
            contexts=(
                f"We asked whether {treatment} changes {outcome} among {group}.",
                f"{size} {group} were followed for {rng.randint(2, 52)} weeks.",
                f"The change in {outcome} was {rng.choice(['large', 'small', 'unclear', 'absent'])}.",
            ),
            label=label,
            long_answer=f"In {group}, {treatment} and {outcome} were studied; see the numbers above.",
        )
    return data


def write_pqal_with_ground_truth(directory: Path, seed: int = 7, test_size: int = 500):
    """Write `ori_pqal.json` and a `test_ground_truth.json` of `test_size` of its PMIDs (shuffled order)."""
    data = invented_pqal(seed)
    rng = random.Random(seed + 1)
    test_pmids = rng.sample(list(data), test_size)
    ground_truth = {pmid: data[pmid]["final_decision"] for pmid in test_pmids}
    data_path = write_json(directory / "ori_pqal.json", data)
    ground_truth_path = write_json(directory / "test_ground_truth.json", ground_truth)
    return data_path, ground_truth_path, data, ground_truth


def data_config(**overrides):
    """The `data` group of conf/data/pubmedqa_sample.yaml (on top of conf/data/common.yaml, as Hydra composes
    it) with `overrides` merged in (nested dicts allowed)."""
    sample = OmegaConf.load(SAMPLE_DATA_CONFIG)
    del sample["defaults"]
    config = OmegaConf.merge(OmegaConf.load(SAMPLE_DATA_CONFIG.with_name("common.yaml")), sample)
    return OmegaConf.merge(config, OmegaConf.create(overrides))


def record_row(record_id, label="no", question=None, context=None, **fields):
    """A row of this project's own JSONL record format."""
    row = {
        "id": str(record_id),
        "question": question or f"Is invented question {record_id} answered?",
        "context": context or f"Invented context for item {record_id}: some made-up findings.",
        "label": label,
    }
    row.update(fields)
    return row


def qa_record(id, question, context, long_answer="", label="", source="pubmedqa", **fields):
    """A record of the default task (inputs question and context) in the old keyword style."""
    from taskexpert.records import Record

    return Record(
        id=id,
        inputs={"question": question, "context": context},
        target=label,
        reference=long_answer,
        source=source,
        **fields,
    )
