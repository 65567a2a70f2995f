"""Label log-probabilities in fp32 on a bf16 model: two labels whose logits differ by less than bf16's rounding
step no longer tie (a tie would go to the first label); they are told apart as the same weights in fp32 tell them."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from taskexpert.data.encoding import LabelTokens
from taskexpert.models.label_scoring import label_log_probs, last_position_logits, score_labels
from taskexpert.models.label_sequences import score_label_sequences
from taskexpert.models.tiny import tiny_model_dir

PROMPTS = ["Is the treatment effective in adults", "Does the cohort show a lower risk"]


def _batch(tokenizer):
    encoded = [tokenizer(text)["input_ids"] for text in PROMPTS]
    width = max(len(ids) for ids in encoded)
    input_ids = torch.full((len(encoded), width), tokenizer.pad_token_id)
    attention_mask = torch.zeros_like(input_ids)
    for row, ids in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention_mask[row, : len(ids)] = 1
    lengths = attention_mask.sum(dim=1)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "lengths": lengths}


def _near_tied_models(labels: tuple[int, int]):
    """The tiny LLaMA (fp32 and its bf16 copy) with the second label's head row one small step above the first's
    along the hidden state's largest component: logits about 20 apart by about 0.02, under half of bf16's step
    there (0.125). Every head row is a bf16 number, so both copies hold the same label rows."""
    directory = tiny_model_dir("llama")
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    batch = _batch(tokenizer)
    first, second = labels
    with torch.no_grad():
        head = model.lm_head.weight
        head.copy_(head.to(torch.bfloat16).float())
        hidden = model(**{k: batch[k] for k in ("input_ids", "attention_mask")}, output_hidden_states=True)
        last = hidden.hidden_states[-1][torch.arange(len(PROMPTS)), batch["lengths"] - 1].mean(dim=0)
        for target in torch.arange(20.0, 21.0, 0.013):  # a target whose two logits round to one bf16 number
            row = (last * target / last.dot(last)).to(torch.bfloat16).float()
            step = int(last.abs().argmax())
            bumped = row.clone()
            bumped[step] = (
                (row[step] + torch.sign(last[step]) * 0.02 / last[step].abs()).to(torch.bfloat16).float()
            )
            head[first], head[second] = row, bumped
            bf16 = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.bfloat16).eval()
            bf16.load_state_dict(
                {name: value.to(torch.bfloat16) for name, value in model.state_dict().items()}
            )
            rounded = label_log_probs(
                last_position_logits(bf16, batch["input_ids"], batch["attention_mask"], batch["lengths"]),
                list(labels),
            )
            if torch.equal(rounded[:, 0], rounded[:, 1]):
                return model, bf16, batch
    raise AssertionError("no near tie found")


def test_bf16_label_scores_that_tie_when_rounded_are_told_apart_in_fp32():
    labels = (10, 11)
    fp32_model, bf16_model, batch = _near_tied_models(labels)
    scores = score_labels(bf16_model, batch, list(labels))
    assert scores.dtype == torch.float32
    assert (scores[:, 0] != scores[:, 1]).all()  # rounded in bf16 they are equal, and argmax says label 0
    reference = score_labels(fp32_model, batch, list(labels))
    assert torch.equal(scores.argmax(dim=1), reference.argmax(dim=1))
    assert (scores.argmax(dim=1) == 1).all()
    # what an fp32 head gives on the bf16 model's hidden state, normalised over the whole vocabulary
    with torch.no_grad():
        out = bf16_model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True
        )
        last = out.hidden_states[-1][torch.arange(len(PROMPTS)), batch["lengths"] - 1].float()
        expected = torch.log_softmax(last @ bf16_model.lm_head.weight.float().T, dim=-1)[:, list(labels)]
    torch.testing.assert_close(scores, expected, rtol=1e-6, atol=1e-5)


def test_label_sequences_score_in_fp32_too():
    labels = (10, 11)
    fp32_model, bf16_model, batch = _near_tied_models(labels)
    tokens = LabelTokens(names=("first", "second"), sequences=((labels[0],), (labels[1],)))
    scores = score_label_sequences(bf16_model, batch, tokens, pad_token_id=2)
    assert (scores[:, 0] != scores[:, 1]).all()
    torch.testing.assert_close(scores, score_labels(bf16_model, batch, list(labels)), rtol=1e-6, atol=1e-5)
    reference = score_label_sequences(fp32_model, batch, tokens, pad_token_id=2)
    assert torch.equal(scores.argmax(dim=1), reference.argmax(dim=1))


def test_a_softcapped_head_scores_as_its_fp32_computation():
    """Gemma 2 caps its final logits (tanh(x / cap) * cap): the fp32 scores cap them as the model does."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    config = Gemma2Config(
        vocab_size=300,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        final_logit_softcapping=2.0,
    )
    torch.manual_seed(0)
    model = Gemma2ForCausalLM._from_config(config, attn_implementation="eager", dtype=torch.bfloat16).eval()
    with torch.no_grad():
        model.lm_head.weight.normal_(0, 1.0)  # logits of several units: the cap matters
    input_ids = torch.randint(3, 300, (2, 7))
    batch = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "lengths": torch.tensor([7, 7]),
    }
    labels = [5, 6, 7]
    scores = score_labels(model, batch, labels)
    with torch.no_grad():
        out = model(input_ids=input_ids, output_hidden_states=True)
        last = out.hidden_states[-1][:, -1].float()
        capped = torch.tanh(last @ model.lm_head.weight.float().T / 2.0) * 2.0
    torch.testing.assert_close(scores, torch.log_softmax(capped, dim=-1)[:, labels], rtol=1e-6, atol=1e-5)


def test_logits_transformed_after_the_head_keep_the_models_own(caplog):
    """A model that scales its logits after the head (here a hook halving them, as a logit scale would): the
    fp32 recomputation would not be its scores, so its own logits are used, and the log says so once."""
    from taskexpert.models import label_scoring

    directory = tiny_model_dir("llama")
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.bfloat16).eval()
    model.lm_head.register_forward_hook(lambda _module, _inputs, output: output * 0.5)
    batch = _batch(tokenizer)
    label_scoring._said.clear()
    with caplog.at_level("WARNING", logger=label_scoring.__name__):
        scores = score_labels(model, batch, [10, 11, 12])
        score_labels(model, batch, [10, 11, 12])
    own = label_log_probs(
        last_position_logits(model, batch["input_ids"], batch["attention_mask"], batch["lengths"]),
        [10, 11, 12],
    )
    assert torch.equal(scores, own)
    assert len([r for r in caplog.records if "transforms its head's logits" in r.message]) == 1


def test_under_bf16_autocast_an_fp32_head_scores_in_fp32_too():
    """bf16-mixed evaluates an fp32 model under autocast, whose head rounds its logits to bf16 as a bf16 head does."""
    labels = (10, 11)
    fp32_model, _, batch = _near_tied_models(labels)
    reference = score_labels(fp32_model, batch, list(labels))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rounded = label_log_probs(
            last_position_logits(fp32_model, batch["input_ids"], batch["attention_mask"], batch["lengths"]),
            list(labels),
        )
        scores = score_labels(fp32_model, batch, list(labels))
    assert torch.equal(rounded[:, 0], rounded[:, 1])  # what the head's own bf16 logits give
    assert scores.dtype == torch.float32 and (scores[:, 0] != scores[:, 1]).all()
    assert torch.equal(scores.argmax(dim=1), reference.argmax(dim=1))
