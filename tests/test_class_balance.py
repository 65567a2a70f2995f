"""Training-side options for imbalanced labels: class-weighted answer-token loss and the balanced order."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from conftest import FAST

from taskexpert.data.balanced_sampling import BalancedSampler
from taskexpert.data.class_weights import resolve_class_weights
from taskexpert.data.loading import load_splits
from taskexpert.errors import ConfigError
from taskexpert.models.loading import load_model_and_tokenizer
from taskexpert.models.weighted_loss import weighted_answer_loss
from taskexpert.training.pipeline import build_data_and_module

LABELS = ("yes", "no", "maybe")  # the default task's labels

# --- class weights ---------------------------------------------------------------------------------------


def test_balanced_weights_give_every_label_the_same_total_weight():
    train_labels = ["yes"] * 6 + ["no"] * 3 + ["maybe"] * 1
    weights = resolve_class_weights("balanced", train_labels, LABELS)
    assert weights == pytest.approx({"yes": 10 / 18, "no": 10 / 9, "maybe": 10 / 3})
    totals = {label: weights[label] * train_labels.count(label) for label in LABELS}
    assert len({round(total, 9) for total in totals.values()}) == 1
    absent = resolve_class_weights("balanced", ["yes", "no"], LABELS)  # a label with no training items
    assert absent == {"yes": 1.0, "no": 1.0, "maybe": 1.0}


def test_given_weights_and_their_errors():
    assert resolve_class_weights({"maybe": 4}, [], LABELS) == {"yes": 1.0, "no": 1.0, "maybe": 4.0}
    assert resolve_class_weights("none", ["yes"], LABELS) is None
    with pytest.raises(ConfigError, match="'unsure'.*does not have"):
        resolve_class_weights({"unsure": 2}, [], LABELS)
    for bad in (0, -1, True, float("nan")):
        with pytest.raises(ConfigError, match="positive number"):
            resolve_class_weights({"no": bad}, [], LABELS)
    with pytest.raises(ConfigError, match="quote such labels"):  # what YAML makes of {yes: 2}
        resolve_class_weights({True: 2}, [], LABELS)
    with pytest.raises(ConfigError, match="none, balanced"):
        resolve_class_weights("inverse", [], LABELS)


@pytest.fixture(scope="module")
def weighted_setup():
    """The tiny LLaMA, and the sample's first training batch with balanced class weights."""
    from conftest import compose_config

    cfg = compose_config(["model=tiny_llama", *FAST, "data.class_weights=balanced", "data.batch_size=6"])
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(cfg.model)
    model.eval()
    splits = load_splits(cfg.data)
    datamodule, module = build_data_and_module(cfg, model, tokenizer, splits)
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    return tokenizer, model, datamodule, module, batch


def manual_weighted_loss(model, batch, weights):
    """Per example, per answer token: -log p(token), by hand from full logits, then the weighted token mean."""
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    total, norm = 0.0, 0.0
    for row in range(batch["input_ids"].shape[0]):
        for position in range(1, batch["input_ids"].shape[1]):
            token = int(batch["labels"][row, position])
            if token == -100:
                continue
            log_probs = torch.log_softmax(logits[row, position - 1], dim=-1)
            total += float(weights[row]) * -float(log_probs[token])
            norm += float(weights[row])
    return total / norm


@pytest.mark.filterwarnings(
    "ignore:You are trying to `self.log\\(\\)`"
)  # training_step called without a Trainer
def test_the_weighted_loss_equals_a_manual_computation(weighted_setup):
    _, model, datamodule, module, batch = weighted_setup
    by_id = dict(zip([r.id for r in datamodule.splits.train], datamodule.train_labels, strict=True))
    expected_weights = resolve_class_weights("balanced", datamodule.train_labels, LABELS)
    assert batch["weights"].tolist() == pytest.approx(
        [expected_weights[by_id[example_id]] for example_id in _batch_ids(datamodule, batch)]
    )
    assert len(set(batch["weights"].tolist())) > 1  # the batch mixes labels: weighting changes the loss
    manual = manual_weighted_loss(model, batch, batch["weights"])
    with torch.no_grad():
        for answer_only in (True, False):
            inputs = {k: v for k, v in batch.items() if k != "weights"}
            loss = weighted_answer_loss(model, inputs, batch["weights"], answer_only)
            assert float(loss) == pytest.approx(manual, rel=1e-5)
        assert float(module.training_step(batch, 0)) == pytest.approx(manual, rel=1e-5)  # the module's path
        unweighted = {k: v for k, v in batch.items() if k != "weights"}
        plain = float(model(**unweighted).loss)
        assert plain == pytest.approx(manual_weighted_loss(model, batch, torch.ones(6)), rel=1e-5)
        assert abs(plain - manual) > 1e-4


