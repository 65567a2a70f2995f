"""What a teacher backend does: turn prepared calls into results, yielding each one as soon as it is ready.

Backends know nothing of the cache; `Teacher` puts every call through it. A backend decides which
sampling fields it sends (`call_params`) and how it sends a JSON schema (`schema_params`): those exact
fields are part of the cache key.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from taskexpert.teachers.sampling import Sampling
from taskexpert.teachers.token_budget import ByteMeter, TokenMeter

SCHEMA_REFUSED = "schema_refused"  # BackendResult.error of a call whose server refused its JSON schema
LENGTH = "length"  # finish reason of an answer cut at max_new_tokens (OpenAI's and vLLM's word for it)
STOP = "stop"  # finish reason of an answer that ended on its own (end of text, a stop criterion)


@dataclass(frozen=True)
class BackendCall:
    """One call as the backend will make it."""

    key: str  # cache key, to match results to calls
    messages: tuple[
        tuple[str, str], ...
    ]  # as sent: a trailing assistant message only if the backend prefills
    params: dict[str, Any]  # the backend's own sampling fields (see `call_params`)
    sampling: Sampling  # the settings the fields came from

    @property
    def prefill(self) -> str:
        return self.messages[-1][1] if self.messages[-1][0] == "assistant" else ""

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass
class BackendResult:
    """The continuation text of one call (without the prefill), or why it failed."""

    key: str
    text: str | None
    error: str | None = None  # short reason when text is None: http_500, timeout, connection, ...
    detail: str = ""
    seconds: float = 0.0
    faults: list[str] = field(default_factory=list)  # transient faults that were retried
    finish_reason: str | None = None  # why generation ended: stop | length (cut at the token limit) | None
    prompt_tokens: int | None = None  # tokens the backend read for this call (None: not reported)
    completion_tokens: int | None = None  # tokens it wrote (None: not reported)

    @property
    def truncated(self) -> bool:
        return self.finish_reason == LENGTH


class Backend(ABC):
    """A way to run a teacher model. Subclasses set `kind` and implement `call_params` and `run`."""

    kind: str = "backend"

    def __init__(self, model: str, prefill: bool = True, cache_tag: str = "") -> None:
        self.model = model  # the model name written into records' `teacher` field
        self.prefill = prefill  # continue a trailing assistant message, or drop it
        self.cache_tag = cache_tag  # change it to get fresh samples for the same prompts

    def identity(self) -> dict[str, Any]:
        """What, besides prompt and sampling, makes two calls the same call."""
        return {"backend": self.kind, "model": self.model, "cache_tag": self.cache_tag}

    @abstractmethod
    def call_params(self, sampling: Sampling, sample_index: int) -> dict[str, Any]:
        """The sampling fields this backend sends for one sample; they enter the cache key."""

    def token_meter(self) -> TokenMeter:
        """What counts the tokens of an answer's text here: UTF-8 bytes (a bound on byte-level tokenizers)
        unless the backend has the teacher's tokenizer."""
        return ByteMeter()

    def schema_support(self) -> bool | None:
        """Can this backend constrain decoding to a JSON schema? None = not known until a server answers."""
        return False

    def copy_params(self, sources: tuple[str, ...]) -> dict[str, Any]:
        """Call fields that keep the answer from copying runs of `sources` verbatim; {} = not supported."""
        return {}

    def structured_details(self) -> dict[str, Any]:
        """What, besides the schema, shapes constrained answers here (for the stats)."""
        return {}

    def schema_params(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The call fields that constrain decoding to `schema` (merged into `call_params`' fields)."""
        raise NotImplementedError(f"the {self.kind} backend cannot constrain decoding to a schema")

    @abstractmethod
    def run(self, calls: Sequence[BackendCall]) -> Iterator[BackendResult]:
        """Make the calls and yield a result for each, in any order, as soon as it is ready. A call whose
        server refuses its schema comes back with `error=SCHEMA_REFUSED` (the Teacher asks again without)."""

    def close(self) -> None:  # noqa: B027 - optional hook: most backends have nothing to release
        """Release models, clients or threads."""
