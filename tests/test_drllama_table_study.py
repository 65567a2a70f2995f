"""The paper's table study as the README runs it: `augment.py name=rewrite` writes the set that
sweeps/drllama_table.yaml reads; tiny models, and our fault server as the teacher."""

from __future__ import annotations

import json

from cli_helpers import assert_one_line_error, run_entry
from servers.fault_server import FaultServer

# The real data set's config (data=pubmedqa) pointed at the bundled sample, split to its 60 items.
SAMPLE_AS_PUBMEDQA = [
    "data.path=sample:ori_pqal.json",
    "data.split.train_size=36",
    "data.split.val_size=8",
    "data.split.test_size=16",
]
TINY_JOB = ["model=tiny_llama", "trainer=fast", "logger=csv", "checkpoint.enabled=false"]


def test_the_table_study_trains_on_the_augmentation_run_it_names(tmp_path):
    outputs = tmp_path / "outputs"
    with FaultServer() as server:
        augment = run_entry(
            "augment.py",
            [
                "method=rewrite",
                "name=rewrite",
                "data=pubmedqa",
                *SAMPLE_AS_PUBMEDQA,
                "teacher=openai",
                f"teacher.base_url={server.base_url}",
                "teacher.model=fault-model",
                "teacher.api_key_env=null",
                "method.max_seeds=4",
                "progress=false",
                "diversity.embeddings=false",
            ],
            outputs,
        )
    assert augment.returncode == 0, augment.stderr[-3000:]
    rewritten = outputs / "augment" / "rewrite" / "augmented.jsonl"
    kept = {json.loads(line)["id"] for line in rewritten.read_text().splitlines()}
    assert kept

    # The whole study needs the `new` set too: refused before any job starts, naming the command that makes it.
    study = ["-m", "sweep=drllama_table", *SAMPLE_AS_PUBMEDQA, *TINY_JOB, "peft.lora_alpha=32"]
    refused = run_entry("train.py", study, outputs)
    assert_one_line_error(
        refused, "train_set=new", "augmented.jsonl does not exist", "python augment.py name=new"
    )
    assert not (outputs / "multirun").exists()

    done = run_entry("train.py", [*study, "train_set=rewrite"], outputs)
    assert done.returncode == 0, done.stderr[-3000:]
    (splits_file,) = (outputs / "multirun").glob("*_drllama_table/0/splits.json")
    assert kept <= set(json.loads(splits_file.read_text())["train"])
