"""Schema-constrained teacher answers: the schema of a job, the cache key, the grammar mask on a real local
model, response_format on our server (accepted, refused and fallen back from, ignored), and the demo's
augmentation on the tiny model, which can only answer in JSON when it is constrained."""

from __future__ import annotations

import json

import pytest
from servers.augment_setup import compose_augment_config, data_overrides, quiet_overrides, write_seed_file
from servers.fault_server import FaultServer

from taskexpert.augment.answer_schema import answer_schema, schema_violation
from taskexpert.augment.pipeline import augment
from taskexpert.errors import ConfigError
from taskexpert.teachers import TeacherRequest, build_teacher
from taskexpert.teachers.backends.base import Backend, BackendResult
from taskexpert.teachers.cache import ResponseCache
from taskexpert.teachers.sampling import Sampling
from taskexpert.teachers.teacher import Teacher

TINY_TEACHER = [
    "teacher.source=tiny",
    "teacher.tiny_architecture=llama",
    "teacher.model=tiny-llama",
    "teacher.batch_size=4",
]
REWRITE_SCHEMA = answer_schema(["question"], lengths={"question": (5, 30)})
LABELS = ("yes", "no", "maybe")  # the default task's, passed as the task layer passes them


def test_the_schema_follows_the_fields_the_labels_and_the_bounds():
    trec = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")  # any label set a task layer passes
    schema = answer_schema(
        ["question", "rationale", "label"],
        labels=trec,
        lengths={"question": (15, 200), "rationale": (40, 600)},
    )
    assert list(schema["properties"]) == schema["required"] == ["question", "rationale", "label"]
    assert schema["properties"]["label"] == {"type": "string", "enum": list(trec)}
    assert schema["properties"]["question"] == {"type": "string", "minLength": 15, "maxLength": 200}
    assert schema["additionalProperties"] is False
    # a field without bounds is any string (OpenAI's strict mode refuses length keywords)
    assert answer_schema(["context"])["properties"]["context"] == {"type": "string"}
    assert answer_schema(["label"])["properties"]["label"] == {"type": "string"}  # a task without labels


def test_jobs_name_the_texts_their_answers_must_not_copy(tmp_path):
    from servers.augment_setup import seed_records

    from taskexpert.augment.jobs import new_jobs, rewrite_jobs
    from taskexpert.augment.prompts import PromptTemplate

    seeds = seed_records(6)
    conf = __import__("conftest").CONF_DIR
    from taskexpert.tasks import load_task

    task = load_task("pubmedqa")
    rewrite = rewrite_jobs(
        task, seeds[:2], PromptTemplate.load(conf / "prompts" / "rewrite.txt"), ["question", "context"]
    )
    assert rewrite[0].copy_sources == (seeds[0].inputs["question"], seeds[0].inputs["context"])
    new = new_jobs(
        task,
        seeds[:1],
        seeds,
        PromptTemplate.load(conf / "prompts" / "new" / "classification.txt"),
        examples_per_prompt=3,
    )
    shown = [record.inputs["question"] for record in seeds if record.id in new[0].meta["example_ids"]]
    assert sorted(new[0].copy_sources) == sorted(shown) and len(shown) == 3


def test_schema_violations_are_named():
    schema = answer_schema(["question", "label"], LABELS, lengths={"question": (5, 30)})
    assert schema_violation('{"question": "Is it safe?", "label": "yes"}', schema) is None
    assert schema_violation('{"question": "Is it safe?", "label": "yes"', schema) == "not_json"
    assert schema_violation('{"question": "Is it safe?"}', schema) == "missing_field:label"
    assert schema_violation('{"question": "Is it?", "label": "perhaps"}', schema) == "not_in_enum:label"
    assert schema_violation('{"question": "Why?", "label": "no"}', schema) == "length:question"
    assert schema_violation('{"question": "Is it safe?", "label": "no", "x": "y"}', schema) == "extra_key:x"


