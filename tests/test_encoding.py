"""Encoding records to token ids with the tiny tokenizer, padding batches, and length-grouped sampling."""

import random

import pytest
import torch
from data_fixtures import qa_record
from tokenizers import Tokenizer
from tokenizers.processors import TemplateProcessing
from transformers import PreTrainedTokenizerFast

from taskexpert.data.collate import EvalCollator, TrainCollator
from taskexpert.data.encoding import IGNORE_INDEX, ExampleEncoder
from taskexpert.data.sampling import EpochSampler, LengthGroupedSampler
from taskexpert.errors import ConfigError, DataError
from taskexpert.models.tiny import SPECIAL_TOKENS, build_tokenizer
from taskexpert.tasks import load_task

DECISION_PREFIX = " the answer to the question given the context is"
TASK = load_task("pubmedqa")
LABELS = TASK.labels


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()  # ~1 s: trains a small byte-level BPE on the bundled sample


@pytest.fixture(scope="module")
def bos_tokenizer(tokenizer):
    """The same vocabulary, but putting <s> before every text, as LLaMA's tokenizer does."""
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.post_processor = TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tokenizer.bos_token_id)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=backend, **SPECIAL_TOKENS)


def make_record(record_id="r1", label="no", question=None, context=None, **fields):
    return qa_record(
        id=record_id,
        question=question or "Do barn owls hoot more at dawn than at dusk?",
        context=context or "Barn owls were recorded at dawn and dusk. Hoots were counted by ear.",
        long_answer=fields.pop("long_answer", "Owls hooted about as often at both times."),
        label=label,
        **fields,
    )


def records_of_varied_length():
    return [
        make_record("short", "yes", context="Owls hooted."),
        make_record("long", "no", context="Field notes: " + "owls hooted twice at the old mill; " * 8),
        make_record("mid", "maybe", context="Owls hooted near the barn, then near the river, then stopped."),
    ]


def prompt_length(example):
    return next(i for i, label in enumerate(example.labels) if label != IGNORE_INDEX)


def prompt_text(record):
    return f"Question: {record.inputs['question']}\nContext: {record.inputs['context']}\nAnswer:"


# --- labels, eval ids ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["label", "label_then_long_answer"])
def test_labels_ignore_prompt_and_copy_answer(tokenizer, target):
    encoder = ExampleEncoder(tokenizer, TASK, 256, target=target)
    for example in encoder.encode(records_of_varied_length(), "owls.jsonl"):
        n = prompt_length(example)
        assert len(example.labels) == len(example.input_ids)
        assert n > 0
        assert example.labels[:n] == [IGNORE_INDEX] * n
        assert example.labels[n:] == example.input_ids[n:]
        assert IGNORE_INDEX not in example.labels[n:]
        assert example.input_ids[-1] == tokenizer.eos_token_id


@pytest.mark.parametrize(
    ("target", "answer"),
    [
        ("label", " the answer to the question given the context is maybe.</s>"),
        (
            "label_then_long_answer",
            " the answer to the question given the context is maybe. Owls hooted about as often at both times.</s>",
        ),
    ],
)
def test_prompt_and_answer_decode_to_the_templates(tokenizer, target, answer):
    record = make_record(label="maybe")
    encoder = ExampleEncoder(tokenizer, TASK, 256, target=target)
    [example] = encoder.encode([record], "owls.jsonl")
    n = prompt_length(example)
    assert tokenizer.decode(example.input_ids[:n]) == prompt_text(record)
    assert tokenizer.decode(example.input_ids[n:]) == answer
    assert example.golds == ("maybe",)


def test_label_mode_eval_ids_end_with_the_decision_prefix(tokenizer):
    encoder = ExampleEncoder(tokenizer, TASK, 256, eval_mode="label")
    assert tokenizer.decode(encoder.prefix_ids) == DECISION_PREFIX
    for record, example in zip(
        records_of_varied_length(), encoder.encode(records_of_varied_length(), "owls.jsonl"), strict=True
    ):
        n = prompt_length(example)
        assert example.eval_ids == example.input_ids[:n] + encoder.prefix_ids
        assert tokenizer.decode(example.eval_ids) == prompt_text(record) + DECISION_PREFIX
        # what training taught right after the eval ids is the gold label's first token: label scoring reads it
        assert example.input_ids[: len(example.eval_ids)] == example.eval_ids
        assert (
            example.input_ids[len(example.eval_ids)]
            == encoder.label_tokens.first_token_ids[LABELS.index(example.golds[0])]
        )