def _batch_ids(datamodule, batch):
    """The ids of a training batch, found by their token ids (the training batch carries no ids)."""
    by_tokens = {tuple(e.input_ids): e.id for e in datamodule.encoded["train"]}
    ids = []
    for row, mask in zip(batch["input_ids"].tolist(), batch["attention_mask"].tolist(), strict=True):
        ids.append(by_tokens[tuple(token for token, real in zip(row, mask, strict=True) if real)])
    return ids


# --- the balanced order ----------------------------------------------------------------------------------

EXAMPLE_LABELS = ["yes"] * 30 + ["no"] * 12 + ["maybe"] * 3  # 45 examples, 2:0.8:0.2


def test_every_label_fills_an_equal_share_of_each_epoch():
    sampler = BalancedSampler(EXAMPLE_LABELS, batch_size=4, seed=1)
    for epoch in range(4):
        order = list(sampler)
        assert len(order) == len(sampler) == 45
        counts = Counter(EXAMPLE_LABELS[index] for index in order)
        assert set(counts) == set(LABELS) and max(counts.values()) - min(counts.values()) <= 1, epoch
        assert counts["maybe"] >= 15  # the 3 rare examples repeat within the epoch
    shuffled = Counter(EXAMPLE_LABELS)
    assert shuffled["maybe"] == 3  # what a plain shuffle would give


def test_common_examples_are_all_seen_over_consecutive_epochs_and_rare_ones_evenly():
    sampler = BalancedSampler(EXAMPLE_LABELS, batch_size=4, seed=1)
    first, second = list(sampler), list(sampler)
    yes_items = [i for i, label in enumerate(EXAMPLE_LABELS) if label == "yes"]
    assert set(yes_items) <= set(first) | set(second)  # 15 draws per epoch: 30 examples in two epochs
    maybe_counts = Counter(index for index in first if EXAMPLE_LABELS[index] == "maybe")
    assert max(maybe_counts.values()) - min(maybe_counts.values()) <= 1


def test_the_balanced_order_is_seeded_and_resumes_mid_epoch():
    def make(seed=7, lengths=None):
        return BalancedSampler(EXAMPLE_LABELS, batch_size=4, seed=seed, lengths=lengths)

    uninterrupted = make()
    epochs = [list(uninterrupted) for _ in range(3)]
    assert epochs[0] != epochs[1] and list(make()) == epochs[0]
    assert list(make(seed=8)) != epochs[0]
    resumed = make()
    resumed.resume(epoch=1, batches_done=5)
    assert list(resumed) == epochs[1][20:]
    assert list(resumed) == epochs[2]
    lengths = [(index * 37) % 101 for index in range(45)]
    grouped = list(make(lengths=lengths))
    assert sorted(grouped) == sorted(epochs[0])  # the same draws, ordered within windows by length
    assert [lengths[i] for i in grouped] == sorted((lengths[i] for i in grouped), reverse=True)  # one window


def test_an_unknown_sampler_is_a_config_error(weighted_setup):
    from conftest import compose_config

    tokenizer, model, *_ = weighted_setup
    cfg = compose_config(["model=tiny_llama", "data.sampler=stratified"])
    with pytest.raises(ConfigError, match="data.sampler='stratified'"):
        build_data_and_module(cfg, model, tokenizer, load_splits(cfg.data))
