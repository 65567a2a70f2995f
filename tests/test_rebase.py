"""ReBase end to end: a generated corpus with planted passages, a deterministic teacher server, train.py on the output.

Every text is generated here. Seed topics use invented words, so the planted passages (written about the seed
topics) are the relevant ones; the corpus also holds a copy of a test item's context and a passage quoting a
test item's question, which must never reach the teacher.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re

import pytest
from conftest import FAST, compose_config
from data_fixtures import qa_record
from servers.fault_server import FaultServer

from taskexpert.augment.rebase import method_corpora, retrieval_config, run_rebase
from taskexpert.data.loading import load_splits
from taskexpert.data.split_meta import read_split_meta
from taskexpert.errors import ConfigError, DataError
from taskexpert.records import read_jsonl, write_jsonl
from taskexpert.retrieval import Retriever, select_from_config
from taskexpert.tasks import build_task

N_TRAIN, N_VAL, N_TEST = 4, 2, 2
LABELS = ["yes", "no", "maybe"]


GENERIC = [
    "patients",
    "study",
    "group",
    "trial",
    "results",
    "outcome",
    "measured",
    "compared",
    "weeks",
    "adults",
    "risk",
    "rate",
    "effect",
]
SYLLABLES = ["ka", "lo", "mi", "ren", "tor", "vex", "zu", "pra", "dil", "mon", "sef", "qua", "bri", "nok"]


def invented_words(count: int, seed: int) -> list[str]:
    """Distinct made-up words: rare terms that make topics easy to tell apart."""
    generator, words = random.Random(seed), []
    while len(words) < count:
        word = "".join(generator.choice(SYLLABLES) for _ in range(3))
        if word not in words:
            words.append(word)
    return words


def sentence_text(generator: random.Random, topic: list[str], words: int, topic_share: float) -> str:
    chosen = [
        generator.choice(topic) if generator.random() < topic_share else generator.choice(GENERIC)
        for _ in range(words)
    ]
    return " ".join(chosen).capitalize() + "."


def make_task(directory):
    """Seeds, validation and test records (with rationales, see the train test) and a planted corpus."""
    generator = random.Random(11)
    topics = [invented_words(6, seed=300 + index) for index in range(N_TRAIN + N_VAL + N_TEST + 20)]
    records = []
    for index, words in enumerate(topics[: N_TRAIN + N_VAL + N_TEST]):
        if index >= N_TRAIN:  # evaluation items share a seed topic, so their copies would rank high
            words = [*topics[index - N_TRAIN][:3], *words[3:]]
        records.append(
            qa_record(
                id=f"item{index}",
                question=f"Does {words[0]} reduce {words[1]} in {words[2]} patients after {words[3]}?",
                context=sentence_text(generator, words, 45, 0.5),
                long_answer=f"{words[0].capitalize()} reduced {words[1]} in {words[2]} patients.",
                label=LABELS[index % 3],
                rationale=f"The {words[0]} group had less {words[1]} than the control group.",
            )
        )
    rows = [
        {"id": f"bg{i:03d}", "text": sentence_text(generator, generator.choice(topics[8:]), 40, 0.15)}
        for i in range(60)
    ]
    planted = [
        {
            "id": f"planted{index}{copy}",
            "text": f"{words[0].capitalize()} and {words[1]} in {words[2]} patients. "
            + sentence_text(generator, words, 40, 0.6),
        }
        for index, words in enumerate(topics[:N_TRAIN])
        for copy in range(2)
    ]
    test_items = records[N_TRAIN + N_VAL :]
    copies = [
        {"id": "copy_test_context", "text": test_items[0].inputs["context"]},
        {
            "id": "copy_test_question",
            "text": f"{test_items[1].inputs['question']} {test_items[1].inputs['context']}",
        },
    ]
    for row in planted + copies:
        rows.insert(generator.randrange(len(rows) + 1), row)
    data = write_jsonl(records, directory / "task.jsonl")
    corpus = directory / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return data, corpus, {row["id"] for row in planted}, {row["id"] for row in copies}, test_items


def rebase_answer(body):
    """A valid ReBase answer, different for every passage, the same every time."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    passage = user.split("Text:\n", 1)[1].split("\n\nWrite one example", 1)[0]
    digest = hashlib.sha256(passage.encode()).hexdigest()
    first = re.findall(r"[a-z]+", passage.lower())[0]
    tag = " ".join(f"w{digest[i : i + 4]}" for i in range(0, 16, 4))
    return json.dumps(
        {
            "question": f"Does {first} change the outcome {tag}?",
            "rationale": f"The text reports {first} first. It then compares groups {tag}. So the answer follows.",
            "long_answer": f"{first.capitalize()} changed the outcome.",
            "label": LABELS[int(digest[:2], 16) % 3],
            "unused": "extra keys are ignored",
        }
    )


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return make_task(tmp_path_factory.mktemp("task"))


