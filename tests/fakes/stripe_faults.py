"""Scripted faults for the fake Stripe server: what goes wrong with which next requests.

``server.faults.push(Fault.RATE_LIMIT, times=2, retry_after_s=1)`` makes the next two
``POST /v1/transfers`` answer 429 with ``Retry-After: 1``; each request takes the first queued
fault whose method and path match it.
"""

from __future__ import annotations

import enum
import re
import threading
from dataclasses import dataclass

__all__ = ["MAX_FAULT_REPEAT", "Fault", "FaultScript", "ScriptedFault"]

MAX_FAULT_REPEAT = 1_000


class Fault(enum.Enum):
    """A failure the fake injects into the next matching request."""

    RATE_LIMIT = "rate_limit"  # 429 before anything runs (optionally Stripe-Should-Retry,
    # Retry-After)
    ERROR_500_BEFORE_COMMIT = "error_500_before_commit"  # 500, nothing done, nothing stored
    ERROR_500_AFTER_COMMIT = "error_500_after_commit"  # done; the 500 is stored for the key
    TIMEOUT_BEFORE_COMMIT = "timeout_before_commit"  # key in flight for delay_s, then done
    TIMEOUT_AFTER_COMMIT = "timeout_after_commit"  # done and stored; reply after delay_s
    RESET_BEFORE_COMMIT = "reset_before_commit"  # socket reset, nothing done
    RESET_AFTER_COMMIT = "reset_after_commit"  # done and stored; socket reset, no reply


@dataclass(frozen=True, slots=True)
class ScriptedFault:
    fault: Fault
    method: str
    path: re.Pattern[str]
    should_retry: bool | None
    delay_s: float
    retry_after_s: float | None = None


class FaultScript:
    """The queue of scripted faults; each request takes the first one that matches it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[ScriptedFault] = []

    def push(
        self,
        fault: Fault,
        *,
        method: str = "POST",
        path: str = r"/v1/transfers",
        times: int = 1,
        should_retry: bool | None = None,
        delay_s: float = 1.0,
        retry_after_s: float | None = None,
    ) -> None:
        """Inject ``fault`` into the next ``times`` requests whose method and path match.

        ``path`` is a regular expression matched against the whole request path.
        ``should_retry`` sets ``Stripe-Should-Retry`` on 429/500 replies (None: no header).
        ``delay_s`` is how long a TIMEOUT fault holds the reply (make it longer than the
        client's read timeout).
        ``retry_after_s`` sets ``Retry-After`` (seconds) on a RATE_LIMIT reply (None: no header).
        """
        if not 1 <= times <= MAX_FAULT_REPEAT:
            msg = f"times must be 1..{MAX_FAULT_REPEAT}, got {times}"
            raise ValueError(msg)
        if not 0 < delay_s <= 30:
            msg = f"delay_s must be in (0, 30], got {delay_s}"
            raise ValueError(msg)
        if retry_after_s is not None and (fault is not Fault.RATE_LIMIT or retry_after_s < 0):
            msg = "retry_after_s is a non-negative number of seconds, for RATE_LIMIT only"
            raise ValueError(msg)
        scripted = ScriptedFault(
            fault, method.upper(), re.compile(path), should_retry, delay_s, retry_after_s
        )
        with self._lock:
            self._queue.extend([scripted] * times)

    def take(self, method: str, path: str) -> ScriptedFault | None:
        with self._lock:
            for i, scripted in enumerate(self._queue):
                if scripted.method == method and scripted.path.fullmatch(path):
                    return self._queue.pop(i)
        return None

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
