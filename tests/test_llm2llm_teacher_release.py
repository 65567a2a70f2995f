"""LLM2LLM frees the teacher before every student trains, so a student can train on the teacher's GPU: the local
transformers teacher's model is gone (a weak reference to it is dead), and vLLM's engine is shut down and dropped.

vLLM is not installed here (and needs a GPU): `FakeVLLM` stands in for the `vllm` module (its `LLM` engine and
`SamplingParams`), so the real VLLMBackend runs against it; on a GPU, scripts/gpu_check.sh runs the real one."""

from __future__ import annotations

import sys
import types
import weakref

import pytest
from servers.augment_setup import compose_augment_config, data_overrides, quiet_overrides, write_seed_file
from test_llm2llm import N_TRAIN, answer_with_requested_label

import taskexpert.training.pipeline as training_pipeline
from taskexpert.augment.llm2llm import run_llm2llm
from taskexpert.teachers.backends.local_transformers import TransformersBackend

TEACHERS = {
    "transformers": [
        "teacher=hf",
        "teacher.source=tiny",
        "teacher.tiny_architecture=llama",
        "teacher.model=tiny-llama",
        "teacher.device=cpu",
    ],
    "vllm": ["teacher=vllm", "teacher.model=stand-in", "teacher.structured=off", "teacher.prefill=false"],
}


class FakeEngine:
    """Stands in for `vllm.LLM`: answers chats with valid records and records its shutdown."""

    def __init__(self, registry: list, **engine_args) -> None:
        self.engine_args = engine_args
        self.shut_down = False
        registry.append(self)

    def chat(self, conversations, sampling_params, **options):
        outputs = []
        for messages, params in zip(conversations, sampling_params, strict=True):
            text = answer_with_requested_label({"messages": messages, "seed": params.kwargs.get("seed")})
            outputs.append(types.SimpleNamespace(outputs=[types.SimpleNamespace(text=text)]))
        return outputs

    def shutdown(self) -> None:
        self.shut_down = True


def fake_vllm(registry: list) -> types.ModuleType:
    """Stands in for the `vllm` module: `LLM` and `SamplingParams` are all VLLMBackend uses without a schema."""
    module = types.ModuleType("vllm")
    module.LLM = lambda **engine_args: FakeEngine(registry, **engine_args)
    module.SamplingParams = lambda **kwargs: types.SimpleNamespace(kwargs=kwargs)
    return module


@pytest.mark.parametrize("teacher", sorted(TEACHERS))
def test_teacher_is_released_before_each_student_trains(teacher, tmp_path, monkeypatch):
    loaded: list[weakref.ref] = []  # the teacher's model, each time it was loaded
    engines: list[FakeEngine] = []
    if teacher == "vllm":
        monkeypatch.setitem(sys.modules, "vllm", fake_vllm(engines))
    else:
        real_load = TransformersBackend._load

        def load(backend):
            real_load(backend)
            if not loaded or loaded[-1]() is not backend._model:  # a new load, not a model already there
                loaded.append(weakref.ref(backend._model))

        monkeypatch.setattr(TransformersBackend, "_load", load)
    seen_at_training: list[tuple[int, int]] = []  # (teacher models alive, engines not shut down)

    real_train = training_pipeline.train

    def train(cfg):
        engine_refs = [weakref.ref(engine) for engine in engines]
        running = sum(not engine.shut_down for engine in engines)
        engines.clear()  # the test's own references: only the backend may keep one
        alive = sum(ref() is not None for ref in loaded + engine_refs)
        seen_at_training.append((alive, running))
        return real_train(cfg)

    monkeypatch.setattr(training_pipeline, "train", train)
    seeds = write_seed_file(tmp_path, N_TRAIN + 4)
    cfg = compose_augment_config(
        [
            "method=llm2llm",
            "method.iterations=2",
            "method.max_new_tokens=8",
            "teacher.length_bounds=false",  # 8 tokens hold no bounded answer; this test is about releasing
            "model=tiny_llama",
            "trainer=fast",
            "trainer.max_steps=1",
            "logger=csv",
            "checkpoint.enabled=false",
            *TEACHERS[teacher],
            *quiet_overrides(tmp_path / "cache.sqlite"),
            *data_overrides(seeds, train=N_TRAIN, val=2, test=2),
        ],
        tmp_path / "run",
    )
    stats = run_llm2llm(cfg)
    assert stats["teacher_calls"] > 0  # the teacher was loaded and asked after iteration 1's training
    assert len(seen_at_training) == 2
    assert seen_at_training[1] == (0, 0)  # iteration 2's student trains with no teacher model in memory
