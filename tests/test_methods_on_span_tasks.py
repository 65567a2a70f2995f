"""Every method on the span tasks (SQuAD: an answer copied from the context; MCoNaLa: a Japanese intent and its
Python snippet), on the bundled samples, with our OpenAI-compatible test server as the teacher."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import pytest
from servers.augment_setup import compose_augment_config, fault_teacher_overrides
from servers.fault_server import FaultServer
from servers.schema_answers import schema_answer

from taskexpert.augment.pipeline import augment
from taskexpert.data.loading import load_splits
from taskexpert.records import Record, read_jsonl
from taskexpert.tasks import load_task
from taskexpert.tasks.kinds.span import locate_span

SPLIT_NAMES = ("train", "validation")


class SpanTeacher:
    """Answers from the request's schema (servers/schema_answers.py); an `answer` is taken from the record's
    context: the one the answer itself writes, else the passage of a ReBase prompt. In turn, the answer is
    copied exactly, written loosely (upper case and a final full stop), or one the context does not hold."""

    MODES = ("exact", "loose", "absent")

    def __init__(self) -> None:
        self.modes: Counter = Counter()
        self._lock = threading.Lock()

    def __call__(self, body: dict) -> str:
        answer = json.loads(schema_answer(body))
        if "answer" not in answer:
            return json.dumps(answer)
        user = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
        context = answer.get("context") or user.split("Text:\n", 1)[1].split("\n\n", 1)[0]
        span = " ".join(context.split()[2:4])
        with self._lock:
            mode = self.MODES[sum(self.modes.values()) % len(self.MODES)]
            self.modes[mode] += 1
        written = {"exact": span, "loose": span.upper() + ".", "absent": "Invented answer text"}
        answer["answer"] = written[mode]
        return json.dumps(answer)


def run_method(tmp_path: Path, name: str, overrides: list[str], answer=schema_answer) -> tuple[dict, list]:
    with FaultServer(answer=answer) as server:
        cfg = compose_augment_config(
            [*overrides, *fault_teacher_overrides(server.base_url, tmp_path)], tmp_path / name
        )
        stats = augment(cfg)
        return stats, [entry["body"] for entry in server.requests]


def schema_fields(body: dict) -> list[str]:
    """The keys a request's answer schema asks for, in order."""
    return list(body["response_format"]["json_schema"]["schema"]["properties"])


def rebase_overrides(tmp_path: Path, k: int) -> list[str]:
    """ReBase over the bundled corpus with bm25: no model download."""
    return [
        "method=rebase",
        "retrieval=bm25",
        f"retrieval.index_dir={tmp_path / 'indexes'}",
        f"retrieval.select.k={k}",
        "retrieval.select.per_query_k=8",
    ]


def rejected_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "augment_rejected.jsonl").read_text().splitlines()]


def assert_spans_of_their_context(records: list[Record]) -> None:
    """Every answer is the context's own text at meta.answer_start; a loosely written one kept the teacher's
    spelling in meta.answer_written."""
    for record in records:
        context, start = record.inputs["context"], record.meta["answer_start"]
        assert context[start : start + len(record.target)] == record.target, record
        if "answer_written" in record.meta:
            assert record.meta["answer_written"] == record.target.upper() + "."


def assert_train_reads(task_name: str, path: Path, records: list[Record]) -> None:
    cfg = compose_augment_config([f"task={task_name}", f"data.extra_train=[{path}]"])
    assert {r.id for r in records} <= {r.id for r in load_splits(cfg.data, load_task(task_name)).train}


def test_locate_span_finds_the_contexts_own_words():
    text = "The bridge opened in 1891 in Harlow, the largest town.\nNew  York"
    answers = ("1891", "Harlow.", "the Largest town", '"1891"')
    found = {answer: locate_span(answer, text) for answer in answers}
    assert {answer: text[s:e] for answer, (s, e) in found.items()} == {
        "1891": "1891", "Harlow.": "Harlow", "the Largest town": "the largest town", '"1891"': "1891",
    }  # fmt: skip
    assert text[slice(*locate_span("New York", text))] == "New  York"  # any white space between words
    assert locate_span("ate", "concatenate") is None  # whole words only, in scripts with spaces
    assert locate_span("Paris", text) is None
    assert locate_span("逆順", "リストの要素を逆順に並べる") == (7, 9)  # no spaces: anywhere