def test_generate_mode_eval_ids_are_the_prompt_alone(tokenizer):
    encoder = ExampleEncoder(tokenizer, TASK, 256, eval_mode="generate")
    for record, example in zip(
        records_of_varied_length(), encoder.encode(records_of_varied_length(), "owls.jsonl"), strict=True
    ):
        assert example.eval_ids == example.input_ids[: prompt_length(example)]
        assert tokenizer.decode(example.eval_ids) == prompt_text(record)


def test_label_first_tokens_are_distinct_and_are_the_label_words(tokenizer):
    encoder = ExampleEncoder(tokenizer, TASK, 256)
    first = encoder.label_tokens.first_token_ids
    assert len(first) == len(LABELS) == len(set(first))
    assert encoder.label_tokens.single_token  # the tiny vocabulary holds the sample's label words whole
    for label, token, ids in zip(LABELS, first, encoder.label_tokens.sequences, strict=True):
        assert ids == (token,)
        assert tokenizer.decode(ids).strip() == label


def test_leading_bos_stays_in_the_prompt(bos_tokenizer):
    assert bos_tokenizer("x")["input_ids"][0] == bos_tokenizer.bos_token_id  # the fixture really adds <s>
    encoder = ExampleEncoder(bos_tokenizer, TASK, 256)
    assert encoder.leading_special_ids == [bos_tokenizer.bos_token_id]
    [example] = encoder.encode([make_record()], "owls.jsonl")
    assert example.input_ids[0] == example.eval_ids[0] == bos_tokenizer.bos_token_id
    assert example.input_ids.count(bos_tokenizer.bos_token_id) == 1
    assert example.labels[0] == IGNORE_INDEX
    assert bos_tokenizer.decode(example.eval_ids[1:]) == prompt_text(make_record()) + DECISION_PREFIX


# --- truncation ----------------------------------------------------------------------------------


def test_context_is_truncated_to_fit_max_length(tokenizer):
    record = make_record(context="Hoots were tallied at the mill. " * 60, label="yes")
    encoder = ExampleEncoder(tokenizer, TASK, 96)
    [example] = encoder.encode([record], "owls.jsonl")
    assert len(example.input_ids) == 96  # full: the truncated context takes exactly the room left
    assert len(example.eval_ids) <= 96
    prompt = tokenizer.decode(example.input_ids[: prompt_length(example)])
    head = f"Question: {record.inputs['question']}\nContext: "
    assert prompt.startswith(head)
    assert prompt.endswith("\nAnswer:")
    kept_context = prompt[len(head) : -len("\nAnswer:")]
    assert 0 < len(kept_context) < len(record.inputs["context"])
    assert record.inputs["context"].startswith(kept_context)  # the context is cut from its end
    answer = tokenizer.decode(example.input_ids[prompt_length(example) :])
    assert answer == " the answer to the question given the context is yes.</s>"


@pytest.mark.parametrize("eval_mode", ["label", "generate"])
def test_evaluation_prompt_does_not_depend_on_the_gold_answer(tokenizer, eval_mode):
    """Two items that differ only in their gold long answer are evaluated on the same tokens; the evaluation
    prompt fills max_length with what evaluation adds (decision prefix + one label token, or the tokens to
    generate), however long the gold target is."""
    context = "Hoots were tallied at the mill. " * 60
    short = make_record("short", context=context, long_answer="Yes.")
    long = make_record("long", context=context, long_answer="Owls hooted more at dawn in every count. " * 3)
    encoder = ExampleEncoder(
        tokenizer, TASK, 200, eval_mode, target="label_then_long_answer", max_new_tokens=20
    )
    first, second = encoder.encode([short, long], "owls.jsonl")
    assert prompt_length(first) > prompt_length(second)  # training still makes room for each target
    assert first.eval_ids == second.eval_ids
    added = len(encoder.prefix_ids) + 1 if eval_mode == "label" else 20
    assert len(first.eval_ids) - (len(encoder.prefix_ids) if eval_mode == "label" else 0) + added == 200


