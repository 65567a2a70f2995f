"""Fixed augmentation runs of every built-in method against our deterministic teacher server, and the
fingerprint of what each leaves behind (augmented.jsonl's sha256, the kept and rejected counts).

`python tests/augment_regression.py` prints the fingerprints of the code on PYTHONPATH: that is how the
constants of tests/test_augment_registry.py were produced from the code before the method registry.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers.augment_setup import (  # noqa: E402
    compose_augment_config,
    data_overrides,
    fault_teacher_overrides,
    quiet_overrides,
    write_seed_file,
)
from servers.fault_server import FaultServer, deterministic_answer  # noqa: E402

SERVER_LIFETIME = 600  # seconds: a busy machine must not outlive the server's default 300 s
METHOD_OVERRIDES = {
    "rewrite": ["method=rewrite", "method.rewrite.n_per_seed=2"],
    "new": ["method=new", "method.new.n_per_seed=2"],
    "combined": ["method=combined"],
    "rebase": [
        "method=rebase",
        "retrieval=bm25",
        "retrieval.select.k=5",
        "retrieval.select.per_query_k=8",
    ],
    "rewrite_local": [  # the tiny local teacher, decoding under its grammar (noise, but seeded per row)
        "method=rewrite",
        "method.max_seeds=3",
        "method.rewrite.max_new_tokens=64",
        "teacher=hf",
        "teacher.source=tiny",
        "teacher.tiny_architecture=llama",
        "teacher.model=tiny-llama",
        "teacher.structured=schema",
        "task.field_lengths.question=[5,40]",
    ],
    "llm2llm": [
        "method=llm2llm",
        "method.iterations=2",
        "model=tiny_llama",
        "trainer=fast",
        "trainer.max_steps=1",
        "logger=csv",
        "checkpoint.enabled=false",
    ],
}


def answer_with_rationale(body: dict[str, Any]) -> str:
    """The server's deterministic record, with a rationale (ReBase asks for one); about Kelmane, an empty
    question, so some answers are rejected and the rejected counts are held too."""
    record = json.loads(deterministic_answer(body))
    if record["question"].startswith("Does Kelmane "):
        record["question"] = ""
    return json.dumps({**record, "rationale": f"Because {record['long_answer']}"})


def method_config(method: str, base_url: str, tmp_path: Path, *extra: str):
    """The composed config of one fixed run of `method` in `tmp_path / method`."""
    seeds = write_seed_file(tmp_path, 10)
    teacher = quiet_overrides(tmp_path / "cache.sqlite")
    if not method.endswith("_local"):
        teacher = fault_teacher_overrides(base_url, tmp_path)
    overrides = [
        *METHOD_OVERRIDES[method],
        *teacher,
        f"retrieval.index_dir={tmp_path / 'indexes'}" if method == "rebase" else "seed=42",
        *data_overrides(seeds, train=6, val=2, test=2),
        *extra,
    ]
    return compose_augment_config(overrides, tmp_path / method)


def fingerprint(run_dir: Path) -> dict[str, Any]:
    """What must not change: the records byte for byte, and the counts of kept and rejected answers."""
    stats = json.loads((run_dir / "augment_stats.json").read_text(encoding="utf-8"))
    records = (run_dir / "augmented.jsonl").read_bytes()
    rejected = (run_dir / "augment_rejected.jsonl").read_bytes()
    return {
        "sha256": hashlib.sha256(records).hexdigest(),
        "rejected_sha256": hashlib.sha256(rejected).hexdigest(),
        "kept": stats["kept"],
        "requested": stats["requested"],
        "rejected": stats["rejected"],
    }


def run_fixed(method: str, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any], int]:
    """(fingerprint, stats, requests the server received) of the fixed run of `method`."""
    from taskexpert.augment.pipeline import augment

    with FaultServer(answer=answer_with_rationale, lifetime=SERVER_LIFETIME) as server:
        stats = augment(method_config(method, server.base_url, tmp_path))
        received = len(server.requests)
    return fingerprint(tmp_path / method), stats, received


if __name__ == "__main__":
    import tempfile

    results = {}
    for name in sys.argv[1:] or METHOD_OVERRIDES:
        with tempfile.TemporaryDirectory() as directory:
            results[name] = run_fixed(name, Path(directory))[0]
    print(json.dumps(results, indent=2))
