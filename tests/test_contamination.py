"""The contamination guard and the shared overlap measure: per field, both directions, short fields.

Every text is invented. The evaluation item is a validation/test record; candidates are generated records.
"""

from __future__ import annotations

import dataclasses

import pytest
from data_fixtures import qa_record

from taskexpert.augment.contamination import ContaminationGuard
from taskexpert.augment.filters import apply_filters, count_reasons
from taskexpert.errors import ConfigError
from taskexpert.text import EvaluationIndex, OverlapIndex, OverlapSettings, ngrams, normalized, words

EVAL_QUESTION = "Does nightly melatonin lengthen daytime sleep in nurses who work rotating night shifts?"
EVAL_CONTEXT = (
    "Forty nurses working rotating night shifts at two teaching hospitals took melatonin or a matching "
    "placebo before each daytime sleep for four weeks, then crossed over after a washout week. Wrist "
    "actigraphs recorded total sleep time, sleep latency and the number of awakenings, and a reaction-time "
    "test measured alertness at the start and end of every night shift. Sleep diaries were kept in the same "
    "period, and the ward rosters were fixed in advance so that each nurse worked the same pattern of shifts "
    "in both arms. Adverse effects were asked about weekly by a research nurse who did not know the "
    "allocation. Nine nurses reported vivid dreams on melatonin and three on placebo; none stopped the "
    "study because of them. Caffeine intake and light exposure after the shift were recorded as well."
)
EVAL_LONG_ANSWER = (
    "Melatonin lengthened daytime sleep by about half an hour without changing alertness on the ward."
)
FRESH_CONTEXT = (  # 122 words about something else
    "Office staff at three insurance firms were offered height-adjustable desks for one year. "
    "Posture, self-reported back pain and minutes spent standing were logged by a wrist sensor and a short "
    "weekly diary. Managers agreed not to change workloads during the trial, and a physiotherapist visited "
    "each site twice to explain how to alternate sitting and standing without tiring the legs. Staff who "
    "already had chronic back conditions were not excluded but were analysed separately. By the end of the "
    "year the desks were raised for about ninety minutes a day on average, mostly in the morning, and the "
    "diaries showed fewer days with pain in the lower back than in the year before. Nobody left the study "
    "early because of the desks."
)
FRESH_QUESTION = "Do height-adjustable desks reduce lower back pain in office staff?"

EVALUATION = [
    qa_record(
        id="t1", question=EVAL_QUESTION, context=EVAL_CONTEXT, long_answer=EVAL_LONG_ANSWER, label="yes"
    ),
    qa_record(
        id="t2", question="Is coffee safe in pregnancy?", context="A short invented context.", label="no"
    ),
]


def candidate(record_id: str, question: str, context: str = FRESH_CONTEXT, **fields) -> qa_record:
    return qa_record(id=record_id, question=question, context=context, label="yes", source="new", **fields)


def old_joined_share(record: qa_record, evaluation: qa_record, n: int = 8) -> float:
    """The measure the guard used before: share of the candidate's question+context n-grams in one item."""
    own = set(ngrams(words(f"{record.inputs['question']}\n{record.inputs['context']}"), n))
    theirs = set(ngrams(words(f"{evaluation.inputs['question']}\n{evaluation.inputs['context']}"), n))
    return len(own & theirs) / len(own)


def test_a_copied_question_with_a_fresh_context_is_caught():
    copied = candidate("copy", EVAL_QUESTION)
    assert len(words(FRESH_CONTEXT)) >= 120
    assert old_joined_share(copied, EVALUATION[0]) < 0.1  # why the old guard kept it
    kept, dropped = apply_filters(
        [ContaminationGuard(EVALUATION)], [copied, candidate("fresh", FRESH_QUESTION)]
    )
    assert [record.id for record in kept] == ["fresh"]
    assert count_reasons(dropped) == {"contamination": 1}
    assert dropped[0].detail == "question holds 1.00 of the 8-grams of evaluation item t1's question"


@pytest.mark.parametrize(
    ("fields", "field", "kind", "item_field"),
    [
        # a fresh question, and a context that quotes the test question inside 120 new words
        ({"context": FRESH_CONTEXT[:300] + " " + EVAL_QUESTION + " " + FRESH_CONTEXT[300:]}, "context",
         "contained", "question"),
        # a context made of 30 words from the middle of the test context: most of its own 8-grams are the
        # test item's, though it holds only a fifth of the test context
        ({"context": " ".join(EVAL_CONTEXT.split()[40:70]) + " Results follow."}, "context", "own", "context"),
        # the test item's conclusion as the long answer (the reference) of a record with its own question and
        # context; without named fields the guard compares every input field and the reference
        ({"long_answer": EVAL_LONG_ANSWER}, "reference", "contained", "reference"),
        # the test context pasted into the question field
        ({"question": EVAL_CONTEXT}, "question", "contained", "context"),
    ],
)  # fmt: skip
def test_overlap_is_found_per_field_in_both_directions(fields, field, kind, item_field):
    record = candidate("c", **{"question": FRESH_QUESTION, **fields})
    leak = ContaminationGuard(EVALUATION).find(record)
    assert leak is not None, record
    assert (leak.field, leak.overlap.kind, leak.overlap.item_id, leak.overlap.item_field) == (
        field, kind, "t1", item_field,
    )  # fmt: skip


