"""Sending payouts to the provider, each exactly once, at the provider's pace.

One transfer per payout, under the idempotency key fixed in the payout before its first attempt.
A rejection fails the payout.  Every other answer is handled under that same key:

* **Rate limited** (``http_status`` 429: the provider did nothing): every sender pauses for the
  ``retry_after_s`` the provider asked for, and the same request is sent again under the same
  key, with no lookup first.
* **Outcome unknown** (timeout, reset, 5xx, 409): after a short, growing, jittered backoff the
  same request is sent again under the same key: the provider replays the stored answer (the
  transfer, if it made one) for the same key and parameters, so a resend is the cheapest way to
  learn the outcome, and never makes a second transfer.  The transfer is looked up
  (``find_transfer``) before resending only when the key's answer cannot be trusted: the payout
  was first requested more than :data:`KEY_FRESH_FOR` ago (the provider may have pruned the
  key), the answer was a 500 (which a provider may store under the key and replay), or two
  resends in a row failed.
* After :data:`MAX_SEND_ATTEMPTS` unknown outcomes (or :data:`MAX_RATE_LIMITED` 429s) the payout
  is looked up once more and, if still unknown, left ``requested``: never failed back to
  payable while a transfer could appear.  The next execution of the run resolves it.

**Pacing** lives here, not in an adapter, because it is shared by every send worker of an
execution, lookups included, and because what a 429 means for the next step (resend, no lookup)
is the ledger's exactly-once policy; the port stays provider-neutral (``http_status`` and
``retry_after_s`` are fields of :class:`~domain.errors.PaymentOutcomeUnknownError`).  A
:class:`Pacer` is a token bucket at the provider's own ``rate_limit_per_s`` if it says one
(``None``, as for the in-memory provider: unpaced), else at ``LEDGER_PROVIDER_RATE_PER_S``: it
lowers its rate by :data:`BACKOFF_FACTOR` on the first 429 of a burst (so a limit lower than the
setting is learned) and creeps back to the setting on successes.

**Concurrency**: keeping a provider at ``R`` requests/s with calls of ``L`` seconds needs about
``R x L`` calls in flight (100/s x 0.3 s = 30), plus headroom for senders waiting out a
backoff; :data:`MAX_CONCURRENCY` allows twice that.  :func:`send_all` keeps every worker busy
across the whole run (no pause at batch ends) and hands outcomes back in batches, so the
database is written once per batch, not once per payout.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from creator_ledger.adapters.payments.port import PaymentProvider, TransferRequest
from creator_ledger.domain.errors import PaymentOutcomeUnknownError, PaymentRejectedError
from creator_ledger.domain.payout import Payout

#: Unknown outcomes of one payout in one execution (same key each time) before it is left
#: unresolved.
MAX_SEND_ATTEMPTS = 6
#: 429s of one payout in one execution before it is left unresolved (a 429 costs only time).
MAX_RATE_LIMITED = 50
#: Transfers sent at once, at most; and what the command line sends at once unless told.
MAX_CONCURRENCY = 64
DEFAULT_CONCURRENCY = 32
#: A key younger than this is trusted to replay the provider's first answer (Stripe keeps keys
#: at least 24 hours); an older payout is looked up before it is sent again.
KEY_FRESH_FOR = timedelta(hours=23)
#: The provider's rate limit when the settings say nothing (Stripe's live-mode default).
DEFAULT_RATE_PER_S = 100.0
#: The rate an unpaced pacer (a provider with no rate limit) starts learning from on a 429.
UNPACED_RATE_PER_S = 10_000.0
#: Backoff after an unknown outcome: ``BACKOFF_S * 2**(n-1)``, at most ``BACKOFF_MAX_S``, times a
#: random factor in [0.5, 1].
BACKOFF_S = 0.02
BACKOFF_MAX_S = 0.5
#: Wait after a 429 that did not say how long, and the longest ``retry_after_s`` honoured.
RATE_LIMITED_WAIT_S = 1.0
RETRY_AFTER_MAX_S = 60.0
#: The rate is multiplied by this on the first 429 of a burst, never below ``MIN_RATE_SHARE`` of
#: the setting, and regains ``RECOVERY_SHARE`` of the setting per success.
BACKOFF_FACTOR = 0.9
MIN_RATE_SHARE = 0.05
RECOVERY_SHARE = 0.002
#: Tokens saved up at most, in seconds of the rate (a burst never exceeds this).
BURST_S = 0.1
#: Outcomes are recorded when ``batch_size`` of them are in, or this long after the last
#: recording, whichever comes first (so the last recording of a run is small).
RECORD_EVERY_S = 1.0
RATE_LIMITED = 429
#: An answer the provider may have stored under the key and would replay: look up instead.
STORED_ERROR = 500


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the provider did with one payout, as far as this execution knows."""

    payout: Payout
    transfer_id: str | None = None  # paid
    failure: tuple[str, str] | None = None  # (code, message): failed

    @property
    def resolved(self) -> bool:
        return self.transfer_id is not None or self.failure is not None


