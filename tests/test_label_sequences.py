"""Label scoring of multi-token labels that share first tokens: each label's whole continuation, checked
against one full forward pass per example and label (tiny LLaMA, plain and prefix-tuned)."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import compose_config
from omegaconf import OmegaConf

from taskexpert.data.collate import EvalCollator
from taskexpert.data.encoding import ExampleEncoder
from taskexpert.models.adapters import apply_adapter
from taskexpert.models.label_scoring import score_labels
from taskexpert.models.label_sequences import score_label_sequences, score_task_labels
from taskexpert.models.loading import load_model_and_tokenizer
from taskexpert.records import Record
from taskexpert.tasks import build_task, load_task
from taskexpert.tasks.task import conf_dir

# With the tiny byte-level vocabulary these are several tokens each; "A" and "ABBR" start with the same token
# (and "A" is a prefix of "ABBR"), as do "E" and "ENTY".
LABELS = ["ABBR", "A", "ENTY", "E", "NUM"]
QUESTIONS = ["What does NASA stand for?", "Who wrote the letter?", "How many owls live in the barn?"]


def multi_token_task(normalize: str = "none"):
    config = OmegaConf.to_container(OmegaConf.load(conf_dir() / "task" / "pubmedqa.yaml").task)
    config = copy.deepcopy(config)
    config.update(
        name="questions",
        inputs=["question"],
        main_field="question",
        truncate_field=None,
        labels=LABELS,
        label_scoring={"normalize": normalize},
    )
    config["prompt"]["input"] = "Question: {question}\nAnswer:"
    config["generate"]["default_label"] = None
    config["field_lengths"].pop("context", None)  # no longer an input
    return build_task(config)


def brute_force(model, eval_ids: list[int], label_ids: tuple[int, ...]) -> float:
    """log p(label tokens | prompt + prefix), from one full forward pass over prompt + prefix + label."""
    ids = torch.tensor([eval_ids + list(label_ids)])
    log_probs = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    return sum(float(log_probs[len(eval_ids) - 1 + k, token]) for k, token in enumerate(label_ids))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cfg = compose_config(["model=tiny_llama"], tmp_path_factory.mktemp("run"))
    model, tokenizer = load_model_and_tokenizer(cfg.model)
    return cfg, model, tokenizer


def batch_for(tokenizer, task, questions=QUESTIONS):
    records = [
        Record(id=str(i), inputs={"question": q}, target=task.labels[i]) for i, q in enumerate(questions)
    ]
    encoder = ExampleEncoder(tokenizer, task, 256, "label")
    examples = encoder.encode(records, "questions")
    return encoder, examples, EvalCollator(tokenizer.pad_token_id)(examples)


@pytest.mark.parametrize("peft", ["none", "prefix"])
@pytest.mark.parametrize("normalize", ["none", "mean"])
def test_each_labels_whole_continuation_is_scored(tiny, peft, normalize):
    cfg, base, tokenizer = tiny
    torch.manual_seed(0)
    peft_cfg = compose_config(
        [f"peft={peft}", "peft.num_virtual_tokens=8"] if peft == "prefix" else ["peft=none"]
    )
    model = apply_adapter(copy.deepcopy(base), peft_cfg.peft).eval()
    task = multi_token_task(normalize)
    encoder, examples, batch = batch_for(tokenizer, task)
    sequences = encoder.label_tokens.sequences
    assert not encoder.label_tokens.single_token
    assert sequences[0][0] == sequences[1][0] and sequences[2][0] == sequences[3][0]  # shared first tokens
    assert sequences[0][: len(sequences[1])] == sequences[1]  # "A" is a prefix of "ABBR"

    scores = score_label_sequences(model, batch, encoder.label_tokens, tokenizer.pad_token_id, max_rows=4)
    assert scores.shape == (len(QUESTIONS), len(LABELS))
    with torch.no_grad():
        for row, example in enumerate(examples):
            for column, label_ids in enumerate(sequences):
                expected = brute_force(model, example.eval_ids, label_ids)
                if normalize == "mean":
                    expected /= len(label_ids)
                assert float(scores[row, column]) == pytest.approx(expected, abs=1e-4), (row, LABELS[column])
    assert torch.equal(score_task_labels(model, batch, encoder.label_tokens, tokenizer.pad_token_id), scores)


def test_single_token_labels_take_the_one_pass_path_with_the_same_scores(tiny):
    cfg, model, tokenizer = tiny
    task = load_task("pubmedqa")
    records = [
        Record(id=str(i), inputs={"question": q, "context": "Owls were counted."}, target=task.labels[i])
        for i, q in enumerate(QUESTIONS)
    ]
    encoder = ExampleEncoder(tokenizer, task, 256, "label")
    batch = EvalCollator(tokenizer.pad_token_id)(encoder.encode(records, "owls"))
    assert encoder.label_tokens.single_token
    one_pass = score_labels(model, batch, encoder.label_tokens.first_token_ids)
    per_label = score_label_sequences(model, batch, encoder.label_tokens, tokenizer.pad_token_id)
    assert torch.allclose(one_pass, per_label, atol=1e-4)
    assert torch.equal(
        score_task_labels(model, batch, encoder.label_tokens, tokenizer.pad_token_id), one_pass
    )


def test_training_targets_hold_the_label_tokens_label_scoring_reads(tiny):
    cfg, model, tokenizer = tiny
    task = multi_token_task()
    encoder, examples, _ = batch_for(tokenizer, task)
    for example in examples:
        label = example.golds[0]
        label_ids = list(encoder.label_tokens.sequences[task.labels.index(label)])
        start = len(example.eval_ids)
        assert example.input_ids[:start] == example.eval_ids
        assert example.input_ids[start : start + len(label_ids)] == label_ids
