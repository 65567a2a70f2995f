"""vLLM's offline engine (`vllm.LLM`), for GPU machines. vLLM is an optional extra, imported only when used.

vLLM batches on its own; results are handed back in chunks of `chunk_size` calls so that each chunk is
cached before the next one starts. The repetition penalty (vLLM's: over prompt and output tokens) and a
per-request seed go to `SamplingParams`. A JSON schema goes to vLLM's structured outputs:
`SamplingParams(structured_outputs=StructuredOutputsParams(json=schema, disable_any_whitespace=True))`
(vLLM >= 0.10.2; the older `guided_decoding=GuidedDecodingParams(json=...)`, removed in 0.12, is used when
that is what the installed vLLM has). vLLM picks its grammar backend (xgrammar or guidance) itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from taskexpert.errors import ConfigError
from taskexpert.teachers.backends.base import Backend, BackendCall, BackendResult
from taskexpert.teachers.sampling import Sampling, vllm_sampling_kwargs
from taskexpert.teachers.token_budget import ByteMeter, TokenizerMeter, TokenMeter

log = logging.getLogger(__name__)
INSTALL_HINT = (
    "teacher=vllm needs the optional vllm package and a GPU: `pip install vllm`. Without a GPU use "
    "teacher=hf (local transformers), or serve the model with `vllm serve` elsewhere and use teacher=openai"
)


def import_vllm():
    """The vllm module, or a ConfigError that says how to get it."""
    try:
        import vllm
    except ImportError as error:
        raise ConfigError(f"{INSTALL_HINT} ({error})") from None
    return vllm


class VLLMBackend(Backend):
    kind = "vllm"

    def __init__(
        self,
        model: str,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        trust_remote_code: bool = False,
        chunk_size: int = 256,
        prefill: bool = True,
        cache_tag: str = "",
        revision: str | None = None,
    ) -> None:
        super().__init__(model=model, prefill=prefill, cache_tag=cache_tag)
        if chunk_size < 1:
            raise ConfigError(f"teacher.chunk_size={chunk_size} must be >= 1")
        self.engine_args = {
            "model": model,
            "tensor_parallel_size": tensor_parallel_size,
            "dtype": dtype,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "trust_remote_code": trust_remote_code,
            "revision": revision,
        }
        self.chunk_size = chunk_size
        self._engine = None

    def identity(self) -> dict[str, Any]:
        """Weights (revision), numerics (dtype) and the context cap (max_model_len) change answers."""
        engine = self.engine_args
        return {
            **super().identity(),
            "revision": engine["revision"],
            "dtype": engine["dtype"],
            "max_model_len": engine["max_model_len"],
        }

    def call_params(self, sampling: Sampling, sample_index: int) -> dict[str, Any]:
        return vllm_sampling_kwargs(sampling, sample_index)

    def schema_support(self) -> bool:
        return True

    def token_meter(self) -> TokenMeter:
        """The model's tokenizer (transformers, which vLLM depends on), without starting the engine; UTF-8
        bytes when it cannot be loaded."""
        try:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(
                self.engine_args["model"],
                revision=self.engine_args["revision"],
                trust_remote_code=self.engine_args["trust_remote_code"],
            )
        except (ImportError, OSError, ValueError) as error:
            log.warning(
                "teacher %s: no tokenizer to measure answers (%s); counting UTF-8 bytes", self.model, error
            )
            return ByteMeter()
        return TokenizerMeter(tokenizer)

    def schema_params(self, schema: dict[str, Any]) -> dict[str, Any]:
        # no free whitespace: a teacher could otherwise spend its budget between tokens of structure
        return {"structured_outputs": {"json": schema, "disable_any_whitespace": True}}

    def structured_details(self) -> dict[str, Any]:
        return {"grammar_library": "vllm structured outputs", "repetition_penalty_scope": "prompt_and_output"}

    def engine(self):
        if self._engine is None:
            vllm = import_vllm()
            self._engine = vllm.LLM(**{k: v for k, v in self.engine_args.items() if v is not None})
        return self._engine

    def run(self, calls: Sequence[BackendCall]) -> Iterator[BackendResult]:
        if not calls:
            return
        vllm = import_vllm()
        engine = self.engine()
        # vLLM continues a final assistant message only when asked, and then without a new generation prompt
        for continues in (False, True):
            group = [call for call in calls if (call.messages[-1][0] == "assistant") == continues]
            for start in range(0, len(group), self.chunk_size):
                chunk = group[start : start + self.chunk_size]
                started = time.perf_counter()
                outputs = engine.chat(
                    [call.message_dicts() for call in chunk],
                    sampling_params=[sampling_params(vllm, call.params) for call in chunk],
                    add_generation_prompt=not continues,
                    continue_final_message=continues,
                    use_tqdm=False,
                )
                seconds = (time.perf_counter() - started) / len(chunk)
                for call, output in zip(chunk, outputs, strict=True):
                    yield completion_result(call.key, output, seconds)

    def close(self) -> None:
        """Shut the engine down (its engine-core process exits and its GPU memory with it), then drop it."""
        engine, self._engine = self._engine, None
        if engine is None:
            return
        shutdown = getattr(engine, "shutdown", None)  # LLM.shutdown in newer vLLM
        if shutdown is None:  # older vLLM: the V1 engine core has the shutdown
            shutdown = getattr(
                getattr(getattr(engine, "llm_engine", None), "engine_core", None), "shutdown", None
            )
        if callable(shutdown):
            shutdown()
        del engine
        try:  # an in-process executor's model-parallel groups (the process group itself is left alone)
            from vllm.distributed.parallel_state import destroy_model_parallel
        except ImportError:
            return
        destroy_model_parallel()


def completion_result(key: str, output: Any, seconds: float) -> BackendResult:
    """One `vllm.RequestOutput` as a result: its first completion's text and finish reason (`length` when
    cut at max_tokens, `stop` at the end of text or a stop string; None while unfinished)."""
    completion = output.outputs[0]
    reason = getattr(completion, "finish_reason", None)
    prompt_ids = getattr(output, "prompt_token_ids", None)
    completion_ids = getattr(completion, "token_ids", None)
    return BackendResult(
        key,
        completion.text,
        seconds=seconds,
        finish_reason=str(reason) if reason else None,
        prompt_tokens=len(prompt_ids) if prompt_ids is not None else None,
        completion_tokens=len(completion_ids) if completion_ids is not None else None,
    )


def sampling_params(vllm: Any, params: dict[str, Any]) -> Any:
    """`vllm.SamplingParams` of one call; its JSON schema as vLLM's structured-outputs parameters."""
    params = dict(params)
    structured = params.pop("structured_outputs", None)
    if structured is None:
        return vllm.SamplingParams(**params)
    from vllm import sampling_params as vllm_sampling

    if hasattr(vllm_sampling, "StructuredOutputsParams"):  # vLLM >= 0.10.2
        return vllm.SamplingParams(
            **params, structured_outputs=vllm_sampling.StructuredOutputsParams(**structured)
        )
    # older vLLM: guided decoding; the same schema, whitespace limited by a pattern instead
    guided = vllm_sampling.GuidedDecodingParams(json=structured["json"], whitespace_pattern=r"[ ]?")
    return vllm.SamplingParams(**params, guided_decoding=guided)