class RecordingBackend(Backend):
    """Echoes a fixed answer and keeps the calls it was given; it constrains nothing itself (the local,
    vLLM and server backends are tested below against a real model, a recorded engine and real servers)."""

    kind = "recording"

    def __init__(self, support: bool = True) -> None:
        super().__init__(model="echo-model", prefill=True)
        self.support = support
        self.calls = []

    def call_params(self, sampling, sample_index):
        return {"seed": sampling.sample_seed(sample_index)}

    def schema_support(self):
        return self.support

    def schema_params(self, schema):
        return {"schema": schema}

    def run(self, calls):
        for call in calls:
            self.calls.append(call)
            yield BackendResult(call.key, '{"question": "Is it safe?"}')


def ask(teacher, schema):
    messages = [{"role": "user", "content": "Reword it"}, {"role": "assistant", "content": '{"question": "'}]
    return teacher.generate([TeacherRequest.chat(messages, schema=schema)])[0]


def test_the_cache_key_holds_the_schema_and_a_constrained_call_drops_the_prefill(tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    backend = RecordingBackend()
    teacher = Teacher(backend, cache, Sampling())
    constrained = ask(teacher, REWRITE_SCHEMA)
    assert constrained.constrained and constrained.text == '{"question": "Is it safe?"}'
    assert backend.calls[0].messages[-1][0] == "user"  # the schema replaces the prefill
    assert backend.calls[0].params["schema"] == REWRITE_SCHEMA
    # another schema, or none, is another call: an answer is never reused across schemas
    other = answer_schema(["question"], lengths={"question": (5, 60)})
    assert not ask(teacher, other).cached
    off = Teacher(backend, cache, Sampling(), structured="off")
    unconstrained = ask(off, REWRITE_SCHEMA)
    assert not unconstrained.cached and not unconstrained.constrained
    assert backend.calls[-1].messages[-1][0] == "assistant" and "schema" not in backend.calls[-1].params
    assert len({call.key for call in backend.calls}) == 3
    assert ask(Teacher(RecordingBackend(), cache, Sampling()), REWRITE_SCHEMA).cached
    assert teacher.stats.as_dict()["constrained"] == 2


def test_schema_mode_refuses_a_backend_that_cannot_constrain(tmp_path):
    teacher = Teacher(RecordingBackend(support=False), ResponseCache(tmp_path / "c.sqlite"), Sampling())
    assert not ask(teacher, REWRITE_SCHEMA).constrained  # auto: prompt and parse
    strict = Teacher(
        RecordingBackend(support=False), ResponseCache(tmp_path / "c.sqlite"), Sampling(), structured="schema"
    )
    with pytest.raises(ConfigError, match="teacher.structured=schema"):
        ask(strict, REWRITE_SCHEMA)
    with pytest.raises(ConfigError, match="teacher.structured='always'"):
        Teacher(RecordingBackend(), ResponseCache(tmp_path / "c.sqlite"), Sampling(), structured="always")


def tiny_teacher(tmp_path, *extra):
    cfg = compose_augment_config([*TINY_TEACHER, *extra], tmp_path / "run")
    settings = {**dict(cfg.sampling), "max_new_tokens": 40}
    return build_teacher(cfg.teacher, settings, tmp_path / "cache.sqlite")


def test_the_grammar_keeps_a_random_model_inside_the_schema(tmp_path):
    schema = answer_schema(["question", "label"], LABELS, lengths={"question": (5, 20)})
    teacher = tiny_teacher(tmp_path)
    requests = [
        TeacherRequest.chat(
            [{"role": "user", "content": f"Question {i}, as JSON"}], sample_index=i, schema=schema
        )
        for i in range(4)
    ]
    answers = teacher.generate(requests)
    for answer in answers:  # a randomly initialised model: only the grammar makes this JSON
        assert answer.constrained and schema_violation(answer.text, schema) is None, answer.text
        assert answer.text.startswith('{"question": "')  # the layout of the prompts' examples
    assert teacher.stats.structured["grammar_library"] == "llguidance"


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("xgrammar") is None, reason="xgrammar is optional (not installed)"
)
def test_xgrammar_is_the_other_grammar_library(tmp_path):
    schema = answer_schema(["label"], LABELS)
    teacher = tiny_teacher(tmp_path, "teacher.grammar_library=xgrammar")
    answers = teacher.generate([TeacherRequest.chat([{"role": "user", "content": "Label?"}], schema=schema)])
    assert json.loads(answers[0].text)["label"] in ("yes", "no", "maybe")


