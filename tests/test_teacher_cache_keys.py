"""Cache keys hold everything that changes an answer: two settings that can answer differently never share
one. (Each backend's identity is what, besides prompt and sampling, goes into the key.)"""

from __future__ import annotations

from taskexpert.teachers.backends.local_transformers import TransformersBackend
from taskexpert.teachers.backends.openai_compatible import OpenAICompatibleBackend
from taskexpert.teachers.backends.vllm_offline import VLLMBackend
from taskexpert.teachers.cache import request_key


def key(backend) -> str:
    return request_key(backend.identity())


def test_two_servers_serving_one_model_name_do_not_share_answers():
    local = OpenAICompatibleBackend(model="llama", base_url="http://127.0.0.1:8000/v1", api_key_env=None)
    other = OpenAICompatibleBackend(model="llama", base_url="http://127.0.0.1:9000/v1", api_key_env=None)
    assert key(local) != key(other)
    same = OpenAICompatibleBackend(model="llama", base_url="http://127.0.0.1:8000/v1/", api_key_env=None)
    assert key(local) == key(same)  # a trailing slash is the same server


def test_the_chat_template_choice_is_part_of_a_local_teachers_key():
    # the prompt text differs (template or plain joined messages), so the answers do
    keys = {key(TransformersBackend(model="m", use_chat_template=choice)) for choice in ("auto", True, False)}
    assert len(keys) == 3


def test_vllm_dtype_context_length_and_revision_are_part_of_the_key():
    base = VLLMBackend(model="org/model")
    variants = [
        VLLMBackend(model="org/model", dtype="float16"),
        VLLMBackend(model="org/model", max_model_len=4096),
        VLLMBackend(model="org/model", revision="v2"),
    ]
    assert len({key(base), *(key(variant) for variant in variants)}) == 4
