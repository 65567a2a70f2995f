"""Span: a free-text answer (SQuAD: a span of the context; MCoNaLa: a Python snippet), read from generated
text and scored against every gold answer of the record (`meta["answers"]`, else the target).

Metrics (`task.metrics`, default exact_match and f1):
- `exact_match` and `f1`: SQuAD's official definitions. Answers are normalised (lower case, punctuation and
  the articles a/an/the removed, white space collapsed); F1 is over the normalised answers' word bags; each
  is the maximum over the gold answers, averaged over the examples.
- `bleu`: corpus BLEU (0-100) of the predictions against the gold answers, by `sacrebleu`.
The generated answer is the text after `task.generate.answer_phrase` (if set), up to the first line break
when `stop_at_newline`, without the decision's closing text (e.g. a final full stop).
`locate_span` finds an answer in the text it should be copied from (`task.span_of`, SQuAD's context).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

from taskexpert.errors import ConfigError
from taskexpert.tasks.kinds.answer import after_phrase
from taskexpert.tasks.kinds.base import Kind, Row, register_kind

SPAN_METRICS = ("exact_match", "f1", "bleu")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


# what a writer may put around a span that the text does not have there: "Paris." for "... in Paris, the ..."
_SPAN_WRAPPING = " \t\n.,;:!?\"'\u201c\u201d\u2018\u2019"


def _span_pattern(answer: str) -> str | None:
    """The answer's words with any run of white space between them, as whole words where they start or end
    with a Latin letter or digit (so "ate" is not found in "concatenate"; scripts without spaces match anywhere)."""
    words = answer.split()
    if not words:
        return None
    edge = "A-Za-z0-9"
    left = f"(?<![{edge}])" if answer[0].isascii() and answer[0].isalnum() else ""
    right = f"(?![{edge}])" if answer[-1].isascii() and answer[-1].isalnum() else ""
    return left + r"\s+".join(re.escape(word) for word in words) + right


def locate_span(answer: str, text: str) -> tuple[int, int] | None:
    """(start, end) of the first place `text` holds `answer`: as written, else ignoring case and the width of
    white space, else the same without wrapping punctuation and quotes; None when it is not there."""
    answer = answer.strip()
    for candidate in dict.fromkeys((answer, answer.strip(_SPAN_WRAPPING))):
        pattern = _span_pattern(candidate)
        if pattern is None:
            continue
        for flags in (0, re.IGNORECASE):
            match = re.search(pattern, text, flags)
            if match:
                return match.start(), match.end()
    return None


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:  # as SQuAD v1.1's script: no shared word (an empty answer included) is 0
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def corpus_bleu(predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> float:
    """sacrebleu's corpus BLEU; records with fewer gold answers than others repeat their first one."""
    import sacrebleu

    width = max(len(answers) for answers in golds)
    references = [[answers[min(i, len(answers) - 1)] for answers in golds] for i in range(width)]
    return float(sacrebleu.corpus_bleu(list(predictions), references).score)


@register_kind
class Span(Kind):
    name = "span"
    placeholder = "answer"
    eval_modes = ("generate",)

    def check(self, task) -> None:
        unknown = [name for name in task.metrics if name not in SPAN_METRICS]
        if unknown:
            raise ConfigError(
                f"task.metrics has {unknown[0]!r}: a span task reports {', '.join(SPAN_METRICS)}"
            )

    def golds(self, task, record) -> tuple[str, ...]:
        answers = [str(a) for a in record.meta.get("answers") or [] if str(a).strip()]
        return tuple(dict.fromkeys([record.target, *answers]))

    def read_generated(self, task, text: str) -> tuple[str, bool]:
        settings = task.generate
        answer = after_phrase(text, settings.answer_phrase, settings.stop_at_newline)
        if answer is None:
            return "", False
        closing = task.prompt.decision.split("{answer}", 1)[1].strip()
        if closing and answer.endswith(closing):
            answer = answer[: -len(closing)].rstrip()
        return answer, True

    def is_correct(self, task, prediction: str, golds: Sequence[str]) -> bool:
        return any(exact_match(prediction, gold) for gold in golds)

    def metrics(self, task, rows: Sequence[Row], prefix: str) -> dict[str, object]:
        if not rows:
            return {}
        names = task.metrics or ("exact_match", "f1")
        metrics: dict[str, object] = {}
        if "exact_match" in names:
            scores = [max(exact_match(row["pred"], g) for g in row["golds"]) for row in rows]
            metrics[f"{prefix}exact_match"] = sum(scores) / len(rows)
        if "f1" in names:
            scores = [max(token_f1(row["pred"], g) for g in row["golds"]) for row in rows]
            metrics[f"{prefix}f1"] = sum(scores) / len(rows)
        if "bleu" in names:
            metrics[f"{prefix}bleu"] = corpus_bleu(
                [row["pred"] for row in rows], [row["golds"] for row in rows]
            )
        metrics[f"{prefix}parse_failure_rate"] = sum(not row["parsed"] for row in rows) / len(rows)
        return metrics

    def table_columns(self, task) -> list[tuple[str, str]]:
        titles = {"exact_match": "exact match", "f1": "F1", "bleu": "BLEU"}
        return [(name, titles[name]) for name in task.metrics or ("exact_match", "f1")]
