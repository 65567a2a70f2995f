"""When and how long to wait before retrying a call: exponential backoff with jitter, Retry-After honoured."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})  # others (400, 401, 404, 422) will not heal


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6  # retries after the first attempt (int)
    backoff_base: float = 1.0  # seconds before the first retry, doubled each time (float)
    backoff_max: float = 60.0  # ceiling of one backoff wait (float)
    retry_after_max: float = 120.0  # ceiling of a server's Retry-After we are willing to honour (float)

    def wait(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number `attempt + 1` (attempt counts from 0)."""
        if retry_after is not None:  # the server knows best; a little jitter spreads the herd
            return min(retry_after, self.retry_after_max) + (rng or random).uniform(0, 0.1)
        ceiling = min(self.backoff_max, self.backoff_base * 2**attempt)
        return ceiling * (0.5 + 0.5 * (rng or random).random())  # "equal jitter": between half and all


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds from `retry-after-ms`, or `retry-after` as seconds or an HTTP date; None when absent or bad."""
    if not headers:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))