def test_squad_split_keeps_a_paragraphs_questions_together():
    """data.split.keep_together=context: a validation question's paragraph never trains (so a rewrite of a
    training question, which keeps its paragraph, does not collide with validation in the contamination guard)."""
    cfg = compose_augment_config(["task=squad"])
    splits = load_splits(cfg.data, load_task("squad"))
    contexts = {name: {r.inputs["context"] for r in getattr(splits, name)} for name in SPLIT_NAMES}
    assert len(splits.validation) >= 5 and contexts["validation"]
    assert not contexts["train"] & contexts["validation"]
    assert splits.settings["split"]["keep_together"] == "context"


def test_new_on_squad_keeps_answers_that_occur_in_their_context(tmp_path):
    teacher = SpanTeacher()
    stats, bodies = run_method(tmp_path, "new", ["task=squad", "method=new", "method.max_seeds=6"], teacher)
    run_dir = tmp_path / "new"
    assert schema_fields(bodies[0]) == ["context", "question", "answer"]  # the context before its span
    user = "\n".join(m["content"] for m in bodies[0]["messages"] if m["role"] == "user")
    assert 'The "answer" must be copied word for word from the "context"' in user and "{{" not in user
    assert teacher.modes == Counter(exact=2, loose=2, absent=2)
    assert stats["kept"] == 4 and stats["rejected"] == {"answer_not_in_context": 2}, stats
    assert "kept_by_label" not in stats  # answer texts are not labels
    rejected = rejected_lines(run_dir)
    assert [r["reason"] for r in rejected] == ["answer_not_in_context"] * 2
    assert all("'Invented answer text' does not occur in the context" in r["detail"] for r in rejected)
    records = read_jsonl(run_dir / "augmented.jsonl")
    assert len(records) == 4
    assert all(list(r.inputs) == ["context", "question"] and r.source == "new" for r in records)
    assert_spans_of_their_context(records)
    assert sum("answer_written" in r.meta for r in records) == 2
    assert not any("requested_label" in r.meta for r in records)  # nothing was asked of the answer
    assert_train_reads("squad", run_dir / "augmented.jsonl", records)


def test_rewrite_on_squad_keeps_the_span_and_drops_a_context_that_lost_it(tmp_path):
    stats, bodies = run_method(tmp_path, "question", ["task=squad", "method=rewrite", "method.max_seeds=4"])
    assert all(schema_fields(body) == ["question"] for body in bodies)
    assert stats["kept"] == 4 and stats["rejected"] == {}, stats
    records = read_jsonl(tmp_path / "question" / "augmented.jsonl")
    splits = load_splits(compose_augment_config(["task=squad"]).data, load_task("squad"))
    seeds = {seed.id: seed for seed in splits.train}
    for record in records:
        parent = seeds[record.parent_id]
        assert record.inputs["context"] == parent.inputs["context"] and record.target == parent.target
        assert record.inputs["question"].startswith("Invented question")
    assert_spans_of_their_context(records)
    assert_train_reads("squad", tmp_path / "question" / "augmented.jsonl", records)

    overrides = ["task=squad", "method=rewrite", "method.max_seeds=4", "method.rewrite.fields=[context]"]
    stats, _ = run_method(tmp_path, "context", overrides)  # the invented contexts lack the parents' answers
    assert stats["kept"] == 0 and stats["rejected"] == {"answer_not_in_context": 4}, stats