def demo_rewrite_overrides(tmp_path, structured: str) -> list[str]:
    """The demo's augmentation (16 seeds of the sample, 48 new tokens), with the tiny random teacher."""
    return [
        "method=rewrite",
        "method.max_seeds=16",
        "method.rewrite.max_new_tokens=48",
        *TINY_TEACHER,
        f"teacher.structured={structured}",
        "task.field_lengths.question=[10,40]",  # the tiny tokens are short: 40 characters fit in 48 tokens
        *quiet_overrides(tmp_path / "cache.sqlite"),
    ]


def test_the_demo_augmentation_keeps_what_only_a_schema_makes_possible(tmp_path):
    constrained = augment(compose_augment_config(demo_rewrite_overrides(tmp_path, "auto"), tmp_path / "on"))
    assert constrained["requested"] == 16 and constrained["constrained"] == 16
    assert constrained["kept"] >= 14, constrained["rejected"]
    assert not any(reason.startswith(("invalid_json", "missing_field")) for reason in constrained["rejected"])
    unconstrained = augment(compose_augment_config(demo_rewrite_overrides(tmp_path, "off"), tmp_path / "off"))
    # unconstrained, the random model's text never closes its JSON
    assert unconstrained["constrained"] == 0 and unconstrained["kept"] == 0


def server_overrides(server: FaultServer, tmp_path, *extra: str) -> list[str]:
    seeds = write_seed_file(tmp_path, 12)
    return [
        "teacher=openai",
        f"teacher.base_url={server.base_url}",
        "teacher.model=fault-model",
        "teacher.api_key_env=null",
        "teacher.max_retries=1",
        "teacher.backoff_base=0.05",
        "teacher.max_concurrency=4",
        "method.max_seeds=6",
        *data_overrides(seeds),
        *quiet_overrides(tmp_path / "cache.sqlite"),
        *extra,
    ]


def test_a_server_that_takes_the_schema_gets_it_on_every_request(tmp_path):
    with FaultServer(response_format="accept") as server:
        stats = augment(compose_augment_config(server_overrides(server, tmp_path), tmp_path / "run"))
        bodies = [entry["body"] for entry in server.requests]
    assert len(bodies) == 6 and all(body["response_format"]["type"] == "json_schema" for body in bodies)
    sent = bodies[0]["response_format"]["json_schema"]
    assert sent["strict"] is True and sent["schema"] == answer_schema(["question"])
    assert all(body["messages"][-1]["role"] == "user" for body in bodies)
    assert stats["constrained"] == 6 and stats["kept"] == 6 and stats["schema_violations"] == {}
    assert stats["teacher_totals"]["structured"]["backend_support"] is True


def test_a_server_that_refuses_the_schema_is_detected_once_and_reported(tmp_path):
    with FaultServer(response_format="refuse") as server:
        stats = augment(compose_augment_config(server_overrides(server, tmp_path), tmp_path / "run"))
        with_schema = [entry for entry in server.requests if "response_format" in entry["body"]]
        without = [entry for entry in server.requests if "response_format" not in entry["body"]]
    assert len(with_schema) == 1 and len(without) == 6  # one refusal, then prompt and parse for all six
    assert stats["kept"] == 6 and stats["constrained"] == 0 and stats["failed"] == 0
    totals = stats["teacher_totals"]
    assert totals["schema_refusals"] == 1 and totals["schema_fallback"] == 6
    assert "response_format" in totals["structured"]["fallback_reason"]
    assert totals["structured"]["backend_support"] is False
    with FaultServer(response_format="refuse") as server:
        cfg = compose_augment_config(
            server_overrides(
                server, tmp_path, "teacher.structured=schema", "cache.path=" + str(tmp_path / "b")
            ),
            tmp_path / "strict",
        )
        with pytest.raises(ConfigError, match="refused the JSON schema"):
            augment(cfg)


