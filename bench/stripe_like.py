"""A payment provider that behaves like Stripe where it costs time: for W4 against a realistic
provider.

:class:`StripeLikeProvider` implements the payment port by wrapping
:class:`~creator_ledger.adapters.payments.memory.InMemoryProvider` (which keeps Stripe's
idempotency semantics) and adds, per call:

* **latency**: every call takes a random 150-300 ms (seeded), answered or not;
* **a rate limit**: a token bucket of 100 requests/s shared by all threads, with a burst of
  a tenth of a second's worth (so no window of a run is served much above the limit); a call
  that finds no token is answered ``429``: a
  :class:`~creator_ledger.domain.errors.PaymentOutcomeUnknownError` with ``http_status=429``
  and ``retry_after_s`` (when the next token is due), and the provider does nothing;
* **transient errors**: 5% of the calls that pass the limiter fail as outcome-unknown, half
  before the provider acts (``http_status=503``, nothing happened) and half after it acted (a
  connection reset: the transfer exists, the caller does not know).

Lists cost one call per page of 100, as on Stripe.

It counts what happened (calls by operation, 429s, transient errors, first and last call) so
the workload reports what the provider saw.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.adapters.payments.port import (
    BalanceTransaction,
    Transfer,
    TransferRequest,
    TransferReversal,
)
from creator_ledger.domain.errors import PaymentOutcomeUnknownError

T = TypeVar("T")

RATE_LIMIT_PER_S = 100.0
BURST_S = 0.1
LATENCY_S = (0.150, 0.300)
TRANSIENT_RATE = 0.05
PAGE_SIZE = 100
_EPSILON = 1e-9


class TokenBucket:
    """``rate_per_s`` tokens a second, at most ``capacity`` saved up; thread-safe.

    :meth:`try_take` takes a token if one is there and returns 0.0, or returns how long until
    the next one (and takes nothing).
    """

    def __init__(
        self,
        rate_per_s: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert rate_per_s > 0
        self.rate_per_s = rate_per_s
        self.capacity = rate_per_s if capacity is None else capacity
        assert self.capacity >= 1
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock()
        self._lock = threading.Lock()

    def try_take(self) -> float:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate_per_s)
            self._last = now
            if self._tokens >= 1 - _EPSILON:  # clocks are floats: 0.1 s x 10/s is 0.999...
                self._tokens = max(0.0, self._tokens - 1)
                return 0.0
            return (1 - self._tokens) / self.rate_per_s


@dataclass
class ProviderStats:
    """What the provider saw."""

    calls: Counter[str] = field(default_factory=Counter)  # by operation, 429s included
    served: Counter[str] = field(default_factory=Counter)  # passed the limiter
    rate_limited: int = 0
    transient_before: int = 0
    transient_after: int = 0
    first_call_s: float | None = None
    last_answer_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "served": dict(self.served),
            "rate_limited_429": self.rate_limited,
            "transient_before_commit": self.transient_before,
            "transient_after_commit": self.transient_after,
        }


class StripeLikeProvider:
    """:class:`~creator_ledger.adapters.payments.port.PaymentProvider` with Stripe's latency,
    rate limit and transient errors (see the module docstring)."""

    def __init__(
        self,
        inner: InMemoryProvider | None = None,
        *,
        seed: int = 4,
        rate_per_s: float = RATE_LIMIT_PER_S,
        latency_s: tuple[float, float] = LATENCY_S,
        transient_rate: float = TRANSIENT_RATE,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert 0 <= latency_s[0] <= latency_s[1]
        assert 0 <= transient_rate <= 1
        self.inner = inner or InMemoryProvider()
        self.bucket = TokenBucket(rate_per_s, max(1.0, rate_per_s * BURST_S), clock=clock)
        self.latency_s = latency_s
        self.transient_rate = transient_rate
        self.stats = ProviderStats()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._sleep = sleep
        self._clock = clock

    def _call(self, operation: str, work: Callable[[], T], context: dict[str, str]) -> T:
        wait = self.bucket.try_take()
        with self._lock:
            now = self._clock()
            if self.stats.first_call_s is None:
                self.stats.first_call_s = now
            self.stats.calls[operation] += 1
            latency = self._rng.uniform(*self.latency_s)
            fault = self._rng.random()
            if wait:
                self.stats.rate_limited += 1
            else:
                self.stats.served[operation] += 1
                if fault < self.transient_rate / 2:
                    self.stats.transient_before += 1
                elif fault < self.transient_rate:
                    self.stats.transient_after += 1
        self._sleep(latency)
        try:
            if wait:
                msg = f"stripe-like: {operation} rate limited (429), retry after {wait:.3f} s"
                raise PaymentOutcomeUnknownError(
                    msg,
                    provider="stripe-like",
                    http_status=429,
                    code="rate_limit",
                    retry_after_s=wait,
                    committed=False,
                    **context,
                )
            if fault < self.transient_rate / 2:
                msg = f"stripe-like: {operation} failed before the provider acted (503)"
                raise PaymentOutcomeUnknownError(
                    msg, provider="stripe-like", http_status=503, committed=False, **context
                )
            result = work()
            if fault < self.transient_rate:
                msg = f"stripe-like: connection reset after {operation} was done"
                raise PaymentOutcomeUnknownError(
                    msg, provider="stripe-like", http_status=None, committed=True, **context
                )
            return result
        finally:
            with self._lock:
                self.stats.last_answer_s = self._clock()

    # -- the port ---------------------------------------------------------------------------

    def create_transfer(self, request: TransferRequest) -> Transfer:
        context = {"payout_id": request.payout_id, "idempotency_key": request.idempotency_key}
        return self._call("create_transfer", lambda: self.inner.create_transfer(request), context)

    def find_transfer(self, payout_id: str) -> Transfer | None:
        return self._call(
            "find_transfer", lambda: self.inner.find_transfer(payout_id), {"payout_id": payout_id}
        )

    def list_transfers(self, created_from: datetime, created_to: datetime) -> Iterator[Transfer]:
        found = list(self.inner.list_transfers(created_from, created_to))
        self._pages("list_transfers", len(found))
        return iter(found)

    def list_balance_transactions(
        self, created_from: datetime, created_to: datetime
    ) -> Iterator[BalanceTransaction]:
        found = list(self.inner.list_balance_transactions(created_from, created_to))
        self._pages("list_balance_transactions", len(found))
        return iter(found)

    def _pages(self, operation: str, items: int) -> None:
        """A list costs one call per page of :data:`PAGE_SIZE`, as on Stripe."""
        for _ in range(max(1, -(-items // PAGE_SIZE))):
            self._call(operation, lambda: None, {})

    def reverse_transfer(
        self, transfer_id: str, amount_minor: int, idempotency_key: str
    ) -> TransferReversal:
        return self._call(
            "reverse_transfer",
            lambda: self.inner.reverse_transfer(transfer_id, amount_minor, idempotency_key),
            {"transfer_id": transfer_id, "idempotency_key": idempotency_key},
        )

    # -- inspection ------------------------------------------------------------------------

    def duplicates(self) -> int:
        """Payouts with more than one transfer at the provider (must be 0)."""
        return sum(1 for n in self.inner.transfer_counts().values() if n > 1)
