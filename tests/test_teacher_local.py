"""The local transformers teacher on the tiny LLaMA: batched generation, prefill, seeding, JSON stop, cache."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from servers.augment_setup import compose_augment_config, data_overrides, quiet_overrides, write_seed_file

from taskexpert.augment.pipeline import augment
from taskexpert.teachers import TeacherRequest, build_teacher
from taskexpert.teachers.backends.local_transformers import _json_closed_criterion

TINY_TEACHER = [
    "teacher.source=tiny",
    "teacher.tiny_architecture=llama",
    "teacher.model=tiny-llama",
    "teacher.batch_size=2",
]


def tiny_teacher(tmp_path, cache_name="cache.sqlite", extra=(), **sampling):
    cfg = compose_augment_config([*TINY_TEACHER, *extra], tmp_path / "run")
    settings = {**dict(cfg.sampling), "max_new_tokens": 6, **sampling}
    return build_teacher(cfg.teacher, settings, tmp_path / cache_name)


REQUESTS = [
    TeacherRequest.chat(
        [{"role": "user", "content": f"Rewrite question {i}"}, {"role": "assistant", "content": '{"q": "'}]
    )
    for i in range(3)
]


def test_generation_keeps_the_prefill_and_is_cached(tmp_path):
    teacher = tiny_teacher(tmp_path)
    first = teacher.generate(REQUESTS)
    assert all(r.ok and r.text.startswith('{"q": "') and not r.cached for r in first)
    assert teacher.stats.calls == 3 and len(teacher.cache) == 3
    again = tiny_teacher(tmp_path)
    second = again.generate(REQUESTS)
    assert [r.text for r in second] == [r.text for r in first] and all(r.cached for r in second)
    assert again.backend._model is None  # a fully cached run never loads the model


def test_the_same_batch_with_the_same_seed_samples_the_same_text(tmp_path):
    one = tiny_teacher(tmp_path, "a.sqlite").generate(REQUESTS)
    two = tiny_teacher(tmp_path, "b.sqlite").generate(REQUESTS)
    assert [r.text for r in one] == [r.text for r in two]
    other_seed = tiny_teacher(tmp_path, "c.sqlite", seed=1234).generate(REQUESTS)
    assert [r.text for r in other_seed] != [r.text for r in one]


def test_without_a_chat_template_messages_are_joined_as_text(tmp_path):
    teacher = tiny_teacher(tmp_path)
    call = teacher._prepare(REQUESTS[0]).call
    assert teacher.backend.render(call) == 'Rewrite question 0\n\n{"q": "'


def test_rows_stop_once_their_json_object_closes(tmp_path):
    tokenizer = tiny_teacher(tmp_path).backend
    tokenizer._load()
    tokenizer = tokenizer._tokenizer
    prompt = tokenizer("prompt", return_tensors="pt")["input_ids"]
    closed = tokenizer('done"} and more', return_tensors="pt")["input_ids"]
    still_open = tokenizer("still writing", return_tensors="pt")["input_ids"]
    width = max(closed.shape[1], still_open.shape[1])
    pad = tokenizer.pad_token_id

    def row(ids):
        padding = torch.full((1, width - ids.shape[1]), pad)
        return torch.cat([prompt, ids, padding], dim=1)

    criterion = _json_closed_criterion(tokenizer, prompt.shape[1], ['{"q": "', '{"q": "'])
    assert criterion(torch.cat([row(closed), row(still_open)]), None).tolist() == [True, False]


def test_a_rewrite_run_with_the_local_teacher_accounts_for_every_answer(tmp_path):
    seeds = write_seed_file(tmp_path, 12)
    overrides = [
        *TINY_TEACHER,
        "method.max_seeds=3",
        "method.rewrite.max_new_tokens=6",
        "teacher.length_bounds=false",  # no bounds fit 6 tokens (a ConfigError with them): answers are cut
        *data_overrides(seeds),
        *quiet_overrides(tmp_path / "cache.sqlite"),
    ]
    stats = augment(compose_augment_config(overrides, tmp_path / "run"))
    assert stats["requested"] == 3 and stats["generated"] == 3 and stats["failed"] == 0
    assert stats["kept"] + stats["rejected_total"] == 3
    assert stats["teacher"] == {"model": "tiny-llama", "backend": "transformers"}


# prompts of different lengths, so a batch pads them differently than each alone
UNEVEN = [
    TeacherRequest.chat(
        [{"role": "user", "content": text}, {"role": "assistant", "content": '{"q": "'}], sample_index=k
    )
    for text, k in [
        ("Rewrite: does Zorvane reduce fatigue in adults after surgery?", 0),
        ("Rewrite this short one", 1),
        ("Rewrite the question about Kelmane, relapse and the ward B cohort of forty-seven patients", 0),
    ]
]
SCHEMA = {
    "type": "object",
    "properties": {"q": {"type": "string", "minLength": 1, "maxLength": 60}},
    "required": ["q"],
    "additionalProperties": False,
}


def answers_in_batches(tmp_path, name, requests, batch_size, **sampling):
    # float32: bfloat16 matmuls round differently with the batch's shape, which can flip a draw
    overrides = [f"teacher.batch_size={batch_size}", "teacher.dtype=float32"]
    teacher = tiny_teacher(tmp_path, f"{name}.sqlite", overrides, max_new_tokens=12, **sampling)
    teacher.backend._load()
    state = torch.get_rng_state()
    answers = [response.text for response in teacher.generate(requests)]
    assert torch.equal(torch.get_rng_state(), state)  # the global random state is not ours to draw from
    return answers


@pytest.mark.parametrize("constrained", [False, True], ids=["free", "grammar"])
def test_a_call_samples_the_same_answer_alone_and_in_any_batch(tmp_path, constrained):
    """Each row draws from its own call's generator: batch [a, b, c], each call alone, and batch [c, a]
    give every call the same answer (under the grammar mask too)."""
    requests = [dataclasses.replace(r, schema=SCHEMA) if constrained else r for r in UNEVEN]
    a, b, c = requests
    together = answers_in_batches(tmp_path, "abc", [a, b, c], batch_size=3)
    alone = [answers_in_batches(tmp_path, f"alone{i}", [r], batch_size=1)[0] for i, r in enumerate(requests)]
    reordered = answers_in_batches(tmp_path, "ca", [c, a], batch_size=2)
    assert together == alone
    assert reordered == [together[2], together[0]]
    assert len(set(together)) == 3  # three calls, three samples (nothing degenerate made them equal)
    other_seed = answers_in_batches(tmp_path, "seed7", [a, b, c], batch_size=3, seed=7)
    assert other_seed != together


class SeedRecordingVLLM:
    """Stands in for the `vllm` module (vLLM needs a GPU and does not install here): it records the
    `SamplingParams` our backend builds for each request, not vLLM's decoding. vLLM seeds a request that
    carries `seed` with its own generator, so the seed per request is what makes its answers repeat."""

    def __init__(self) -> None:
        import types

        self.seeds: dict[str, int | None] = {}  # user message + sample -> seed sent
        recorder = self

        class SamplingParams:
            def __init__(self, **kwargs):
                self.kwargs = kwargs

        class LLM:
            def __init__(self, **engine_args):
                pass

            def chat(self, messages, sampling_params, **options):
                outputs = []
                for conversation, params in zip(messages, sampling_params, strict=True):
                    recorder.seeds[conversation[0]["content"]] = params.kwargs["seed"]
                    text = types.SimpleNamespace(text=f"seed {params.kwargs['seed']}")
                    outputs.append(types.SimpleNamespace(outputs=[text]))
                return outputs

        self.module = types.SimpleNamespace(SamplingParams=SamplingParams, LLM=LLM)


def test_vllm_sends_each_request_its_own_seed_whatever_its_chunk(tmp_path, monkeypatch):
    import sys

    from taskexpert.teachers.backends.vllm_offline import VLLMBackend
    from taskexpert.teachers.cache import ResponseCache
    from taskexpert.teachers.sampling import Sampling
    from taskexpert.teachers.teacher import Teacher

    recorded = SeedRecordingVLLM()
    monkeypatch.setitem(sys.modules, "vllm", recorded.module)
    requests = [
        TeacherRequest.chat([{"role": "user", "content": f"{prompt} #{k}"}], sample_index=k)
        for prompt in ("a", "b", "c")
        for k in range(2)
    ]

    def seeds_sent(name, chunk_size, order):
        recorded.seeds.clear()
        backend = VLLMBackend(model="org/model", chunk_size=chunk_size)
        teacher = Teacher(backend, ResponseCache(tmp_path / f"{name}.db"), Sampling(seed=40))
        answers = teacher.generate([requests[i] for i in order])
        return dict(recorded.seeds), [answer.text for answer in answers]

    together, texts = seeds_sent("all", 6, range(6))
    assert together == {f"{p} #{k}": 40 + k for p in "abc" for k in range(2)}  # sample k: seed + k
    assert texts == [f"seed {40 + k}" for _ in "abc" for k in range(2)]
    assert seeds_sent("apart", 1, [5, 0, 3])[0] == {m: together[m] for m in ("c #1", "a #0", "b #1")}


@pytest.mark.parametrize(("model_top_k", "top_p"), [(None, 1.0), (None, 0.9), (5, 0.9)])
def test_a_row_draws_what_transformers_own_sampling_draws_with_its_seed(tmp_path, model_top_k, top_p):
    """Our warpers are transformers' (temperature, the model's top-k or 50, top-p): one row sampled with its
    generator equals `generate(do_sample=True)` after `torch.manual_seed` with the same seed."""
    from transformers import LogitsProcessorList

    from taskexpert.teachers.row_sampling import row_generators, sampling_processors

    backend = tiny_teacher(tmp_path, extra=["teacher.dtype=float32"]).backend
    backend._load()
    model, tokenizer = backend._model, backend._tokenizer
    model.generation_config.top_k = model_top_k
    encoded = tokenizer(["Rewrite the question about the trial"], return_tensors="pt")
    common = {"max_new_tokens": 16, "pad_token_id": tokenizer.pad_token_id}
    for seed in range(3):
        torch.manual_seed(seed)
        theirs = model.generate(**encoded, do_sample=True, temperature=0.8, top_p=top_p, **common)
        processors = sampling_processors(model.generation_config, 0.8, top_p, row_generators([seed]))
        ours = model.generate(
            **encoded, do_sample=False, logits_processor=LogitsProcessorList(processors), **common
        )
        assert torch.equal(ours, theirs)
