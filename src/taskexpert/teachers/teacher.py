"""The Teacher: a backend behind the cache. The only way augmentation code reaches a teacher model.

Structured output (`structured`): a request may carry the JSON schema of its answer. With `auto` the
Teacher asks the backend to constrain decoding to it wherever the backend can (local grammar, vLLM's
structured outputs, `response_format` on servers); a server that refuses the schema is detected once, and
the refused requests and every later one are asked again the old way, prompt and parse (with the prompt's
prefill where the backend continues one). The fallback is counted and described in `stats`, never silent.
`schema` makes a refusal an error; `off` never sends a schema. A constrained call's key includes the schema,
so a schema change never reuses an unconstrained answer.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from taskexpert.errors import ConfigError
from taskexpert.teachers.backends.base import SCHEMA_REFUSED, Backend, BackendCall
from taskexpert.teachers.cache import ResponseCache, request_key
from taskexpert.teachers.ledger import BUDGET_ERROR, BUDGET_GROUP, Budget, Price
from taskexpert.teachers.sampling import Sampling
from taskexpert.teachers.token_budget import TokenMeter
from taskexpert.teachers.types import TeacherRequest, TeacherResponse

log = logging.getLogger(__name__)
MAX_LISTED_FAILURES = 200  # failures listed one by one in the stats; all are counted
STRUCTURED_MODES = ("auto", "schema", "off")


@dataclass
class TeacherStats:
    """What the teacher did, summed over every `generate` call."""

    requests: int = 0  # responses asked for
    cache_hits: int = 0  # answered from the cache, no call made
    calls: int = 0  # distinct calls sent to the backend
    generated: int = 0  # calls that returned text (now cached)
    failed: int = 0  # calls that kept failing after their retries (not cached; a re-run retries them)
    seconds: float = 0.0  # time spent in backend calls, wall clock
    faults: Counter = field(default_factory=Counter)  # transient faults met and retried, by kind
    failure_reasons: Counter = field(default_factory=Counter)  # final failures, by reason
    failures: list[dict[str, str]] = field(default_factory=list)  # the first MAX_LISTED_FAILURES
    constrained: int = 0  # answers (new or cached) decoded under their request's schema
    schema_refusals: int = 0  # calls sent with a schema that the server refused (later ones are held back)
    fallback: int = 0  # requests with a schema asked again (or from the start) without it, after a refusal
    truncated: int = 0  # answers (new or cached) cut at max_new_tokens (finish_reason length)
    structured: dict[str, Any] = field(default_factory=dict)  # how answers are constrained (Teacher fills it)
    prompt_tokens: int = 0  # tokens read by the paid calls (those the backend reported)
    completion_tokens: int = 0  # tokens written by the paid calls
    unreported_tokens: int = 0  # paid calls whose backend reported no token counts
    cached_prompt_tokens: int = 0  # tokens the cache hits had cost when they were paid (known ones)
    cached_completion_tokens: int = 0
    price: Price | None = None  # the model's price; None = unpriced
    budget_stop: str | None = None  # the cap that stopped the run, when one did
    budget_skipped: int = 0  # requests left unasked because the budget was spent

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost(self) -> float | None:
        """USD of the paid calls; None when the model is unpriced."""
        return None if self.price is None else self.price.cost(self.prompt_tokens, self.completion_tokens)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "calls": self.calls,
            "generated": self.generated,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "faults": dict(sorted(self.faults.items())),
            "failure_reasons": dict(sorted(self.failure_reasons.items())),
            "constrained": self.constrained,
            "schema_refusals": self.schema_refusals,
            "schema_fallback": self.fallback,
            "truncated": self.truncated,
            "structured": dict(self.structured),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "unreported_tokens": self.unreported_tokens,
            "cached_prompt_tokens": self.cached_prompt_tokens,
            "cached_completion_tokens": self.cached_completion_tokens,
            "cost_usd": None if self.cost is None else round(self.cost, 6),
            "budget_stop": self.budget_stop,
            "budget_skipped": self.budget_skipped,
        }


@dataclass(frozen=True)
class _Prepared:
    call: BackendCall
    identity: dict[str, Any]
    prefill: str  # what to put back in front of the continuation
    constrained: bool  # the call carries the request's schema


class Teacher:
    """`generate(requests) -> responses`, in request order; answers come from the cache when they can."""

    def __init__(
        self,
        backend: Backend,
        cache: ResponseCache,
        sampling: Sampling,
        structured: str = "auto",
        length_bounds: bool = True,
        price: Price | None = None,
        budget: Budget | None = None,
    ) -> None:
        if structured not in STRUCTURED_MODES:
            raise ConfigError(
                f"teacher.structured={structured!r} is unknown: use one of {', '.join(STRUCTURED_MODES)}"
            )
        self.backend = backend
        self.cache = cache
        self.sampling = sampling
        self.structured = structured
        self.length_bounds = length_bounds  # send the task's [min, max] characters in answer schemas
        self._meter: TokenMeter | None = None
        self.stats = TeacherStats(price=price)
        self.budget = budget or Budget()
        self._refusal: str | None = None  # the server refused schemas: ask without them from now on
        self._describe_structured()

    def _describe_structured(self) -> None:
        """How answers are constrained, kept current in the stats: mode, support, library, any fallback."""
        support = self.backend.schema_support()
        self.stats.structured = {
            "mode": self.structured,
            "backend_support": "unknown" if support is None else support,
            **self.backend.structured_details(),
            "fallback_reason": self._refusal,
        }

    def _constrains(self, request: TeacherRequest) -> bool:
        if request.schema is None or self.structured == "off":
            return False
        if self._refusal is None and self.backend.schema_support() is not False:
            return True
        if self.structured == "schema":
            why = self._refusal or f"the {self.backend.kind} backend cannot constrain decoding"
            raise ConfigError(
                f"teacher.structured=schema, but {why}: use teacher.structured=auto to fall back to "
                "prompt-and-parse (counted in the stats), or a backend that supports JSON schemas"
            )
        return False

    def token_meter(self) -> TokenMeter:
        """What counts this teacher's tokens (its tokenizer, or UTF-8 bytes), asked of the backend once."""
        if self._meter is None:
            self._meter = self.backend.token_meter()
        return self._meter

    @property
    def name(self) -> str:
        """The model name, as written into generated records."""
        return self.backend.model

    def _prepare(self, request: TeacherRequest) -> _Prepared:
        sampling = self.sampling.with_overrides(request.sampling)
        constrained = self._constrains(request)
        if request.schema is not None and self._refusal is not None:
            self.stats.fallback += 1  # asked without its schema because the server refused schemas
        ends_with_prefill = request.messages[-1][0] == "assistant"
        # a backend that cannot continue a message gets the request without it, and answers from scratch;
        # under a schema the answer starts at its opening brace, so the prefill is not needed either
        keep_prefill = self.backend.prefill and ends_with_prefill and not constrained
        messages = request.messages[:-1] if ends_with_prefill and not keep_prefill else request.messages
        params = self.backend.call_params(sampling, request.sample_index)
        if constrained:
            params = {**params, **self.backend.schema_params(request.schema)}
        if request.avoid_copying:
            params = {**params, **self.backend.copy_params(request.avoid_copying)}
        identity = {
            **self.backend.identity(),
            "params": params,
            "messages": [list(message) for message in messages],
            "sample_index": request.sample_index,
        }
        key = request_key(identity)
        call = BackendCall(key=key, messages=tuple(messages), params=params, sampling=sampling)
        return _Prepared(call, identity, request.prefill if keep_prefill else "", constrained)

    def planned_calls(self, requests: Sequence[TeacherRequest]) -> list[BackendCall]:
        """The call `generate` would make for each request (its cache key, the messages as sent, its sampling),
        made and counted nowhere: what a dry run prices."""
        return [self._prepare(request).call for request in requests]

    def generate(
        self,
        requests: Sequence[TeacherRequest],
        on_response: Callable[[TeacherResponse], None] | None = None,
    ) -> list[TeacherResponse]:
        """Answer every request. Each new answer is committed to the cache as it arrives; a request that
        keeps failing comes back with `text=None` and its reason (counted and listed in `stats`)."""
        self.stats.requests += len(requests)
        try:
            return self._answer(list(requests), on_response)
        finally:
            self._describe_structured()

    def _answer(self, requests: list[TeacherRequest], on_response) -> list[TeacherResponse]:
        prepared = [self._prepare(request) for request in requests]
        cached = self.cache.get_many(p.call.key for p in prepared)
        responses: list[TeacherResponse | None] = [None] * len(prepared)
        waiting: dict[str, list[int]] = {}
        for index, item in enumerate(prepared):
            hit = cached.get(item.call.key)
            if hit is not None:
                responses[index] = TeacherResponse(
                    item.prefill + hit.text,
                    cached=True,
                    seconds=hit.seconds,
                    key=item.call.key,
                    constrained=item.constrained,
                    finish_reason=hit.finish_reason,
                    prompt_tokens=hit.prompt_tokens,
                    completion_tokens=hit.completion_tokens,
                )
                self.stats.cache_hits += 1
                self.stats.cached_prompt_tokens += hit.prompt_tokens or 0
                self.stats.cached_completion_tokens += hit.completion_tokens or 0
                self.stats.truncated += responses[index].truncated
                self.stats.constrained += item.constrained
                if on_response:
                    on_response(responses[index])
            else:  # identical calls within one batch are made once
                waiting.setdefault(item.call.key, []).append(index)
        pending = [prepared[indices[0]].call for indices in waiting.values()]
        refused: list[int] = []
        while pending:  # in groups the budget allows; what it does not is left unasked
            room, cap = self.budget.room(
                len(pending), self.stats.calls, self.stats.tokens, self.stats.cost, self._calls_at_once()
            )
            if room == 0:
                self._stop_for_budget(cap or "budget", pending, waiting, responses, on_response)
                break
            refused += self._run(pending[:room], prepared, waiting, responses, on_response)
            pending = pending[room:]
        if refused:  # the server refused the schema: ask these again, the old way (or stop, in schema mode)
            again = self._answer([requests[index] for index in refused], on_response)
            for index, response in zip(refused, again, strict=True):
                responses[index] = response
        return responses  # type: ignore[return-value]  # every slot is filled by now

    def _calls_at_once(self) -> int:
        """How many calls the backend runs together: a budget check between smaller groups would idle it."""
        for name in ("max_concurrency", "batch_size", "chunk_size"):  # HTTP, transformers, vLLM
            value = getattr(self.backend, name, None)
            if isinstance(value, int) and value > 0:
                return value
        return BUDGET_GROUP

    def _stop_for_budget(self, cap: str, pending, waiting, responses, on_response) -> None:
        if self.stats.budget_stop is None:
            self.stats.budget_stop = cap
            log.warning(
                "teacher budget reached (teacher.budget.%s): no more calls; the answers so far are kept, and "
                "the same command with a larger budget continues from the cache",
                cap,
            )
        for call in pending:
            response = TeacherResponse(
                None, error=BUDGET_ERROR, detail=f"not asked: teacher.budget.{cap} reached", key=call.key
            )
            for index in waiting.pop(call.key):
                self.stats.budget_skipped += 1
                responses[index] = response
                if on_response:
                    on_response(response)

    def _note_refusal(self, detail: str) -> None:
        if self._refusal is None:
            self._refusal = f"the {self.backend.kind} server refused the JSON schema ({detail[:300]})"
            log.warning("%s: answers are prompted and parsed instead (counted in the stats)", self._refusal)

    def _run(self, calls, prepared, waiting, responses, on_response) -> list[int]:
        """Make the calls; the indices of requests whose call was refused for its schema are returned."""
        started = time.perf_counter()
        self.stats.calls += len(calls)
        refused: list[int] = []
        try:
            for result in self.backend.run(calls):
                indices = waiting.pop(result.key)
                item = prepared[indices[0]]
                self.stats.faults.update(result.faults)
                self._count_tokens(result)
                if result.error == SCHEMA_REFUSED:  # sent and refused, or held back after a refusal
                    self.stats.schema_refusals += SCHEMA_REFUSED in result.faults
                    self._note_refusal(result.detail)
                    refused += indices
                    continue
                if result.text is not None:
                    stored = self.cache.put(
                        result.key,
                        self.backend.model,
                        item.identity,
                        result.text,
                        result.seconds,
                        result.finish_reason,
                        result.prompt_tokens,
                        result.completion_tokens,
                    )
                    self.stats.generated += 1
                    self.stats.truncated += result.truncated * len(indices)
                    self.stats.constrained += item.constrained * len(indices)
                    response = TeacherResponse(
                        item.prefill + stored,
                        seconds=result.seconds,
                        key=result.key,
                        faults=result.faults,
                        constrained=item.constrained,
                        finish_reason=result.finish_reason,
                        prompt_tokens=result.prompt_tokens,
                        completion_tokens=result.completion_tokens,
                    )
                else:
                    self._record_failure(result.key, result.error or "failed", result.detail)
                    response = TeacherResponse(
                        None, error=result.error, detail=result.detail, key=result.key, faults=result.faults
                    )
                for index in indices:
                    responses[index] = response
                    if on_response:
                        on_response(response)
        finally:
            self.stats.seconds += time.perf_counter() - started
        for key in [
            call.key for call in calls if call.key in waiting
        ]:  # a skipped call is a bug; never hide it
            self._record_failure(key, "no_result", "the backend returned no result for this call")
            for index in waiting.pop(key):
                responses[index] = TeacherResponse(None, error="no_result", key=key)
        return refused

    def _count_tokens(self, result) -> None:
        """A paid call's tokens (a failed one's too, when its server reported them)."""
        if result.prompt_tokens is None and result.completion_tokens is None:
            self.stats.unreported_tokens += result.text is not None
            return
        self.stats.prompt_tokens += result.prompt_tokens or 0
        self.stats.completion_tokens += result.completion_tokens or 0

    def _record_failure(self, key: str, reason: str, detail: str) -> None:
        self.stats.failed += 1
        self.stats.failure_reasons[reason] += 1
        if len(self.stats.failures) < MAX_LISTED_FAILURES:
            self.stats.failures.append({"key": key, "reason": reason, "detail": detail[:500]})
        log.warning("teacher call %s failed: %s %s", key[:12], reason, detail[:200])

    def release(self) -> None:
        """Drop the backend's model and return its memory (the GPU's too) until a call the cache cannot answer
        loads it again: LLM2LLM trains its student on the same device between two rounds of teacher calls."""
        self.backend.close()
        free_device_memory()

    def close(self) -> None:
        self.release()


def free_device_memory() -> None:
    """Collect what a dropped model left behind and hand CUDA's cached blocks back to the device."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")  # a teacher that never imported torch has nothing on a GPU
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