def test_short_context_is_not_truncated(tokenizer):
    record = make_record()
    [example] = ExampleEncoder(tokenizer, TASK, 512).encode([record], "owls.jsonl")
    assert len(example.input_ids) < 512
    assert record.inputs["context"] in tokenizer.decode(example.input_ids)


def test_record_that_cannot_fit_without_context_is_data_error(tokenizer):
    record = make_record("too-long-7", question="Is this question far too long? " * 30)
    with pytest.raises(DataError) as caught:
        ExampleEncoder(tokenizer, TASK, 64).encode([make_record("ok"), record], "owls.jsonl")
    message = str(caught.value)
    assert "owls.jsonl, record too-long-7" in message
    assert "field 'question'" in message
    assert "max_length" in message


def test_max_length_boundary(tokenizer):
    record = make_record()
    [full] = ExampleEncoder(tokenizer, TASK, 512).encode([record], "owls.jsonl")
    context_tokens = len(tokenizer(record.inputs["context"], add_special_tokens=False)["input_ids"])
    fixed = len(full.input_ids) - context_tokens  # everything but the context
    [one] = ExampleEncoder(tokenizer, TASK, fixed + 1).encode([record], "owls.jsonl")
    assert len(one.input_ids) == fixed + 1  # a single context token left
    with pytest.raises(DataError, match="record r1"):
        ExampleEncoder(tokenizer, TASK, fixed).encode([record], "owls.jsonl")


# --- targets and config errors -------------------------------------------------------------------


@pytest.mark.parametrize("target", ["rationale_then_label", "long_answer_then_label"])
def test_label_scoring_needs_the_decision_first(tokenizer, target):
    with pytest.raises(ConfigError, match=target):
        ExampleEncoder(tokenizer, TASK, 256, eval_mode="label", target=target)


