"""Any OpenAI-compatible chat completions API: OpenAI, vLLM's server, `transformers serve`, llama.cpp's server.

Up to `max_concurrency` calls run at once in threads. A call is retried on 429, 408/409, 5xx, timeouts,
connection errors and malformed answers, with exponential backoff and jitter, honouring Retry-After.
Other 4xx answers (bad request, auth, 422 unknown field) fail at once: retrying cannot fix them. A call that
keeps failing comes back as a failure with its reason; the run goes on.

The API key is read from the environment variable NAMED by `api_key_env` and held by the client only:
it is never part of the config, the cache key, the logs or any output.

A JSON schema goes out as `response_format={"type": "json_schema", ...}` (OpenAI, vLLM's and llama.cpp's
servers constrain decoding to it). Whether the server takes it is learnt from the first call that carries
one, made alone: a 4xx answer that names `response_format` (or `json_schema`) marks the server as refusing
schemas, and that call and the queued ones come back as SCHEMA_REFUSED without being sent, for the Teacher
to ask again without a schema. A server that accepts the field and ignores it (`transformers serve` logs
"Ignoring unsupported fields") cannot be told apart here; its answers break their schema, which the
augmentation stats count as `schema_violations`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from taskexpert.errors import ConfigError
from taskexpert.teachers.backends.base import SCHEMA_REFUSED, Backend, BackendCall, BackendResult
from taskexpert.teachers.backends.retry import RETRYABLE_STATUS, RetryPolicy, retry_after_seconds
from taskexpert.teachers.sampling import Sampling, openai_sampling_fields
from taskexpert.utils.secrets import redact_text, remember_secret, url_password

log = logging.getLogger(__name__)
NO_KEY = "no-key"  # what the client sends when the server needs no key (api_key_env: null)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # what an environment variable's name looks like
SCHEMA_FIELDS = re.compile(r"response_format|json_schema", re.IGNORECASE)  # named by a refusal of schemas
SCHEMA_NAME = "answer"  # json_schema.name: required by OpenAI, a-z, A-Z, 0-9, _ or -


class MalformedResponse(Exception):
    """A 200 answer that is not a chat completion with text."""


class OpenAICompatibleBackend(Backend):
    kind = "openai"

    def __init__(
        self,
        model: str,
        base_url: str = "https://api.openai.com/v1",
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float = 60.0,
        max_concurrency: int = 8,
        max_retries: int = 6,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        retry_after_max: float = 120.0,
        repetition_penalty_mode: str = "map_to_frequency_penalty",
        max_tokens_field: str = "max_tokens",
        send_seed: bool = True,
        extra_body: dict[str, Any] | None = None,
        prefill: bool = False,
        cache_tag: str = "",
    ) -> None:
        super().__init__(model=model, prefill=prefill, cache_tag=cache_tag)
        if max_concurrency < 1:
            raise ConfigError(f"teacher.max_concurrency={max_concurrency} must be >= 1")
        if timeout <= 0:
            raise ConfigError(f"teacher.timeout={timeout} must be > 0 seconds")
        if api_key_env is not None and not ENV_NAME.fullmatch(str(api_key_env)):
            # most likely the key itself was pasted: say so without repeating it anywhere
            raise ConfigError(
                "teacher.api_key_env must be the NAME of an environment variable (e.g. OPENAI_API_KEY), "
                "not the key: export the key in a variable and name that variable"
            )
        self.base_url = base_url
        remember_secret(url_password(base_url))  # masked wherever it turns up, e.g. echoed in an error body
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.max_concurrency = max_concurrency
        self.retry = RetryPolicy(max_retries, backoff_base, backoff_max, retry_after_max)
        self.repetition_penalty_mode = repetition_penalty_mode
        self.max_tokens_field = max_tokens_field
        self.send_seed = send_seed
        self.extra_body = dict(extra_body or {})
        self._client = None
        self._stop = threading.Event()
        self._schema_support: bool | None = None  # learnt from the first call with a schema
        self._schema_refusal = ""
        # check the mapping now, not after the first request has gone out
        openai_sampling_fields(Sampling(), 0, repetition_penalty_mode, max_tokens_field, send_seed)

    def identity(self) -> dict[str, Any]:
        """The server is part of the identity: two servers may serve different weights under one name."""
        return {**super().identity(), "base_url": self.base_url.rstrip("/")}

    def schema_support(self) -> bool | None:
        return self._schema_support

    def schema_params(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": SCHEMA_NAME, "schema": schema, "strict": True},
            }
        }

    def structured_details(self) -> dict[str, Any]:
        return {"server": self.base_url}

    def call_params(self, sampling: Sampling, sample_index: int) -> dict[str, Any]:
        fields = openai_sampling_fields(
            sampling, sample_index, self.repetition_penalty_mode, self.max_tokens_field, self.send_seed
        )
        extra_body = {**self.extra_body, **fields.pop("extra_body", {})}
        if extra_body:
            fields["extra_body"] = extra_body
        return fields

    def _api_key(self) -> str:
        if not self.api_key_env:
            return NO_KEY
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(
                f"teacher.api_key_env names {self.api_key_env}, which is not set: export {self.api_key_env}=... "
                "(or teacher.api_key_env=null for a server that needs no key)"
            )
        remember_secret(key)
        return key

    def client(self):
        if self._client is None:
            import openai

            logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
            self._client = openai.OpenAI(
                base_url=self.base_url, api_key=self._api_key(), max_retries=0, timeout=self.timeout
            )
        return self._client

    def run(self, calls: Sequence[BackendCall]) -> Iterator[BackendResult]:
        if not calls:
            return
        client = self.client()
        self._stop.clear()
        calls = list(calls)
        if self._schema_support is None:  # the first call with a schema goes alone: it tells support
            first = next((call for call in calls if "response_format" in call.params), None)
            if first is not None:
                calls.remove(first)
                result = self._call_with_retries(client, first)
                if result.error is None:
                    self._schema_support = True
                yield result
        if not calls:
            return
        executor = ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(calls)))
        futures = [executor.submit(self._call_with_retries, client, call) for call in calls]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:  # interrupted or done: stop waiting retries and queued calls
            self._stop.set()
            executor.shutdown(wait=False, cancel_futures=True)

    def _refused(self, call: BackendCall, faults: list[str] | None = None) -> BackendResult:
        """The call given back for the Teacher to ask without its schema; `faults` says if it was sent."""
        return BackendResult(
            call.key, None, error=SCHEMA_REFUSED, detail=self._schema_refusal, faults=faults or []
        )

    def _call_with_retries(self, client, call: BackendCall) -> BackendResult:
        import openai

        started = time.perf_counter()
        body = dict(call.params)
        extra_body = body.pop("extra_body", None)
        with_schema = "response_format" in body
        faults: list[str] = []
        reason, detail = "cancelled", "the run stopped before this call was made"
        for attempt in range(self.retry.max_retries + 1):
            if self._stop.is_set():
                break
            if with_schema and self._schema_support is False:  # learnt meanwhile: do not send it
                return self._refused(call)
            retry_after = None
            try:
                completion = client.chat.completions.create(
                    model=self.model, messages=call.message_dicts(), extra_body=extra_body, **body
                )
                return BackendResult(
                    call.key,
                    _content(completion),
                    seconds=time.perf_counter() - started,
                    faults=faults,
                    finish_reason=_finish_reason(completion),
                    **_usage(completion),
                )
            except openai.APITimeoutError:
                reason, detail = "timeout", f"no answer within {self.timeout:g} s"
            except openai.APIConnectionError as error:
                reason, detail = "connection", redact_text(str(error))
            except openai.APIStatusError as error:
                reason, detail = f"http_{error.status_code}", _error_text(error)
                refusal = 400 <= error.status_code < 500 and error.status_code not in RETRYABLE_STATUS
                if with_schema and refusal and SCHEMA_FIELDS.search(detail):
                    self._schema_support, self._schema_refusal = False, f"{reason}: {detail}"
                    return self._refused(call, [*faults, SCHEMA_REFUSED])
                if error.status_code not in RETRYABLE_STATUS:
                    faults.append(reason)
                    break
                retry_after = retry_after_seconds(error.response.headers)
            except (openai.APIResponseValidationError, MalformedResponse, ValueError) as error:
                reason, detail = "bad_response", f"{type(error).__name__}: {error}"
            faults.append(reason)
            if attempt < self.retry.max_retries:
                wait = self.retry.wait(attempt, retry_after)
                log.info("teacher call %s: %s, retry %d in %.1f s", call.key[:12], reason, attempt + 1, wait)
                self._stop.wait(wait)
        return BackendResult(
            call.key, None, error=reason, detail=detail, seconds=time.perf_counter() - started, faults=faults
        )

    def close(self) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.close()
            self._client = None


def _content(completion: Any) -> str:
    choices = getattr(completion, "choices", None)
    if not choices:
        raise MalformedResponse(f"the answer has no choices: {str(completion)[:200]!r}")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if not isinstance(content, str):
        raise MalformedResponse("the answer's choices[0].message.content is not text")
    return content


def _finish_reason(completion: Any) -> str | None:
    """`choices[0].finish_reason`: `length` when the answer was cut at max_tokens; None if not reported."""
    reason = getattr(completion.choices[0], "finish_reason", None)
    return str(reason) if reason else None


def _usage(completion: Any) -> dict[str, int | None]:
    """The server's `usage` token counts; None where a server does not report them."""
    usage = getattr(completion, "usage", None)
    counts = {}
    for name in ("prompt_tokens", "completion_tokens"):
        value = getattr(usage, name, None)
        counts[name] = int(value) if isinstance(value, int) else None
    return counts


def _error_text(error: Any) -> str:
    """The client's message plus the server's body, which often says what was wrong (e.g. the 422 field).
    Secrets are masked: a server may echo the key, the Authorization header or the URL's password."""
    message = getattr(error, "message", "") or str(error)
    body = getattr(error, "body", None)
    if body is not None and str(body) not in message:
        message = f"{message}: {json.dumps(body, ensure_ascii=False, default=str)}"
    return redact_text(message)[:500]
