"""Span: a free-text answer (SQuAD: a span of the context; MCoNaLa: a Python snippet), read from generated
text and scored against every gold answer of the record (`meta["answers"]`, else the target).

Metrics (`task.metrics`, default exact_match and f1):
- `exact_match` and `f1`: SQuAD's official definitions. Answers are normalised (lower case, punctuation and
  the articles a/an/the removed, white space collapsed); F1 is over the normalised answers' word bags; each
  is the maximum over the gold answers, averaged over the examples.
- `bleu`: corpus BLEU (0-100) of the predictions against the gold answers, by `sacrebleu`.
The generated answer is the text after `task.generate.answer_phrase` (if set), up to the first line break
when `stop_at_newline`, without the decision's closing text (e.g. a final full stop).
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
