"""Invented records shaped like the default task's (a biomedical question and abstract): real length
distribution, made-up sentences.

Its questions run about 15 words and its contexts about 200-300 words. The words below are drawn at random
(common English function words mixed with generic clinical vocabulary), so token counts per word resemble
abstracts while the text itself means nothing.
"""

from __future__ import annotations

import random

from taskexpert.records import Record
from taskexpert.tasks import load_task


def _word_list(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FUNCTION_WORDS = _word_list(
    "the of and in to a with was were for is as by on that at from or than between after during these "
    "this which not but all more both may had have been their its among who compared those into"
)
_CONTENT_WORDS = _word_list(
    "patients study group treatment outcome risk analysis results clinical data years cohort trial "
    "significant increased reduced associated level levels rate rates therapy surgery disease effect "
    "compared control mean age women men children hospital care follow-up incidence mortality survival "
    "factors response dose serum blood cells tumor cancer infection score scores baseline months weeks "
    "randomized prospective retrospective independent higher lower difference function imaging index "
    "chronic acute primary secondary severe mild measured evaluated observed showed performed included "
    "population sample association predictor marker injury pain pressure heart renal liver lung brain"
)
_QUESTION_OPENERS = ("Does", "Is", "Are", "Do", "Can", "Should", "Was")


def _number(rng: random.Random) -> str:
    """Abstracts are full of figures, which cost more tokens per word than prose."""
    return rng.choice(
        (
            f"{rng.randint(2, 999)}",
            f"{rng.uniform(0, 100):.1f}%",
            f"(n={rng.randint(10, 900)})",
            f"p<0.0{rng.randint(1, 5)}",
        )
    )


def _word(rng: random.Random) -> str:
    draw = rng.random()
    if draw < 0.025:
        return _number(rng)
    return rng.choice(_FUNCTION_WORDS if draw < 0.48 else _CONTENT_WORDS)


def _words(rng: random.Random, count: int) -> list[str]:
    return [_word(rng) for _ in range(count)]


def _sentences(rng: random.Random, word_count: int) -> str:
    words, sentences = _words(rng, word_count), []
    while words:
        length = rng.randint(12, 28)
        chunk, words = words[:length], words[length:]
        sentences.append(" ".join(chunk).capitalize() + ".")
    return " ".join(sentences)


def synthetic_record(rng: random.Random, index: int) -> Record:
    """One record of the default task: a ~15-word question (its main field), a 200-300-word context (its
    truncated field), a short long answer (the reference), a random label."""
    task = load_task()
    question = f"{rng.choice(_QUESTION_OPENERS)} {' '.join(_words(rng, rng.randint(10, 19)))}?"
    inputs = {task.main_field: question, str(task.truncate_field): _sentences(rng, rng.randint(200, 300))}
    return Record(
        id=f"synthetic-{index}",
        inputs=inputs,
        reference=_sentences(rng, rng.randint(20, 40)),
        target=rng.choice(task.labels),
    )


def synthetic_records(count: int, seed: int = 0) -> list[Record]:
    rng = random.Random(seed)
    return [synthetic_record(rng, index) for index in range(count)]


def fixed_length_records(count: int, word_count: int, seed: int = 0) -> list[Record]:
    """Records with contexts of exactly `word_count` words: for scaling with sequence length."""
    rng = random.Random(seed)
    records = []
    for index in range(count):
        record = synthetic_record(rng, index)
        record.inputs[str(load_task().truncate_field)] = _sentences(rng, word_count)
        records.append(record)
    return records