class Pacer:
    """A token bucket shared by every sender of one execution (see the module docstring).

    :meth:`wait` blocks until the caller may make one call; slots are handed out in order at
    ``rate_per_s`` (a virtual schedule, so waiting happens outside the lock).  ``None``: the
    provider has no rate limit (an in-process one); only a 429's pause is honoured.  ``clock`` and
    ``sleep`` are injectable, so tests can run it on simulated time.
    """

    def __init__(
        self,
        rate_per_s: float | None = DEFAULT_RATE_PER_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        assert rate_per_s is None or rate_per_s > 0
        self.paced = rate_per_s is not None
        self.configured_rate_per_s = rate_per_s or UNPACED_RATE_PER_S
        self.rate_per_s = self.configured_rate_per_s
        self.clock = clock
        self.sleep = sleep
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._next_s = clock() - self._burst_s()  # the next free slot (a burst saved up)
        self._paused_until_s = float("-inf")
        self.rate_limited_count = 0

    def wait(self) -> None:
        """Take the next slot, sleeping until it comes (unpaced: only a 429's pause)."""
        with self._lock:
            now = self.clock()
            if self.paced:
                slot = max(self._next_s, now - self._burst_s(), self._paused_until_s)
                self._next_s = slot + 1 / self.rate_per_s
            else:
                slot = self._paused_until_s
        if slot > now:
            self.sleep(slot - now)

    def _burst_s(self) -> float:
        """How far behind the schedule may fall and still be caught up at once: a burst of
        ``BURST_S`` seconds' worth of calls, the current one included."""
        return max(0.0, BURST_S - 1 / self.rate_per_s)

    def rate_limited(self, retry_after_s: float | None) -> None:
        """The provider answered 429: nobody sends before it said, and the rate comes down
        (once per burst of 429s)."""
        wait_s = RATE_LIMITED_WAIT_S if retry_after_s is None else retry_after_s
        wait_s = min(max(wait_s, 0.0), RETRY_AFTER_MAX_S)
        with self._lock:
            now = self.clock()
            self.rate_limited_count += 1
            if now >= self._paused_until_s:
                floor = self.configured_rate_per_s * MIN_RATE_SHARE
                self.rate_per_s = max(floor, self.rate_per_s * BACKOFF_FACTOR)
            self._paused_until_s = max(self._paused_until_s, now + wait_s)

    def succeeded(self) -> None:
        """A call went through: the rate creeps back towards the setting."""
        with self._lock:
            step = self.configured_rate_per_s * RECOVERY_SHARE
            self.rate_per_s = min(self.configured_rate_per_s, self.rate_per_s + step)

    def backoff(self, failures: int) -> None:
        """Sleep after the ``failures``-th unknown outcome of one payout (1-based)."""
        base = min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (failures - 1))
        with self._lock:
            factor = self._rng.uniform(0.5, 1.0)
        self.sleep(base * factor)


def transfer_request(payout: Payout) -> TransferRequest:
    payout_id = str(payout.id)
    return TransferRequest(
        payout_id=payout_id,
        idempotency_key=payout.idempotency_key,
        destination=payout.destination,
        amount_minor=payout.amount_minor,
        currency=payout.currency,
        metadata={
            "payout_id": payout_id,
            "run_id": payout.run_id,
            "creator_id": payout.creator_id.hex,
        },
        transfer_group=payout_id,
    )


def key_is_fresh(payout: Payout, now: datetime) -> bool:
    """Whether the provider still keeps the payout's key (it was first requested recently)."""
    return now - payout.requested_at < KEY_FRESH_FOR


