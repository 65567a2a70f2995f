"""What goes into a teacher and what comes out: chat messages in, text (or a reported failure) out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class TeacherRequest:
    """One call: chat messages, which sample of this prompt it is, and per-request sampling changes.

    A trailing `assistant` message is a prefill: the answer is asked to continue it (backends that cannot
    continue a message drop it, see `prefill` in conf/teacher). `sample_index` tells apart the samples of
    one prompt (n_per_seed > 1): it is part of the cache key and of the seed. `schema` is the JSON schema
    the answer should follow: backends that can constrain decoding to it do (and then drop the prefill,
    which the schema makes unnecessary), see `teacher.structured`. `avoid_copying` names texts the answer
    should not repeat verbatim; local teachers ban runs of `teacher.copy_ngram` tokens of them.
    """

    messages: tuple[tuple[str, str], ...]
    sample_index: int = 0
    sampling: tuple[
        tuple[str, Any], ...
    ] = ()  # overrides of the teacher's sampling, e.g. (("temperature", 0.0),)
    schema: dict[str, Any] | None = field(default=None, hash=False)  # JSON schema of the answer, or None
    avoid_copying: tuple[str, ...] = ()  # texts the answer must not copy long runs of (a rewrite's source)

    @classmethod
    def chat(
        cls,
        messages: Sequence[Mapping[str, str]] | Sequence[tuple[str, str]],
        sample_index: int = 0,
        schema: dict[str, Any] | None = None,
        **sampling: Any,
    ) -> TeacherRequest:
        """Build a request from `[{"role": ..., "content": ...}]` (or (role, content) pairs)."""
        pairs = tuple((m["role"], m["content"]) if isinstance(m, Mapping) else (m[0], m[1]) for m in messages)
        for role, content in pairs:
            if role not in ROLES:
                raise ValueError(f"unknown chat role {role!r}: use one of {', '.join(ROLES)}")
            if not isinstance(content, str):
                raise ValueError(f"the content of a {role} message must be a string")
        if not pairs or pairs[-1][0] == "system":
            raise ValueError("a teacher request needs a user message (optionally followed by a prefill)")
        return cls(pairs, sample_index, tuple(sorted(sampling.items())), schema)

    @property
    def prefill(self) -> str:
        """The start of the answer given in a trailing assistant message ("" when there is none)."""
        return self.messages[-1][1] if self.messages[-1][0] == "assistant" else ""

    def messages_without_prefill(self) -> list[dict[str, str]]:
        kept = self.messages[:-1] if self.messages[-1][0] == "assistant" else self.messages
        return [{"role": role, "content": content} for role, content in kept]

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass
class TeacherResponse:
    """The answer to one request. `text` includes the prefill when the backend continued it.

    A failed request has `text=None`, `error` = a short reason (`http_500`, `timeout`, ...) and `detail`.
    `constrained` says the answer was generated under the request's JSON schema; `finish_reason` is the
    backend's (`length`: cut at max_new_tokens, kept in the cache with the answer).
    """

    text: str | None
    cached: bool = False
    error: str | None = None
    detail: str = ""
    seconds: float = 0.0
    key: str = ""
    faults: list[str] = field(default_factory=list)  # transient faults met (and retried) on the way
    constrained: bool = False  # decoded under the request's JSON schema
    finish_reason: str | None = None  # stop | length (cut at max_new_tokens) | None (not reported)
    prompt_tokens: int | None = None  # tokens read for this answer (None: not reported)
    completion_tokens: int | None = None  # tokens written

    @property
    def ok(self) -> bool:
        return self.text is not None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"
