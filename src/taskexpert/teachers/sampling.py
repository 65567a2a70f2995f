"""Sampling parameters and how each backend receives them.

Dr. LLaMA samples with temperature 0.8 and repetition penalty 2.0. The repetition penalty is a
transformers/vLLM notion (CTRL's: logits of tokens already present are divided by the penalty); the OpenAI
chat API has no such field and `transformers serve` answers 422 to it. What happens to it on an
OpenAI-compatible server is therefore an explicit choice, `repetition_penalty_mode`:

- `map_to_frequency_penalty`: send `frequency_penalty = repetition_penalty - 1` (2.0 -> 1.0). This is the
  exact inverse of `transformers serve`, which turns `frequency_penalty` f into `repetition_penalty = 1 + f`.
  On the OpenAI API (and llama.cpp, vLLM) it is the nearest documented knob, not the same penalty: it
  subtracts f x (count of the token so far) from its logit. Values outside OpenAI's [-2, 2] are refused.
- `extra_body`: send `repetition_penalty` as an extra body field (vLLM's server, llama.cpp accept it).
- `error`: refuse to run with a repetition penalty other than 1.0.
Offline vLLM takes the penalty natively (over prompt and output tokens). Local transformers teachers apply
it with `repetition_penalty_scope`: `content` (ours, teachers/penalty.py: only tokens the teacher wrote
inside JSON string values) or `all` (transformers' own: the prompt and every generated token). Nothing is
ever dropped silently.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from taskexpert.errors import ConfigError

REPETITION_PENALTY_MODES = ("map_to_frequency_penalty", "extra_body", "error")
MAX_TOKENS_FIELDS = ("max_tokens", "max_completion_tokens")
OPENAI_PENALTY_RANGE = (-2.0, 2.0)


@dataclass(frozen=True)
class Sampling:
    """Backend-independent sampling settings (conf: `sampling`)."""

    temperature: float = 0.8
    top_p: float = 1.0
    max_new_tokens: int = 256
    repetition_penalty: float = 2.0
    seed: int | None = 0

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ConfigError(f"sampling.temperature={self.temperature} must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"sampling.top_p={self.top_p} must be in (0, 1]")
        if self.max_new_tokens < 1:
            raise ConfigError(f"sampling.max_new_tokens={self.max_new_tokens} must be >= 1")
        if self.repetition_penalty <= 0:
            raise ConfigError(f"sampling.repetition_penalty={self.repetition_penalty} must be > 0")

    @classmethod
    def from_config(cls, node: Any) -> Sampling:
        values = dict(node or {})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"sampling.{sorted(unknown)[0]} is not a sampling setting")
        return cls(**values)

    def with_overrides(self, overrides: tuple[tuple[str, Any], ...]) -> Sampling:
        """This sampling with a request's overrides (e.g. a judge that decodes greedily)."""
        return dataclasses.replace(self, **dict(overrides)) if overrides else self

    def sample_seed(self, sample_index: int) -> int | None:
        """Each sample of a prompt gets its own seed, so n_per_seed > 1 gives distinct samples."""
        return None if self.seed is None else self.seed + sample_index


def transformers_generate_kwargs(sampling: Sampling, penalty_scope: str = "all") -> dict[str, Any]:
    """`model.generate` arguments: the temperature, top-p and repetition-penalty logits processors.

    With `penalty_scope="content"` the penalty is ours (`content_repetition_penalty`, a processor the
    backend adds), not transformers' `repetition_penalty`, which also counts the prompt."""
    kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens}
    if sampling.temperature > 0:
        kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
    else:
        kwargs["do_sample"] = False  # temperature 0 = greedy decoding
    if sampling.repetition_penalty != 1.0:
        name = "content_repetition_penalty" if penalty_scope == "content" else "repetition_penalty"
        kwargs[name] = sampling.repetition_penalty
    return kwargs


def vllm_sampling_kwargs(sampling: Sampling, sample_index: int) -> dict[str, Any]:
    """Arguments of `vllm.SamplingParams`: vLLM knows the repetition penalty natively."""
    return {
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_new_tokens,
        "repetition_penalty": sampling.repetition_penalty,
        "seed": sampling.sample_seed(sample_index),
    }


def openai_sampling_fields(
    sampling: Sampling,
    sample_index: int,
    repetition_penalty_mode: str = "map_to_frequency_penalty",
    max_tokens_field: str = "max_tokens",
    send_seed: bool = True,
) -> dict[str, Any]:
    """The request body fields of an OpenAI-compatible chat completion; `extra_body` holds non-OpenAI ones."""
    if repetition_penalty_mode not in REPETITION_PENALTY_MODES:
        raise ConfigError(
            f"teacher.repetition_penalty_mode={repetition_penalty_mode!r} is unknown: "
            f"use one of {', '.join(REPETITION_PENALTY_MODES)}"
        )
    if max_tokens_field not in MAX_TOKENS_FIELDS:
        raise ConfigError(
            f"teacher.max_tokens_field={max_tokens_field!r} is unknown: use one of {', '.join(MAX_TOKENS_FIELDS)}"
        )
    fields: dict[str, Any] = {
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        max_tokens_field: sampling.max_new_tokens,
    }
    seed = sampling.sample_seed(sample_index)
    if send_seed and seed is not None:
        fields["seed"] = seed
    penalty = sampling.repetition_penalty
    if penalty == 1.0:  # neutral: nothing to send in any mode
        return fields
    if repetition_penalty_mode == "error":
        raise ConfigError(
            f"sampling.repetition_penalty={penalty} cannot be sent to this server "
            "(teacher.repetition_penalty_mode=error): set sampling.repetition_penalty=1.0, or choose "
            "map_to_frequency_penalty or extra_body"
        )
    if repetition_penalty_mode == "extra_body":
        fields["extra_body"] = {"repetition_penalty": penalty}
        return fields
    frequency_penalty = round(penalty - 1.0, 6)
    low, high = OPENAI_PENALTY_RANGE
    if not low <= frequency_penalty <= high:
        raise ConfigError(
            f"sampling.repetition_penalty={penalty} maps to frequency_penalty={frequency_penalty}, outside "
            f"the API's range [{low}, {high}]: choose a penalty in [{1 + low}, {1 + high}] or extra_body"
        )
    fields["frequency_penalty"] = frequency_penalty
    return fields