def _retry_after_s(error: PaymentOutcomeUnknownError) -> float | None:
    value = error.fields.get("retry_after_s")
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def send(provider: PaymentProvider, payout: Payout, *, pacer: Pacer, now: datetime) -> Outcome:
    """Send one payout (see the module docstring); never raises for the provider's answer."""
    payout_id = str(payout.id)
    request = transfer_request(payout)
    fresh = key_is_fresh(payout, now)
    look_first = not fresh
    failures = 0
    limited = 0
    while True:
        try:
            if look_first:
                pacer.wait()
                try:
                    found = provider.find_transfer(payout_id)
                except PaymentRejectedError:
                    return Outcome(payout)  # a refused lookup proves nothing: unresolved
                pacer.succeeded()
                if found is not None:
                    return Outcome(payout, transfer_id=found.transfer_id)
                look_first = False
            pacer.wait()
            transfer = provider.create_transfer(request)
        except PaymentRejectedError as e:
            code = str(e.fields.get("code") or e.fields.get("error_type") or "rejected")
            return Outcome(payout, failure=(code, e.message))
        except PaymentOutcomeUnknownError as e:
            status = e.fields.get("http_status")
            if status == RATE_LIMITED:  # not processed: the same call again, same key
                pacer.rate_limited(_retry_after_s(e))
                limited += 1
                if limited >= MAX_RATE_LIMITED:
                    break
                continue
            failures += 1
            if failures >= MAX_SEND_ATTEMPTS:
                break
            look_first = not fresh or status == STORED_ERROR or failures >= 2
            pacer.backoff(failures)
            continue
        pacer.succeeded()
        return Outcome(payout, transfer_id=transfer.transfer_id)
    return _last_look(provider, payout, pacer)


def _last_look(provider: PaymentProvider, payout: Payout, pacer: Pacer) -> Outcome:
    """One more lookup of a payout whose sends stayed unknown; unresolved if it finds none."""
    try:
        pacer.wait()
        found = provider.find_transfer(str(payout.id))
    except PaymentOutcomeUnknownError as e:
        if e.fields.get("http_status") == RATE_LIMITED:
            pacer.rate_limited(_retry_after_s(e))
        found = None
    except PaymentRejectedError:
        found = None  # a refused lookup proves nothing
    return Outcome(payout, transfer_id=found.transfer_id if found is not None else None)


def send_all(
    provider: PaymentProvider,
    payouts: Iterable[Payout],
    *,
    concurrency: int,
    pacer: Pacer,
    now: Callable[[], datetime],
    batch_size: int,
    record: Callable[[list[Outcome]], None],
) -> list[Outcome]:
    """Send ``payouts``, ``concurrency`` at a time, handing their outcomes to ``record`` (on the
    calling thread) ``batch_size`` at a time, or every :data:`RECORD_EVERY_S`, while the next
    ones are sent; returns every outcome.  ``payouts`` is consumed lazily, on the calling
    thread.  At most ``2 x concurrency`` payouts wait in the pool at once.  A crash (in a
    sender or in ``record``) stops sending at once."""
    assert 1 <= concurrency <= MAX_CONCURRENCY
    assert batch_size >= 1
    outcomes: list[Outcome] = []
    batch: list[Outcome] = []
    recorded_at = [pacer.clock()]

    def collect(outcome: Outcome, last: bool) -> None:
        batch.append(outcome)
        now_s = pacer.clock()
        if last or len(batch) >= batch_size or now_s - recorded_at[0] >= RECORD_EVERY_S:
            record(list(batch))
            outcomes.extend(batch)
            batch.clear()
            recorded_at[0] = now_s

    todo = iter(payouts)
    if concurrency == 1:
        ahead = next(todo, None)
        while ahead is not None:
            current, ahead = ahead, next(todo, None)
            collect(send(provider, current, pacer=pacer, now=now()), ahead is None)
        return outcomes
    pool = ThreadPoolExecutor(max_workers=concurrency)
    pending: set[Future[Outcome]] = set()
    exhausted = False
    try:

        def fill() -> None:
            nonlocal exhausted
            while not exhausted and len(pending) < 2 * concurrency:
                payout = next(todo, None)
                if payout is None:
                    exhausted = True
                    return
                pending.add(pool.submit(send, provider, payout, pacer=pacer, now=now()))

        fill()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            pending.difference_update(done)
            fill()
            finished: Sequence[Future[Outcome]] = list(done)
            for i, future in enumerate(finished):
                collect(future.result(), not pending and i == len(finished) - 1)
        return outcomes
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