def test_the_two_directions_are_measured_apart_and_the_thresholds_decide():
    index = OverlapIndex(OverlapSettings(ngram=8))
    index.add("t1", "context", EVAL_CONTEXT)
    excerpt = " ".join(EVAL_CONTEXT.split()[40:70])  # 30 words: 23 8-grams of the context's 126
    assert index.shares(excerpt) == (1.0, pytest.approx(23 / 126))
    assert index.find(excerpt).kind == "own"
    padded = f"{excerpt} {FRESH_CONTEXT}"  # the same excerpt inside 122 fresh words: 145 8-grams
    assert index.shares(padded) == (pytest.approx(23 / 145), pytest.approx(23 / 126))
    assert index.find(padded) is None  # neither most of its own text nor most of the evaluation text
    stricter = OverlapIndex(OverlapSettings(ngram=8, contained_share=0.15))
    stricter.add("t1", "context", EVAL_CONTEXT)
    assert stricter.find(padded).kind == "contained"
    assert index.find(FRESH_CONTEXT) is None and index.shares(FRESH_CONTEXT) == (0.0, 0.0)


def test_words_are_normalised_before_comparing():
    assert words("Ｐ=0.003, the 30-day “RATE” — fell!") == ["p", "0.003", "the", "30-day", "rate", "fell"]
    shouted = candidate("loud", EVAL_QUESTION.upper().replace(" ", "  ,"))
    assert normalized(shouted.inputs["question"]) == normalized(EVAL_QUESTION)
    assert ContaminationGuard(EVALUATION).find(shouted).overlap.kind == "contained"


def test_short_fields_are_compared_whole_or_as_phrases():
    guard = ContaminationGuard(EVALUATION)  # t2's question has 5 words, fewer than n = 8
    equal = guard.find(candidate("eq", "IS COFFEE SAFE IN PREGNANCY??"))
    assert (equal.field, equal.overlap.kind, equal.overlap.item_id) == ("question", "equal", "t2")
    quoted = guard.find(
        candidate("q", FRESH_QUESTION, f"{FRESH_CONTEXT} Is coffee safe in pregnancy? We ask.")
    )
    assert (quoted.field, quoted.overlap.kind) == ("context", "phrase")
    assert quoted.describe() == "context contains evaluation item t2's question word for word"
    # a short candidate field inside a longer evaluation text is not a leak: only equality counts for it
    assert guard.find(candidate("part", "Does nightly melatonin lengthen daytime sleep?")) is None
    # evaluation texts shorter than min_phrase_words are matched only when equal
    tiny = EvaluationIndex([qa_record(id="t3", question="Coffee safe?", context="No.", label="no")])
    assert tiny.find(candidate("x", FRESH_QUESTION, "Is coffee safe? Most say so.")) is None
    assert tiny.find(candidate("y", "coffee, safe?")).overlap.kind == "equal"


def test_a_rebase_record_with_a_passage_parent_copying_a_test_question_is_dropped():
    rebase = candidate(
        "corpus:17:text:0-rebase-0",
        EVAL_QUESTION,
        context=FRESH_CONTEXT,  # the retrieved passage: not an evaluation text
        rationale="The passage describes a desk trial.",
        parent_id="corpus:17:text:0",
    )
    rebase.source = "rebase"
    kept, dropped = ContaminationGuard(EVALUATION).apply([rebase])
    assert kept == [] and dropped[0].reason == "contamination" and "t1's question" in dropped[0].detail


@pytest.mark.parametrize(
    ("settings", "fields", "message"),
    [
        (OverlapSettings(ngram=0), ("question",), "ngram=0 must be >= 1"),
        (OverlapSettings(own_share=0.0), ("question",), r"own_share=0.0 must be in \(0, 1\]"),
        (OverlapSettings(contained_share=1.5), ("question",), r"contained_share=1.5 must be in \(0, 1\]"),
        (OverlapSettings(min_phrase_words=0), ("question",), "min_phrase_words=0 must be >= 1"),
        (None, ("title",), "data.leak_check.fields: 'title' is not a text field"),
        (None, (), "data.leak_check.fields is empty"),
    ],
)
def test_bad_settings_are_config_errors(settings, fields, message):
    with pytest.raises(ConfigError, match=message):
        ContaminationGuard(EVALUATION, settings, fields)


def test_the_guard_reads_data_leak_check():
    from omegaconf import OmegaConf

    from taskexpert.augment.contamination import guard_from_config

    padded = candidate("p", FRESH_QUESTION, " ".join(EVAL_CONTEXT.split()[40:70]) + " " + FRESH_CONTEXT)
    assert guard_from_config(None, EVALUATION).find(padded) is None  # the defaults
    stricter = guard_from_config(
        OmegaConf.create({"contained_share": 0.15, "fields": ["context"]}), EVALUATION
    )
    assert stricter.index.fields == ("context",) and stricter.find(padded).overlap.kind == "contained"
    with pytest.raises(ConfigError, match="data.leak_check.ngram='eight' is not a number"):
        guard_from_config({"ngram": "eight"}, EVALUATION)


def test_a_rationale_or_target_copying_evaluation_text_is_caught_by_default():
    from taskexpert.augment.contamination import guard_from_config

    guard = guard_from_config(None, EVALUATION)  # data.leak_check's defaults
    quoting = candidate("r1", FRESH_QUESTION, rationale=f"As the trial found: {EVAL_CONTEXT}")
    leak = guard.find(quoting)
    assert leak.field == "rationale" and leak.overlap.item_id == "t1" and leak.overlap.item_field == "context"
    answering = dataclasses.replace(candidate("r2", FRESH_QUESTION), target=EVAL_LONG_ANSWER)  # copies t1's
    assert guard.find(answering).field == "target"
    # a label shared with evaluation items is no leak: targets are compared on the record's side only
    assert guard.find(candidate("r3", FRESH_QUESTION, rationale="Desks helped a little.")) is None
    explicit = guard_from_config({"fields": ["question", "context", "rationale", "target"]}, EVALUATION)
    assert (
        explicit.find(candidate("r4", FRESH_QUESTION)) is None and explicit.find(quoting).field == "rationale"
    )