@pytest.fixture(scope="module")
def server():
    with FaultServer(answer=rebase_answer) as running:
        yield running


def data_overrides(data_path) -> list[str]:
    return [
        f"data.path={data_path}",
        "data.format=jsonl",
        f"data.split.train_size={N_TRAIN}",
        f"data.split.val_size={N_VAL}",
        f"data.split.test_size={N_TEST}",
    ]


def rebase_config(task, server, tmp_path, run_name, *extra):
    data, corpus, *_ = task
    overrides = [
        "method=rebase",
        "retrieval=bm25",
        f"retrieval.index_dir={tmp_path / 'indexes'}",
        "retrieval.select.k=8",
        "retrieval.select.per_query_k=8",
        f"method.corpora=[{corpus}]",
        "method.corpus_defaults.text_fields=[text]",
        "method.corpus_defaults.unit=field",
        "teacher=openai",
        f"teacher.base_url={server.base_url}",
        "teacher.model=fault-model",
        "teacher.api_key_env=null",
        "teacher.max_concurrency=2",
        f"cache.path={tmp_path / 'cache.sqlite'}",
        "progress=false",
        "diversity.embeddings=false",
        *data_overrides(data),
        *extra,
    ]
    return compose_config(overrides, tmp_path / run_name, config_name="augment")