def test_rebase_on_squad_asks_for_a_span_of_the_passage(tmp_path):
    teacher = SpanTeacher()
    stats, bodies = run_method(tmp_path, "rebase", ["task=squad", *rebase_overrides(tmp_path, 6)], teacher)
    assert schema_fields(bodies[0]) == ["question", "rationale", "answer"]  # the passage is the context
    user = bodies[0]["messages"][1]["content"]
    assert 'The text is the record\'s "context"' in user and "copied word for word" in user
    assert stats["retrieval"]["instruction"] == load_task("squad").instruction
    assert stats["kept"] == 4 and stats["rejected"] == {"answer_not_in_context": 2}, stats
    records = read_jsonl(tmp_path / "rebase" / "augmented.jsonl")
    retrieved = (tmp_path / "rebase" / "retrieved.jsonl").read_text().splitlines()
    assert {r.inputs["context"] for r in records} <= {json.loads(line)["text"] for line in retrieved}
    assert all(r.rationale.startswith("Invented rationale") and r.source == "rebase" for r in records)
    assert_spans_of_their_context(records)
    assert_train_reads("squad", tmp_path / "rebase" / "augmented.jsonl", records)


def test_llm2llm_wrong_on_span_tasks_is_exact_match_with_any_gold_after_normalisation(tmp_path):
    from taskexpert.augment.llm2llm import wrong_examples

    task = load_task("squad")
    record = Record(
        id="q1", inputs={"context": "Crane built it.", "question": "Who built it?"}, target="Matthias Crane",
        meta={"answers": ["Matthias Crane", "Crane"]},
    )  # fmt: skip
    predictions = {"q1": {"pred": "crane."}}  # the second gold answer, normalised: right
    assert wrong_examples(task, predictions, [record], tmp_path) == []
    # token F1 0.8, yet not an exact match: wrong
    predictions = {"q1": {"pred": "the engineer Matthias Crane"}}
    assert wrong_examples(task, predictions, [record], tmp_path) == [(record, "the engineer Matthias Crane")]


def llm2llm_overrides(task_name: str, iterations: int) -> list[str]:
    return [
        f"task={task_name}", "method=llm2llm", f"method.iterations={iterations}", "model=tiny_llama",
        "trainer=fast", "trainer.max_steps=1", "logger=csv", "checkpoint.enabled=false", "data.train_limit=6",
        "data.test_limit=2", "task.generate.max_new_tokens=4",
    ]  # fmt: skip


def run_llm2llm_on(task_name: str, iterations: int, tmp_path: Path, teacher) -> tuple[dict, list, list, Path]:
    """(stats, history entries, request bodies, run directory)."""
    from taskexpert.augment.llm2llm import run_llm2llm

    run_dir = tmp_path / task_name
    with FaultServer(answer=teacher) as server:
        overrides = [
            *llm2llm_overrides(task_name, iterations),
            *fault_teacher_overrides(server.base_url, tmp_path),
        ]
        stats = run_llm2llm(compose_augment_config(overrides, run_dir))
        bodies = [entry["body"] for entry in server.requests]
    history = json.loads((run_dir / "llm2llm_history.json").read_text())
    return stats, history["iterations"] if isinstance(history, dict) else history, bodies, run_dir


def wrong_by_exact_match(run_dir: Path, iteration: int) -> set[str]:
    """The seeds whose prediction matches none of their gold answers (SQuAD's normalisation)."""
    from taskexpert.tasks.kinds.span import exact_match

    path = run_dir / f"iter_{iteration}" / "predictions.jsonl"
    rows = [row for row in map(json.loads, path.read_text().splitlines()) if row["split"] == "train"]
    rows = [row for row in rows if "-llm2llm-" not in row["id"]]  # iteration 2 also scores generated records
    assert len(rows) == 6  # data.train_limit
    return {
        row["id"] for row in rows
        if not any(exact_match(row["pred"], gold) for gold in row.get("golds") or [row["gold"]])
    }  # fmt: skip