def test_rationale_then_label_in_generate_mode(tokenizer):
    encoder = ExampleEncoder(tokenizer, TASK, 256, eval_mode="generate", target="rationale_then_label")
    record = make_record(label="yes", rationale="Dawn counts were higher.")
    [example] = encoder.encode([record], "owls.jsonl")
    answer = tokenizer.decode(example.input_ids[prompt_length(example) :])
    assert answer == " Dawn counts were higher. the answer to the question given the context is yes.</s>"
    # Records without a rationale (seeds, evaluation items) learn the decision alone by default ...
    [bare] = encoder.encode([make_record("bare", rationale=None)], "owls.jsonl")
    assert tokenizer.decode(bare.input_ids[prompt_length(bare) :]) == (
        " the answer to the question given the context is no.</s>"
    )
    # ... or are refused when the user asks for rationales everywhere.
    strict = ExampleEncoder(
        tokenizer,
        TASK,
        256,
        eval_mode="generate",
        target="rationale_then_label",
        missing_rationale="error",
    )
    with pytest.raises(ConfigError, match="no rationale"):
        strict.encode([make_record("bare", rationale=None)], "owls.jsonl")


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"target": "label_only"}, "label_only"), ({"missing_rationale": "skip"}, "skip")]
)
def test_bad_target_choices_are_config_errors(tokenizer, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ExampleEncoder(tokenizer, TASK, 256, **kwargs)


# --- collators -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def examples(tokenizer):
    return ExampleEncoder(tokenizer, TASK, 256).encode(records_of_varied_length(), "owls")


def test_train_collator_pads_to_batch_max(tokenizer, examples):
    pad = tokenizer.pad_token_id
    batch = TrainCollator(pad)(examples)
    width = max(len(e.input_ids) for e in examples)
    assert len({len(e.input_ids) for e in examples}) == 3  # the rows really differ in length
    for key in ("input_ids", "attention_mask", "labels"):
        assert batch[key].shape == (3, width)
        assert batch[key].dtype == torch.long
    for row, example in enumerate(examples):
        n, padding = len(example.input_ids), width - len(example.input_ids)
        assert batch["input_ids"][row].tolist() == example.input_ids + [pad] * padding
        assert batch["labels"][row].tolist() == example.labels + [IGNORE_INDEX] * padding
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * padding


def test_eval_collator_lengths_point_at_the_last_real_token(tokenizer, examples):
    pad = tokenizer.pad_token_id
    batch = EvalCollator(pad)(examples)
    width = max(len(e.eval_ids) for e in examples)
    prefix_last = tokenizer(DECISION_PREFIX, add_special_tokens=False)["input_ids"][-1]
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (3, width)
    assert batch["ids"] == ["short", "long", "mid"]
    assert batch["golds"] == [("yes",), ("no",), ("maybe",)]
    for row, example in enumerate(examples):
        length = int(batch["lengths"][row])
        assert length == len(example.eval_ids) == int(batch["attention_mask"][row].sum())
        assert int(batch["input_ids"][row, length - 1]) == example.eval_ids[-1] == prefix_last
        assert batch["input_ids"][row, :length].tolist() == example.eval_ids
        assert batch["input_ids"][row, length:].tolist() == [pad] * (width - length)


def test_collators_on_a_single_example(tokenizer, examples):
    batch = TrainCollator(tokenizer.pad_token_id)(examples[:1])
    assert batch["input_ids"].shape == (1, len(examples[0].input_ids))
    assert batch["attention_mask"].all()


# --- length-grouped sampling ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def lengths():
    rng = random.Random(11)
    return [rng.randint(5, 300) for _ in range(103)]


def test_sampler_yields_a_permutation(lengths):
    sampler = LengthGroupedSampler(lengths, batch_size=4, seed=0, window_batches=5)
    order = list(sampler)
    assert len(sampler) == len(order) == 103
    assert sorted(order) == list(range(103))


def test_sampler_is_deterministic_for_a_seed(lengths):
    first = list(LengthGroupedSampler(lengths, batch_size=4, seed=5, window_batches=5))
    again = list(LengthGroupedSampler(lengths, batch_size=4, seed=5, window_batches=5))
    other = list(LengthGroupedSampler(lengths, batch_size=4, seed=6, window_batches=5))
    assert first == again
    assert first != other


def test_sampler_changes_order_across_epochs(lengths):
    sampler = LengthGroupedSampler(lengths, batch_size=4, seed=5, window_batches=5)
    epoch0, epoch1 = list(sampler), list(sampler)
    assert epoch0 != epoch1
    sampler.set_epoch(0)
    assert list(sampler) == epoch0  # set_epoch makes an epoch's order reproducible
    sampler.set_epoch(1)
    assert list(sampler) == epoch1


def test_sampler_sorts_within_windows_only(lengths):
    window = 4 * 5
    order = list(LengthGroupedSampler(lengths, batch_size=4, seed=0, window_batches=5))
    chunks = [order[start : start + window] for start in range(0, len(order), window)]
    assert [len(c) for c in chunks] == [20, 20, 20, 20, 20, 3]
    for chunk in chunks:
        chunk_lengths = [lengths[i] for i in chunk]
        assert chunk_lengths == sorted(chunk_lengths, reverse=True)
    all_lengths = [lengths[i] for i in order]
    assert all_lengths != sorted(all_lengths, reverse=True)  # not one global sort: windows are shuffled


def test_sampler_groups_cut_padding(lengths):
    def padding(order, batch_size=4):
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    grouped = list(LengthGroupedSampler(lengths, batch_size=4, seed=0, window_batches=5))
    shuffled = list(range(len(lengths)))
    random.Random(0).shuffle(shuffled)
    assert padding(grouped) < padding(shuffled) / 2


@pytest.mark.parametrize("grouped", [False, True])
def test_sampler_resumes_mid_epoch_where_it_stopped(lengths, grouped):
    def make():
        if grouped:
            return LengthGroupedSampler(lengths, batch_size=4, seed=3, window_batches=5)
        return EpochSampler(len(lengths), batch_size=4, seed=3)

    uninterrupted = make()
    epochs = [list(uninterrupted) for _ in range(3)]
    resumed = make()
    resumed.resume(epoch=1, batches_done=5)  # what a checkpoint after 5 batches of epoch 1 restores
    assert list(resumed) == epochs[1][5 * 4 :]
    assert list(resumed) == epochs[2]  # the following epoch is whole again
    assert len(resumed) == len(lengths)  # Lightning counts a resumed epoch's batches itself