@pytest.fixture(scope="module")
def first_run(task, server, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("rebase")
    requests_before = len(server.requests)
    stats = run_rebase(rebase_config(task, server, tmp_path, "first"))
    return tmp_path, stats, len(server.requests) - requests_before


def test_records_come_from_planted_passages_with_provenance_and_rationale(task, first_run):
    _, corpus, planted_ids, copy_ids, test_items = task
    tmp_path, stats, requests = first_run
    records = read_jsonl(tmp_path / "first" / "augmented.jsonl")
    assert len(records) == stats["kept"] == 8 and requests == 8
    assert {record.meta["row_id"] for record in records} == planted_ids
    for record in records:
        assert record.source == "rebase" and record.teacher == "fault-model"
        assert record.rationale.startswith("The text reports")
        assert record.parent_id == f"corpus:{record.meta['row']}:text:0"
        assert record.id == f"{record.parent_id}-rebase-0"
        assert record.meta["corpus"] == "corpus" and record.meta["field"] == "text"
        assert record.meta["retrieval"]["backend"] == "bm25" and record.meta["retrieval"]["score"] > 0
        assert record.meta["example_ids"][0] == record.meta["retrieval"]["nearest_seed_id"]
    corpus_rows = {row["id"]: row["text"] for row in map(json.loads, corpus.read_text().splitlines())}
    assert all(record.inputs["context"] == corpus_rows[record.meta["row_id"]] for record in records)
    # the evaluation copies are excluded before the teacher sees anything
    assert not {record.meta["row_id"] for record in records} & copy_ids
    assert stats["retrieval"]["excluded"]["evaluation_overlap"] == 2
    assert all(
        item.inputs["context"] not in {record.inputs["context"] for record in records} for item in test_items
    )
    retrieved = [
        json.loads(line) for line in (tmp_path / "first" / "retrieved.jsonl").read_text().splitlines()
    ]
    assert [row["rank"] for row in retrieved] == list(range(1, 9))
    assert stats["retrieval"]["index"] == {"bm25": "built"}
    assert stats["retrieval"]["corpora"]["corpus"]["rows"] == len(corpus_rows)
    written = json.loads((tmp_path / "first" / "augment_stats.json").read_text())
    assert written["retrieval"]["selected"] == 8 and written["method"] == "rebase"


def test_the_augmented_file_records_its_split_and_train_accepts_it_only_there(task, first_run):
    data, *_ = task
    augmented = first_run[0] / "first" / "augmented.jsonl"
    meta = read_split_meta(augmented)
    assert meta["method"] == "rebase" and meta["records"] == 8 and meta["evaluation_items"] == N_VAL + N_TEST
    same = compose_config([*data_overrides(data), f"data.extra_train=[{augmented}]"])
    assert len(load_splits(same.data).train) == N_TRAIN + 8  # passage parents and texts pass the check
    moved = [f"data.split.train_size={N_TRAIN - 1}", f"data.split.val_size={N_VAL + 1}"]
    other = compose_config([*data_overrides(data), *moved, f"data.extra_train=[{augmented}]"])
    with pytest.raises(DataError, match="guarded against another split"):
        load_splits(other.data)


def test_second_run_reuses_the_index_and_makes_no_teacher_call(task, server, first_run):
    tmp_path, stats, _ = first_run
    requests_before = len(server.requests)
    again = run_rebase(rebase_config(task, server, tmp_path, "second"))
    assert len(server.requests) == requests_before
    assert again["generated"] == 0 and again["cache_hits"] == again["requested"] == 8
    assert again["retrieval"]["index"] == {"bm25": "reused"}
    first = (tmp_path / "first" / "augmented.jsonl").read_text()
    assert (tmp_path / "second" / "augmented.jsonl").read_text() == first


def test_without_exclusions_the_copies_would_be_selected(task, server, tmp_path):
    """The exclusion, not the ranking, keeps the evaluation copies out."""
    _, _, _, copy_ids, _ = task
    cfg = rebase_config(task, server, tmp_path, "run", "retrieval.select.k=20")
    retrieval = retrieval_config(cfg)
    seeds = load_splits(cfg.data).train
    selection = select_from_config(
        Retriever.from_config(retrieval), retrieval, seeds, [], build_task(cfg.task)
    )
    assert copy_ids <= {record.passage.row_id for record in selection}


def test_corpus_entries_and_bad_settings(tmp_path):
    method = compose_config(["method=rebase"], tmp_path, config_name="augment").method
    assert method_corpora(method) == {
        "sample": dict(method.corpus_defaults, path="sample:corpus/passages.jsonl")
    }
    method.corpora = ["/a/pubmed.parquet", {"path": "/b/pubmed.csv", "text_fields": ["abstract"]}]
    corpora = method_corpora(method)
    assert list(corpora) == ["pubmed", "pubmed_2"] and corpora["pubmed_2"]["text_fields"] == ["abstract"]
    method.corpora = [{"text_fields": ["abstract"]}]
    with pytest.raises(ConfigError, match=r"method.corpora\[0\]"):
        method_corpora(method)


def test_a_prompt_with_an_unknown_placeholder_stops_before_retrieval(task, server, tmp_path):
    prompt = tmp_path / "bad.txt"
    prompt.write_text("[user]\n{{passage}} {{abstract}}\n")
    cfg = rebase_config(task, server, tmp_path, "run", f"method.prompt={prompt}")
    with pytest.raises(ConfigError, match=r"bad.txt: placeholder \{\{abstract\}\}"):
        run_rebase(cfg)
    assert not (tmp_path / "indexes").exists()


def test_train_on_rationale_then_label(task, first_run, tmp_path):
    """The task file carries rationales on every record: with data.target=rationale_then_label every
    record of the training data has one."""
    from taskexpert.training.pipeline import train

    data, *_ = task
    augmented = first_run[0] / "first" / "augmented.jsonl"
    cfg = compose_config(
        [
            *data_overrides(data),
            f"data.extra_train=[{augmented}]",
            "data.target=rationale_then_label",
            "eval.mode=generate",
            "eval.max_new_tokens=8",
            "model=tiny_llama",
            *FAST,
            "trainer.max_steps=2",
        ],
        tmp_path / "train",
    )
    metrics = train(cfg)
    assert metrics["global_step"] == 2 and "test/parse_failure_rate" in metrics
    splits = json.loads((tmp_path / "train" / "splits.json").read_text())
    assert sum(record_id.endswith("-rebase-0") for record_id in splits["train"]) == 8


def test_rationale_target_with_seeds_and_evaluation_items_without_rationale(task, first_run, tmp_path):
    from taskexpert.training.pipeline import train

    data, *_ = task
    plain = [dataclasses.replace(record, rationale=None) for record in read_jsonl(data)]
    write_jsonl(plain, tmp_path / "plain.jsonl")
    augmented = first_run[0] / "first" / "augmented.jsonl"
    cfg = compose_config(
        [
            *data_overrides(tmp_path / "plain.jsonl"),
            f"data.extra_train=[{augmented}]",
            "data.target=rationale_then_label",
            "eval.mode=generate",
            "eval.max_new_tokens=8",
            "model=tiny_llama",
            *FAST,
            "trainer.max_steps=1",
        ],
        tmp_path / "train",
    )
    metrics = train(cfg)  # seeds and evaluation items learn the decision alone
    assert metrics["global_step"] == 1
    cfg.data.missing_rationale = "error"
    with pytest.raises(ConfigError, match="has no rationale"):
        train(cfg)
