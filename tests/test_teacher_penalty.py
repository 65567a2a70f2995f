"""Our logits processors for local teachers, on the tiny tokenizer: the repetition penalty touches content
tokens only, a rewrite cannot copy its source, and the grammar mask never leaves a row without a token."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from taskexpert.models.tiny import tiny_model_dir
from taskexpert.teachers.grammar import apply_bitmask, grammar_engine, new_grammar_processor
from taskexpert.teachers.penalty import JsonValueScanner, new_content_processor, source_ngrams

PENALTY = 2.0


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(tiny_model_dir("llama"))


def test_the_scanner_tells_string_values_from_keys_and_structure():
    scanner = JsonValueScanner()
    assert scanner.feed('Sure: {"question": "') == 0 and scanner.in_value  # prose, key, separators
    assert scanner.feed('Is \\"x\\" safe?') == 14  # escapes are content
    assert scanner.feed('", "label": "') == 0 and scanner.in_value
    assert scanner.feed('yes"}') == 3 and not scanner.in_value and scanner.done
    assert scanner.feed(' {"more": "text"}') == 0  # after the object: nothing counts


def feed(processor, tokenizer, prompt_ids: list[int], answer: str) -> torch.Tensor:
    """Run the processor step by step over `answer`'s tokens; the scores it sets for the next token."""
    ids = list(prompt_ids)
    scores = torch.ones(1, len(tokenizer))
    for token in [None, *tokenizer(answer, add_special_tokens=False)["input_ids"]]:
        if token is not None:
            ids.append(token)
        scores = processor(torch.tensor([ids]), torch.ones(1, len(tokenizer)))
    return scores[0]


def test_the_penalty_counts_content_tokens_only(tokenizer):
    prompt = tokenizer("surgery pain trial", add_special_tokens=False)["input_ids"]
    processor = new_content_processor(tokenizer, [""], len(prompt), penalty=PENALTY)
    scores = feed(processor, tokenizer, prompt, '{"question": "Does pain')
    content = set(tokenizer(" pain", add_special_tokens=False)["input_ids"]) | set(
        tokenizer("Does", add_special_tokens=False)["input_ids"]
    )
    penalised = {index for index, value in enumerate(scores.tolist()) if value != 1.0}
    assert penalised == content  # not the prompt's tokens, not `{"question": "`
    assert scores[sorted(content)[0]] == 1.0 / PENALTY
    closed = feed(
        new_content_processor(tokenizer, [""], len(prompt), penalty=PENALTY),
        tokenizer,
        prompt,
        '{"q": "pain", ',
    )
    assert torch.all(closed == 1.0)  # between values (keys, separators) nothing is penalised


def test_a_rewrite_cannot_copy_four_tokens_of_its_source(tokenizer):
    source = "Does early mobilisation reduce delirium after surgery?"
    source_ids = tokenizer(source, add_special_tokens=False)["input_ids"]
    table = source_ngrams(tokenizer, [source], 4)
    assert tuple(source_ids[:3]) in table and source_ids[3] in table[tuple(source_ids[:3])]
    processor = new_content_processor(tokenizer, ['{"question": "'], 0, copy_sources=[[source]], copy_ngram=4)
    copied_so_far = tokenizer.decode(source_ids[:3])
    scores = feed(processor, tokenizer, [], copied_so_far)
    assert scores[source_ids[3]] == float("-inf")  # the fourth token of the copy is banned
    assert (scores == float("-inf")).sum() == len(table[tuple(source_ids[:3])])


def test_the_grammar_mask_starts_the_object_and_leaves_finished_rows_alone(tokenizer):
    schema = {"type": "object", "properties": {"label": {"type": "string", "enum": ["yes", "no"]}},
              "required": ["label"], "additionalProperties": False}  # fmt: skip
    engine = grammar_engine("llguidance", tokenizer, len(tokenizer))
    processor = new_grammar_processor(engine, schema, batch_size=2)
    first = processor(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, len(tokenizer)))
    allowed = [tokenizer.decode([i]) for i in torch.nonzero(first[0] > float("-inf")).flatten().tolist()]
    assert allowed and all('{"label": "'.startswith(text) for text in allowed)
    processor.matchers[1] = type("Done", (), {"finished": lambda self: True})()  # a row that has ended
    second = processor(
        torch.tensor([[0, 0, 0, allowed_id(tokenizer, first)], [0, 0, 0, 0]]), torch.zeros(2, len(tokenizer))
    )
    assert torch.all(second[1] == 0)  # not masked: generate pads it, sampling must not see a row of -inf


def allowed_id(tokenizer, scores) -> int:
    return int(torch.nonzero(scores[0] > float("-inf")).flatten()[0])


def test_the_bitmask_unpacks_bit_by_bit():
    scores = torch.zeros(1, 40)
    bitmask = torch.tensor([[0b101, 0b1]], dtype=torch.int32)  # tokens 0, 2 and 32
    masked = apply_bitmask(scores, bitmask)
    assert torch.nonzero(masked[0] == 0).flatten().tolist() == [0, 2, 32]