def test_llm2llm_on_squad_writes_new_spans_like_the_missed_questions(tmp_path):
    teacher = SpanTeacher()
    stats, entries, bodies, run_dir = run_llm2llm_on("squad", 2, tmp_path, teacher)
    assert len(entries) == 2 and None not in (entries[0]["test/exact_match"], entries[0]["test/f1"])
    wrong = [wrong_by_exact_match(run_dir, iteration) for iteration in (1, 2)]
    assert wrong[0] and [entry["wrong"] for entry in entries] == [len(ids) for ids in wrong]
    assert len(bodies) == len(wrong[0]) + len(wrong[1])  # one request per missed seed, each iteration
    user = bodies[0]["messages"][1]["content"]
    assert "Correct answer:" in user and "Student's answer:" in user and "copied word for word" in user
    added = read_jsonl(run_dir / "augmented.jsonl")
    assert {r.parent_id for r in added} <= wrong[0] | wrong[1] and all(r.source == "llm2llm" for r in added)
    assert stats["rejected"].get("answer_not_in_context", 0) == teacher.modes["absent"] > 0
    assert stats["kept"] == len(added) == len(bodies) - sum(stats["rejected"].values())
    assert "kept_by_label" not in stats
    assert_spans_of_their_context(added)


def test_llm2llm_on_mconala_reports_bleu_and_writes_snippets(tmp_path):
    stats, entries, bodies, run_dir = run_llm2llm_on("mconala", 1, tmp_path, schema_answer)
    assert entries[0]["test/bleu"] is not None and entries[0]["val/bleu"] is not None
    wrong = wrong_by_exact_match(run_dir, 1)
    assert wrong and entries[0]["wrong"] == len(wrong) == len(bodies)
    assert schema_fields(bodies[0]) == ["intent", "answer"]
    added = read_jsonl(run_dir / "augmented.jsonl")
    assert {r.parent_id for r in added} <= wrong and stats["kept"] == len(added) > 0


@pytest.mark.parametrize("method", ["new", "rebase"])
def test_mconala_records_carry_an_intent_and_a_written_snippet(tmp_path, method):
    """MCoNaLa's answer is written, not copied: no span check, every answer kept as the teacher wrote it."""
    overrides = ["task=mconala", "method=new", "method.max_seeds=4"]
    if method == "rebase":
        overrides = ["task=mconala", *rebase_overrides(tmp_path, 4)]
    stats, bodies = run_method(tmp_path, method, overrides)
    fields = {"new": ["intent", "answer"], "rebase": ["intent", "rationale", "answer"]}[method]
    assert schema_fields(bodies[0]) == fields
    system, user = (m["content"] for m in bodies[0]["messages"][:2])
    assert "Python snippet" in system and "written the way the examples write theirs" in user
    assert any("\u3040" <= ch <= "\u30ff" for ch in user)  # kana: the seeds' Japanese intents as examples
    assert stats["kept"] == 4 and stats["rejected"] == {}, stats
    records = read_jsonl(tmp_path / method / "augmented.jsonl")
    assert all(list(r.inputs) == ["intent"] and r.target.startswith("Invented answer") for r in records)
    assert all("answer_start" not in r.meta for r in records)
    assert_train_reads("mconala", tmp_path / method / "augmented.jsonl", records)


def test_label_consistency_on_a_span_task_is_refused_before_the_teacher_is_asked(tmp_path):
    from taskexpert.errors import ConfigError

    overrides = ["task=squad", "method=new", "filters.label_consistency.enabled=true"]
    with FaultServer(answer=schema_answer) as server:
        cfg = compose_augment_config(
            [*overrides, *fault_teacher_overrides(server.base_url, tmp_path)], tmp_path / "judged"
        )
        with pytest.raises(ConfigError, match="task squad has none: set filters.label_consistency"):
            augment(cfg)
        assert server.requests == []


def test_stats_count_labels_only_for_tasks_with_labels(tmp_path):
    """A span task's targets are answer texts: no `kept_by_label` listing each of them."""
    from taskexpert.augment.generation import GenerationResult

    records = [Record(id=str(i), inputs={"question": "q"}, target=f"answer {i}") for i in range(3)]
    result = GenerationResult(records=records, requested=3)
    assert result.stats(labelled=True)["kept_by_label"] == {"answer 0": 1, "answer 1": 1, "answer 2": 1}
    assert "kept_by_label" not in result.stats(labelled=False)