def test_a_server_that_ignores_the_schema_shows_in_the_violations(tmp_path):
    # like `transformers serve`: the field is accepted, and the answers (whole records) break the schema
    with FaultServer(response_format="ignore") as server:
        stats = augment(compose_augment_config(server_overrides(server, tmp_path), tmp_path / "run"))
        assert all("response_format" in entry["body"] for entry in server.requests)
    assert stats["constrained"] == 6 and stats["schema_violations"] == {"extra_key:context": 6}
    assert stats["kept"] == 6  # the parser still takes the requested field


class RecordedVLLM:
    """A stand-in for the `vllm` module, recording what our backend builds. vLLM itself cannot run here
    (it needs a GPU and does not install on this CPU machine), so this checks the request construction
    against vLLM's documented API (`SamplingParams(structured_outputs=StructuredOutputsParams(json=...))`,
    `LLM.chat(..., add_generation_prompt=..., continue_final_message=...)`), not vLLM's decoding."""

    def __init__(self, structured_outputs_api: bool = True) -> None:
        import types

        self.chats = []
        recorder = self

        class SamplingParams:
            def __init__(self, **kwargs):
                self.kwargs = kwargs

        class StructuredOutputsParams:
            def __init__(self, **kwargs):
                self.kwargs = kwargs

        class GuidedDecodingParams(StructuredOutputsParams):
            pass

        class LLM:
            def __init__(self, **engine_args):
                recorder.engine_args = engine_args

            def chat(
                self, messages, sampling_params, add_generation_prompt, continue_final_message, use_tqdm
            ):
                recorder.chats.append(
                    (messages, sampling_params, add_generation_prompt, continue_final_message)
                )
                output = types.SimpleNamespace(text='{"label": "yes"}')
                return [types.SimpleNamespace(outputs=[output]) for _ in messages]

        self.module = types.SimpleNamespace(SamplingParams=SamplingParams, LLM=LLM)
        self.sampling_params = types.SimpleNamespace(GuidedDecodingParams=GuidedDecodingParams)
        if structured_outputs_api:
            self.sampling_params.StructuredOutputsParams = StructuredOutputsParams
        self.module.sampling_params = self.sampling_params


@pytest.mark.parametrize("structured_outputs_api", [True, False], ids=["vllm>=0.10.2", "older vllm"])
def test_vllm_gets_the_schema_as_structured_outputs(tmp_path, monkeypatch, structured_outputs_api):
    import sys

    from taskexpert.teachers.backends.vllm_offline import VLLMBackend

    recorded = RecordedVLLM(structured_outputs_api)
    monkeypatch.setitem(sys.modules, "vllm", recorded.module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", recorded.sampling_params)
    teacher = Teacher(
        VLLMBackend(model="org/model", revision="v2"), ResponseCache(tmp_path / "c.db"), Sampling()
    )
    schema = answer_schema(["label"], LABELS)
    prefilled = [{"role": "user", "content": "Label?"}, {"role": "assistant", "content": '{"label": "'}]
    answers = teacher.generate(
        [TeacherRequest.chat(prefilled, schema=schema), TeacherRequest.chat(prefilled)]  # with and without
    )
    assert [answer.text for answer in answers] == ['{"label": "yes"}', '{"label": "{"label": "yes"}']
    assert recorded.engine_args["revision"] == "v2"
    by_prefill = {continues: (messages, params) for messages, params, _, continues in recorded.chats}
    messages, params = by_prefill[False]  # constrained: no prefill, a fresh assistant turn
    assert messages[0][-1]["role"] == "user" and params[0].kwargs["repetition_penalty"] == 2.0
    if structured_outputs_api:
        constraint = params[0].kwargs["structured_outputs"]
        assert constraint.kwargs == {"json": schema, "disable_any_whitespace": True}
    else:
        assert params[0].kwargs["guided_decoding"].kwargs["json"] == schema
    messages, params = by_prefill[True]  # unconstrained: the prefill is continued, nothing constrains it
    assert messages[0][-1] == prefilled[-1] and not (
        {"structured_outputs", "guided_decoding"} & set(params[0].kwargs)
    )
