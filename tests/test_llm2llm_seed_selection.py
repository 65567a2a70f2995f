"""LLM2LLM's difficulty-aware seeds (`method.seed_selection=margin|loss`): the ranking on a hand-written
predictions file, the config errors, and one run with the tiny student and our OpenAI-compatible teacher
server that asks the teacher about exactly the seeds it chose."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from data_fixtures import qa_record
from servers.augment_setup import INTERVENTIONS, compose_augment_config, write_seed_file
from servers.fault_server import FaultServer
from test_llm2llm import N_TRAIN, SERVER_LIFETIME, answer_with_requested_label, train_predictions
from test_llm2llm import overrides as llm2llm_overrides

from taskexpert.augment.llm2llm import llm2llm_settings, run_llm2llm
from taskexpert.augment.llm2llm_seeds import check_seed_selection, gold_loss, least_sure_seeds
from taskexpert.augment.llm2llm_state import HISTORY_FILE, read_train_predictions
from taskexpert.errors import ConfigError, DataError
from taskexpert.records import read_jsonl
from taskexpert.tasks import load_task


def log_probs(yes: float, no: float, maybe: float) -> dict[str, float]:
    return {"yes": math.log(yes), "no": math.log(no), "maybe": math.log(maybe)}


# id -> (gold, label probabilities); the student's prediction is the argmax
HAND_WRITTEN = {
    "a": ("yes", log_probs(0.90, 0.05, 0.05)),  # sure and right: margin 2.89, loss 0.11
    "b": ("no", log_probs(0.40, 0.38, 0.22)),  # unsure and wrong: margin 0.051, loss 0.97
    "c": ("maybe", log_probs(0.20, 0.10, 0.70)),  # fairly sure, right: margin 1.25, loss 0.36
    "d": ("yes", log_probs(0.45, 0.43, 0.12)),  # unsure but right: margin 0.046, loss 0.80
    "e": ("maybe", log_probs(0.05, 0.90, 0.05)),  # sure and wrong: margin 2.89, loss 3.00
}


def write_predictions(run_dir: Path) -> Path:
    rows = [{"split": "val", "id": "v", "gold": "yes", "pred": "no", "scores": log_probs(0.1, 0.8, 0.1)}]
    for key, (gold, scores) in HAND_WRITTEN.items():
        rows.append(
            {"split": "train", "id": key, "gold": gold, "pred": max(scores, key=scores.get), "scores": scores}
        )
    path = run_dir / "iter_1" / "predictions.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def seeds() -> list:
    return [
        qa_record(key, f"Question {key}?", "A context.", "An answer.", gold)
        for key, (gold, _) in HAND_WRITTEN.items()
    ]


def test_ranking_picks_the_least_sure_seeds_of_a_hand_written_predictions_file(tmp_path):
    where = write_predictions(tmp_path)
    predictions = read_train_predictions(tmp_path, 1)
    task = load_task("pubmedqa")
    by_margin = least_sure_seeds("margin", task, predictions, seeds(), 3, where)
    # b and d agree to 2 decimals, not exactly: d's 0.45/0.43 gap (log ratio) is the smaller one
    assert [record.id for record, _, _ in by_margin] == ["d", "b", "c"]
    assert by_margin[1][1] == "yes"  # the student's (wrong) answer rides along for the prompt
    assert by_margin[0][2] == pytest.approx(math.log(0.45 / 0.43))
    # a and e tie exactly (0.90 against 0.05): by id
    assert [r.id for r, _, _ in least_sure_seeds("margin", task, predictions, seeds(), 5, where)][3:] == [
        "a",
        "e",
    ]
    by_loss = least_sure_seeds("loss", task, predictions, seeds(), 2, where)
    assert [record.id for record, _, _ in by_loss] == ["e", "b"]
    assert by_loss[0][2] == pytest.approx(-math.log(0.05))
    # exact ties are broken by id, whatever the seeds' order
    tied = {key: {**row, "scores": log_probs(0.5, 0.3, 0.2)} for key, row in predictions.items()}
    reversed_seeds = list(reversed(seeds()))
    assert [r.id for r, _, _ in least_sure_seeds("margin", task, tied, reversed_seeds, 5, where)] == list(
        "abcde"
    )
    # a calibrated decision is measured on its calibrated scores
    calibrated = {**predictions, "c": {**predictions["c"], "calibrated_scores": log_probs(0.34, 0.33, 0.33)}}
    assert least_sure_seeds("margin", task, calibrated, seeds(), 1, where)[0][0].id == "c"
    # renormalised over the labels: scores that are not a distribution give the same loss
    assert gold_loss([math.log(0.2), math.log(0.2)], 0) == pytest.approx(math.log(2))


def test_rows_without_label_scores_and_generate_scored_tasks_are_clear_errors(tmp_path):
    where = tmp_path / "predictions.jsonl"
    generated = {"a": {"id": "a", "gold": "yes", "pred": "yes", "parsed": True, "scores": {"yes": 1.0}}}
    with pytest.raises(DataError, match="no label scores for a.*method.seed_selection=wrong"):
        least_sure_seeds("margin", load_task("pubmedqa"), generated, seeds()[:1], 1, where)
    with pytest.raises(
        ConfigError, match="method.seed_selection=margin .* task gsm8k .*seed_selection=wrong"
    ):
        check_seed_selection("margin", load_task("gsm8k"), None)
    with pytest.raises(ConfigError, match="method.seed_selection=loss .* task pubmedqa"):
        check_seed_selection("loss", load_task("pubmedqa"), "generate")
    with pytest.raises(ConfigError, match="must be one of wrong, margin, loss"):
        check_seed_selection("entropy", load_task("pubmedqa"), None)
    check_seed_selection("wrong", load_task("gsm8k"), None)
    check_seed_selection("margin", load_task("pubmedqa"), "label")


def test_wrong_stays_the_default():
    cfg = compose_augment_config(["method=llm2llm"])
    assert llm2llm_settings(cfg.method)["seed_selection"] == "wrong"


def asked_seed_ids(server: FaultServer) -> list[str]:
    """The seed each teacher request was about, by the invented intervention its record names."""
    asked = []
    for request in server.requests:
        user = "\n".join(m["content"] for m in request["body"]["messages"] if m["role"] == "user")
        drug = re.search(r"Does (\w+ane) reduce", user).group(1)
        asked.append(f"s{INTERVENTIONS.index(drug):02d}")
    return asked


def test_a_margin_run_asks_the_teacher_about_exactly_the_chosen_seeds(tmp_path):
    run_dir, n_train = tmp_path / "run", N_TRAIN
    with FaultServer(answer=answer_with_requested_label, lifetime=SERVER_LIFETIME) as server:
        settings = llm2llm_overrides(
            server, tmp_path, "method.iterations=1", "method.seed_selection=margin", "method.max_hard_seeds=3"
        )
        seed_file = write_seed_file(tmp_path, n_train + 4)  # the file those overrides train on
        run_llm2llm(compose_augment_config(settings, run_dir))
        asked = asked_seed_ids(server)
    entry = json.loads((run_dir / HISTORY_FILE).read_text())["iterations"][0]
    chosen = [item["id"] for item in entry["hard_seeds"]]
    assert entry["seed_selection"] == "margin" and len(chosen) == 3
    # the three smallest margins of the student's own label scores, ties by id
    rows = train_predictions(run_dir, 1)
    seed_ids = [record.id for record in read_jsonl(seed_file)[:n_train]]
    margins = {key: sorted(rows[key]["scores"].values(), reverse=True) for key in seed_ids}
    expected = sorted(seed_ids, key=lambda key: (margins[key][0] - margins[key][1], key))[:3]
    assert chosen == expected
    for item in entry["hard_seeds"]:
        assert item["margin"] == pytest.approx(margins[item["id"]][0] - margins[item["id"]][1], abs=1e-5)
    # not the paper's rule: on these fixed seeds the least-sure include seeds the student got right
    assert any(rows[key]["pred"] == rows[key]["gold"] for key in chosen)
    assert sorted(asked) == sorted(chosen)  # one request per chosen seed (n_per_wrong=1), no other
    added = read_jsonl(run_dir / "iter_1" / "added.jsonl")
    assert {record.parent_id for record in added} <= set(chosen)
