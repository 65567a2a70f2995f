"""The `retrieval` config group, the command line, and the real MiniLM embedder on the bundled corpus."""

from __future__ import annotations

import json
import re

import pytest
from conftest import CONF_DIR, compose_config
from omegaconf import open_dict
from test_retrieval_support import CountingEmbedder

from taskexpert.data.loading import load_splits
from taskexpert.errors import ConfigError
from taskexpert.retrieval import Retriever, select_from_config
from taskexpert.retrieval.__main__ import main
from taskexpert.tasks import build_task
from taskexpert.text.embedders import SentenceEmbedder

BACKENDS = ["dense", "bm25", "hybrid"]
SAMPLE_CORPUS = CONF_DIR.parent / "src" / "taskexpert" / "data" / "sample" / "corpus" / "passages.jsonl"


def retrieval_config(backend: str, index_dir, *overrides: str):
    return compose_config([f"+retrieval={backend}", f"retrieval.index_dir={index_dir}", *overrides])


def test_every_key_of_the_retrieval_configs_is_commented():
    for path in sorted((CONF_DIR / "retrieval").glob("*.yaml")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            is_key = re.match(r"^\s*[\w.+-]+:", line) and not line.lstrip().startswith("#")
            if is_key and not line.rstrip().endswith(":") and "#" not in line:
                pytest.fail(f"{path.name}:{number} has no comment: {line.strip()}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_configs_compose_and_open(tmp_path, backend):
    cfg = retrieval_config(backend, tmp_path)
    assert cfg.retrieval.backend == backend
    embedder = CountingEmbedder()  # stands in for MiniLM here; the model itself is tested below
    retriever = Retriever.from_config(cfg.retrieval, embedder=None if backend == "bm25" else embedder)
    assert len(retriever.datastore) == 162
    hits = retriever.search(["zinc supplements for acute diarrhoea in young children"], 3)[0]
    assert "zinc" in hits[0].passage.text.lower()


def test_unknown_settings_are_refused(tmp_path):
    cfg = retrieval_config("bm25", tmp_path)
    with open_dict(cfg):
        cfg.retrieval.bm25.k_1 = 1.2
    with pytest.raises(ConfigError, match=r"retrieval\.bm25\.k_1 is not a setting"):
        Retriever.from_config(cfg.retrieval)
    cfg = retrieval_config("dense", tmp_path, "retrieval.dense.index=annoy")
    with pytest.raises(ConfigError, match="index='annoy' is unknown"):
        Retriever.from_config(cfg.retrieval, embedder=CountingEmbedder())


def test_configured_embedder_is_the_bundled_minilm(tmp_path):
    from hydra.utils import instantiate

    embedder = instantiate(retrieval_config("dense", tmp_path).retrieval.dense.embedder)
    assert isinstance(embedder, SentenceEmbedder)
    assert embedder.model_name == "all-MiniLM-L6-v2" and embedder.normalize


def test_minilm_selection_on_the_bundled_sample(tmp_path):
    """The offline default end to end: MiniLM, FAISS, seeds and evaluation items of the sample.

    To keep MiniLM's work small (about 50 texts), the corpus is a slice of the bundled one (the
    copies of evaluation items, 5 off-topic and 12 biomedical passages), the seeds are the first 4
    training records and the evaluation records are the 3 items the corpus copies.
    """
    from hydra.utils import instantiate

    rows = [json.loads(line) for line in SAMPLE_CORPUS.read_text().splitlines()]
    prefix_limits = {"ev": 3, "ot": 5, "bm": 12}
    kept = [row for row in rows if int(row["id"][3:]) <= prefix_limits[row["id"][:2]]]
    corpus = tmp_path / "slice.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in kept))
    cfg = retrieval_config(
        "dense",
        tmp_path / "idx",
        f"retrieval.corpora.sample.path={corpus}",
        "retrieval.select.k=5",
        "data.train_limit=4",
    )
    minilm = instantiate(cfg.retrieval.dense.embedder)
    counting = CountingEmbedder(minilm)
    retriever = Retriever.from_config(cfg.retrieval, embedder=counting)
    assert retriever.built == {"dense": True} and counting.texts == len(kept) == 20

    splits = load_splits(cfg.data)
    copied = {"90000040", "90000057", "90000058"}  # ev-003, ev-001, ev-002 copy or reword these
    evaluation = [r for r in splits.validation + splits.test if r.id in copied]
    selection = select_from_config(retriever, cfg.retrieval, splits.train, evaluation, build_task(cfg.task))
    ids = [record.passage.row_id for record in selection]
    assert len(ids) == 5 and all(i.startswith("bm-") for i in ids)  # no copies, no cooking or football
    assert selection.excluded == {"evaluation_overlap": 2, "near_duplicate": 1, "duplicate_text": 0}
    assert selection[0].passage.row_id == "bm-001"  # heart-failure phone follow-up, like seed 90000001
    assert 0.4 < selection[0].score <= 1.0

    again = CountingEmbedder(minilm)
    reopened = Retriever.from_config(cfg.retrieval, embedder=again)
    assert reopened.built == {"dense": False} and again.calls == 0
    top = reopened.search(["Does a salt substitute lower blood pressure in older people?"], 1)[0]
    assert top[0].passage.row_id == "bm-005"  # potassium-enriched salt substitutes


def test_command_line_writes_the_selection(tmp_path, capsys):
    output = tmp_path / "selected.jsonl"
    code = main(
        [
            "retrieval=bm25",
            f"retrieval.index_dir={tmp_path / 'idx'}",
            "retrieval.select.k=7",
            "--output",
            str(output),
        ]
    )
    assert code == 0
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line["rank"] for line in lines] == list(range(1, 8))
    assert lines[0]["provenance"]["corpus"] == "sample" and lines[0]["text"]
    assert "selected 7 of" in capsys.readouterr().out


def test_command_line_reports_bad_input_in_one_line(tmp_path, capsys):
    code = main(
        ["retrieval=bm25", f"retrieval.index_dir={tmp_path}", "retrieval.corpora.sample.path=/no/such.jsonl"]
    )
    assert code == 2
    assert "error: /no/such.jsonl: does not exist" in capsys.readouterr().err
