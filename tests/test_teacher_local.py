"""The local transformers teacher on the tiny LLaMA: batched generation, prefill, seeding, JSON stop, cache."""

from __future__ import annotations

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


def tiny_teacher(tmp_path, cache_name="cache.sqlite", **sampling):
    cfg = compose_augment_config(TINY_TEACHER, tmp_path / "run")
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
