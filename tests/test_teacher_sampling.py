"""Sampling parameters per backend: the repetition penalty is mapped, sent as an extra field, or refused; never dropped."""

from __future__ import annotations

import importlib.util

import pytest

from taskexpert.errors import ConfigError
from taskexpert.teachers.backends.openai_compatible import OpenAICompatibleBackend
from taskexpert.teachers.backends.vllm_offline import VLLMBackend
from taskexpert.teachers.sampling import (
    Sampling,
    openai_sampling_fields,
    transformers_generate_kwargs,
    vllm_sampling_kwargs,
)

PAPER = Sampling(temperature=0.8, top_p=1.0, max_new_tokens=64, repetition_penalty=2.0, seed=7)


def test_frequency_penalty_mapping_is_penalty_minus_one():
    # transformers serve turns frequency_penalty f back into repetition_penalty 1 + f
    fields = openai_sampling_fields(PAPER, 0, "map_to_frequency_penalty")
    assert fields == {"temperature": 0.8, "top_p": 1.0, "max_tokens": 64, "seed": 7, "frequency_penalty": 1.0}
    assert "repetition_penalty" not in fields and "extra_body" not in fields


def test_extra_body_mode_sends_repetition_penalty_for_vllm_servers():
    fields = openai_sampling_fields(PAPER, 0, "extra_body")
    assert fields["extra_body"] == {"repetition_penalty": 2.0}
    assert "frequency_penalty" not in fields


def test_error_mode_refuses_a_penalty_it_cannot_send():
    with pytest.raises(ConfigError, match="repetition_penalty=2.0 cannot be sent"):
        openai_sampling_fields(PAPER, 0, "error")
    neutral = Sampling(repetition_penalty=1.0)
    assert "frequency_penalty" not in openai_sampling_fields(neutral, 0, "error")


def test_penalty_outside_the_api_range_is_refused_not_clamped():
    with pytest.raises(ConfigError, match=r"outside the API's range \[-2.0, 2.0\]"):
        openai_sampling_fields(Sampling(repetition_penalty=3.5), 0, "map_to_frequency_penalty")


def test_unknown_modes_and_fields_are_config_errors():
    with pytest.raises(ConfigError, match="repetition_penalty_mode='drop'"):
        openai_sampling_fields(PAPER, 0, "drop")
    with pytest.raises(ConfigError, match="max_tokens_field"):
        openai_sampling_fields(PAPER, 0, "extra_body", max_tokens_field="tokens")
    with pytest.raises(ConfigError, match="repetition_penalty_mode"):
        OpenAICompatibleBackend(model="m", repetition_penalty_mode="silently_drop")


def test_each_sample_of_a_prompt_gets_its_own_seed():
    seeds = [openai_sampling_fields(PAPER, k, "extra_body")["seed"] for k in range(3)]
    assert seeds == [7, 8, 9]
    assert "seed" not in openai_sampling_fields(PAPER, 1, "extra_body", send_seed=False)
    assert (
        openai_sampling_fields(PAPER, 0, "extra_body", "max_completion_tokens")["max_completion_tokens"] == 64
    )


def test_transformers_gets_the_logits_processor_arguments():
    assert transformers_generate_kwargs(PAPER) == {
        "max_new_tokens": 64,
        "do_sample": True,
        "temperature": 0.8,
        "top_p": 1.0,
        "repetition_penalty": 2.0,
    }
    greedy = transformers_generate_kwargs(Sampling(temperature=0.0, repetition_penalty=1.0, max_new_tokens=5))
    assert greedy == {"max_new_tokens": 5, "do_sample": False}


def test_vllm_gets_the_penalty_natively():
    assert vllm_sampling_kwargs(PAPER, 2) == {
        "temperature": 0.8,
        "top_p": 1.0,
        "max_tokens": 64,
        "repetition_penalty": 2.0,
        "seed": 9,
    }


def test_openai_backend_params_merge_configured_extra_body():
    backend = OpenAICompatibleBackend(
        model="m", repetition_penalty_mode="extra_body", extra_body={"top_k": 20}
    )
    assert backend.call_params(PAPER, 0)["extra_body"] == {"top_k": 20, "repetition_penalty": 2.0}


def test_request_overrides_change_only_what_they_name():
    greedy = PAPER.with_overrides((("temperature", 0.0), ("max_new_tokens", 8)))
    assert (greedy.temperature, greedy.max_new_tokens, greedy.repetition_penalty) == (0.0, 8, 2.0)
    with pytest.raises(ConfigError, match="top_p"):
        Sampling(top_p=0.0)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_backend_without_vllm_says_how_to_get_it():
    backend = VLLMBackend(model="some/model")  # building the config object needs no vllm
    with pytest.raises(ConfigError, match="pip install vllm"):
        backend.engine()


def test_a_key_pasted_where_its_variable_name_belongs_is_refused_without_echo():
    with pytest.raises(ConfigError, match="NAME of an environment variable") as error:
        OpenAICompatibleBackend(model="m", api_key_env="sk-proj-abc123")
    assert "sk-proj-abc123" not in str(error.value)
