"""The Teacher: a backend behind the cache. The only way augmentation code reaches a teacher model."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from taskexpert.teachers.backends.base import Backend, BackendCall
from taskexpert.teachers.cache import ResponseCache, request_key
from taskexpert.teachers.sampling import Sampling
from taskexpert.teachers.types import TeacherRequest, TeacherResponse

log = logging.getLogger(__name__)
MAX_LISTED_FAILURES = 200  # failures listed one by one in the stats; all are counted


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
        }


@dataclass(frozen=True)
class _Prepared:
    call: BackendCall
    identity: dict[str, Any]
    prefill: str  # what to put back in front of the continuation


class Teacher:
    """`generate(requests) -> responses`, in request order; answers come from the cache when they can."""

    def __init__(self, backend: Backend, cache: ResponseCache, sampling: Sampling) -> None:
        self.backend = backend
        self.cache = cache
        self.sampling = sampling
        self.stats = TeacherStats()

    @property
    def name(self) -> str:
        """The model name, as written into generated records."""
        return self.backend.model

    def _prepare(self, request: TeacherRequest) -> _Prepared:
        sampling = self.sampling.with_overrides(request.sampling)
        ends_with_prefill = request.messages[-1][0] == "assistant"
        keep_prefill = self.backend.prefill and ends_with_prefill
        # a backend that cannot continue a message gets the request without it, and answers from scratch
        messages = request.messages[:-1] if ends_with_prefill and not keep_prefill else request.messages
        params = self.backend.call_params(sampling, request.sample_index)
        identity = {
            **self.backend.identity(),
            "params": params,
            "messages": [list(message) for message in messages],
            "sample_index": request.sample_index,
        }
        key = request_key(identity)
        call = BackendCall(key=key, messages=tuple(messages), params=params, sampling=sampling)
        return _Prepared(call, identity, request.prefill if keep_prefill else "")

    def generate(
        self,
        requests: Sequence[TeacherRequest],
        on_response: Callable[[TeacherResponse], None] | None = None,
    ) -> list[TeacherResponse]:
        """Answer every request. Each new answer is committed to the cache as it arrives; a request that
        keeps failing comes back with `text=None` and its reason (counted and listed in `stats`)."""
        prepared = [self._prepare(request) for request in requests]
        self.stats.requests += len(prepared)
        cached = self.cache.get_many(p.call.key for p in prepared)
        responses: list[TeacherResponse | None] = [None] * len(prepared)
        waiting: dict[str, list[int]] = {}
        for index, item in enumerate(prepared):
            hit = cached.get(item.call.key)
            if hit is not None:
                responses[index] = TeacherResponse(
                    item.prefill + hit.text, cached=True, seconds=hit.seconds, key=item.call.key
                )
                self.stats.cache_hits += 1
                if on_response:
                    on_response(responses[index])
            else:  # identical calls within one batch are made once
                waiting.setdefault(item.call.key, []).append(index)
        calls = [prepared[indices[0]].call for indices in waiting.values()]
        if calls:
            self._run(calls, prepared, waiting, responses, on_response)
        return responses  # type: ignore[return-value]  # every slot is filled by now

    def _run(self, calls, prepared, waiting, responses, on_response) -> None:
        started = time.perf_counter()
        self.stats.calls += len(calls)
        try:
            for result in self.backend.run(calls):
                indices = waiting.pop(result.key)
                item = prepared[indices[0]]
                self.stats.faults.update(result.faults)
                if result.text is not None:
                    stored = self.cache.put(
                        result.key, self.backend.model, item.identity, result.text, result.seconds
                    )
                    self.stats.generated += 1
                    response = TeacherResponse(
                        item.prefill + stored, seconds=result.seconds, key=result.key, faults=result.faults
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
        for key, indices in waiting.items():  # a backend that skipped a call is a bug; never hide it
            self._record_failure(key, "no_result", "the backend returned no result for this call")
            for index in indices:
                responses[index] = TeacherResponse(None, error="no_result", key=key)

    def _record_failure(self, key: str, reason: str, detail: str) -> None:
        self.stats.failed += 1
        self.stats.failure_reasons[reason] += 1
        if len(self.stats.failures) < MAX_LISTED_FAILURES:
            self.stats.failures.append({"key": key, "reason": reason, "detail": detail[:500]})
        log.warning("teacher call %s failed: %s %s", key[:12], reason, detail[:200])

    def close(self) -> None:
        self.backend.close()
