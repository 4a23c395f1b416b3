"""Sending payouts at the provider's pace: a shared token bucket, 429s sent again under the same
key (no lookup), transient errors resent under the same key, old keys looked up first, and
payouts whose outcome stays unknown left ``requested``.  Simulated time where the rate is
measured (calls per simulated second), so the figures do not depend on the machine."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import uuid5

import pytest

from bench.stripe_like import StripeLikeProvider, TokenBucket
from creator_ledger import CreatorLedger, InvalidInputError, Settings
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.adapters.payments.port import Transfer, TransferRequest
from creator_ledger.domain.errors import PaymentOutcomeUnknownError, PaymentRejectedError
from creator_ledger.domain.ids import NAMESPACE
from creator_ledger.domain.payout import Payout
from creator_ledger.ledger import transfers
from creator_ledger.ledger.transfers import Outcome, Pacer
from tests.conftest import Clock
from tests.scenario import ACTOR, creators, fund, release
from tests.unit.test_payouts import balances, earn

T0 = datetime(2026, 6, 30, 12, tzinfo=UTC)


class SimTime:
    """A clock and a sleep on simulated seconds (sleeping advances the clock)."""

    def __init__(self) -> None:
        self.now_s = 1_000.0
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now_s

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        with self._lock:
            self.now_s += seconds


class Scripted(InMemoryProvider):
    """An in-memory provider (Stripe's idempotency) with a rate limit on simulated time
    (429 with ``retry_after_s``, nothing done), scripted answers, and a log of every call."""

    def __init__(self, time: SimTime, rate_per_s: float | None = None) -> None:
        super().__init__(clock=lambda: T0)
        self.time = time
        self.bucket = (
            TokenBucket(rate_per_s, max(1.0, rate_per_s * 0.1), clock=time.clock)
            if rate_per_s
            else None
        )
        self.log: list[tuple[str, str, float]] = []  # (operation, key or payout id, time)
        self.rate_limited = 0
        #: The next answers of create_transfer: 429, 503 (nothing done), 500 (done, a stored
        #: error), 0 (done, the answer lost: a reset); then it answers normally.
        self.script: list[int] = []

    def _limit(self, operation: str, what: str) -> None:
        self.log.append((operation, what, self.time.clock()))
        wait = self.bucket.try_take() if self.bucket is not None else 0.0
        if wait:
            self.rate_limited += 1
            raise PaymentOutcomeUnknownError(
                "429", http_status=429, retry_after_s=wait, payout_id=what
            )

    def create_transfer(self, request: TransferRequest) -> Transfer:
        self._limit("create", request.idempotency_key)
        status = self.script.pop(0) if self.script else None
        if status == 429:
            self.rate_limited += 1
            raise PaymentOutcomeUnknownError("429", http_status=429, retry_after_s=0.5)
        if status is not None:
            if status != 503:
                super().create_transfer(request)
            raise PaymentOutcomeUnknownError(f"{status}", http_status=status or None)
        return super().create_transfer(request)

    def find_transfer(self, payout_id: str) -> Transfer | None:
        self._limit("find", payout_id)
        return super().find_transfer(payout_id)

    def ops(self) -> list[str]:
        return [op for op, _, _ in self.log]


def payout(n: int, requested_at: datetime = T0) -> Payout:
    return Payout.request(
        run_id="usd-run",
        creator_id=uuid5(NAMESPACE, f"creator-{n}"),
        currency="USD",
        amount_minor=1_000 + n,
        destination=f"acct_{n}",
        effective_at=requested_at,
    )


def send_one(provider: Scripted, p: Payout, *, now: datetime = T0) -> Outcome:
    pacer = Pacer(100, clock=provider.time.clock, sleep=provider.time.sleep, seed=1)
    return transfers.send(provider, p, pacer=pacer, now=now)


def most_calls_in_a_second(times: list[float]) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_a_429_is_sent_again_under_the_same_key_after_retry_after_without_a_lookup() -> None:
    time = SimTime()
    provider = Scripted(time)
    provider.script = [429, 429]
    p = payout(1)
    outcome = send_one(provider, p)
    assert outcome.transfer_id is not None
    assert provider.ops() == ["create", "create", "create"]
    assert {key for _, key, _ in provider.log} == {p.idempotency_key}
    at = [t for _, _, t in provider.log]
    assert at[1] - at[0] >= 0.5
    assert at[2] - at[1] >= 0.5
    assert provider.transfer_counts() == Counter({str(p.id): 1})


@pytest.mark.parametrize("status", [503, 0])
def test_a_transient_error_is_resent_under_the_same_key_and_makes_one_transfer(
    status: int,
) -> None:
    provider = Scripted(SimTime())
    provider.script = [status]  # before the provider acted (503), or after (a lost answer)
    p = payout(2)
    outcome = send_one(provider, p)
    assert provider.ops() == ["create", "create"]  # no lookup: the key replays the answer
    assert outcome.transfer_id == provider.transfers()[0].transfer_id
    assert provider.transfer_counts() == Counter({str(p.id): 1})


def test_a_500_is_looked_up_rather_than_resent_blindly() -> None:
    provider = Scripted(SimTime())
    provider.script = [500]  # the provider acted, and may replay the stored 500 for the key
    p = payout(3)
    outcome = send_one(provider, p)
    assert provider.ops() == ["create", "find"]
    assert outcome.transfer_id == provider.transfers()[0].transfer_id
    assert len(provider.transfers()) == 1


def test_a_payout_requested_more_than_23_hours_ago_is_looked_up_before_it_is_sent() -> None:
    provider = Scripted(SimTime())
    old = payout(4, requested_at=T0 - timedelta(hours=23, minutes=1))
    made = provider.create_transfer(transfers.transfer_request(old))  # an earlier execution
    provider.log.clear()
    outcome = send_one(provider, old)
    assert provider.ops() == ["find"]  # found: never sent again
    assert outcome.transfer_id == made.transfer_id
    newer = payout(5, requested_at=T0 - timedelta(hours=22))
    send_one(provider, newer)
    assert provider.ops() == ["find", "create"]  # a fresh key is simply sent
    missing = payout(6, requested_at=T0 - timedelta(days=2))
    outcome = send_one(provider, missing)
    assert provider.ops()[2:] == ["find", "create"]  # none there: sent under its own key
    assert outcome.transfer_id is not None
    assert set(provider.transfer_counts().values()) == {1}


class RefusesLookups(Scripted):
    def find_transfer(self, payout_id: str) -> Transfer | None:
        self.log.append(("find", payout_id, self.time.clock()))
        raise PaymentRejectedError("401: the key may not list transfers", http_status=401)


def test_a_refused_lookup_leaves_the_payout_unresolved_rather_than_failed() -> None:
    provider = RefusesLookups(SimTime())
    old = payout(8, requested_at=T0 - timedelta(days=1))
    provider.create_transfer(transfers.transfer_request(old))  # it was paid, long ago
    provider.log.clear()
    outcome = send_one(provider, old)
    assert (outcome.resolved, outcome.failure) == (False, None)
    assert provider.ops() == ["find"]
    assert len(provider.transfers()) == 1
    # Nor when the lookup comes after sends whose outcome stayed unknown.
    fresh = payout(9)
    provider.script = [503] * 100
    outcome = send_one(provider, fresh)
    assert (outcome.resolved, outcome.failure) == (False, None)
    assert provider.transfers()[1:] == []


def test_an_outcome_that_stays_unknown_is_left_unresolved_after_bounded_attempts() -> None:
    provider = Scripted(SimTime())
    provider.script = [503] * 100
    outcome = send_one(provider, payout(7))
    assert not outcome.resolved
    creates = provider.ops().count("create")
    assert creates == transfers.MAX_SEND_ATTEMPTS
    assert provider.ops()[-1] == "find"  # a last look before giving up
    assert provider.transfers() == []


def test_sends_are_paced_to_the_rate_and_a_lower_limit_is_learned_from_429s() -> None:
    time = SimTime()
    provider = Scripted(time, rate_per_s=50)
    pacer = Pacer(50, clock=time.clock, sleep=time.sleep, seed=1)
    payouts = [payout(100 + n) for n in range(300)]
    results = [transfers.send(provider, p, pacer=pacer, now=T0) for p in payouts]
    assert all(r.transfer_id is not None for r in results)
    assert provider.rate_limited == 0
    at = [t for _, _, t in provider.log]
    assert most_calls_in_a_second(at) <= 50 + 5  # the rate, and a burst of 0.1 s at most
    assert (len(at) - 1) / (at[-1] - at[0]) >= 49  # and no slower than it
    # Told 200/s by its settings, against a limit of 40/s: a few 429s, then the rate it
    # learned keeps them rare; still one transfer per payout.
    time2 = SimTime()
    limited = Scripted(time2, rate_per_s=40)
    eager = Pacer(200, clock=time2.clock, sleep=time2.sleep, seed=1)
    more = [payout(1_000 + n) for n in range(400)]
    done = [transfers.send(limited, p, pacer=eager, now=T0) for p in more]
    assert all(r.transfer_id is not None for r in done)
    assert limited.rate_limited < 0.15 * len(limited.log)
    assert eager.rate_per_s < 60
    assert set(limited.transfer_counts().values()) == {1}
    # Without pacing the same sends meet 429 after 429.
    time3 = SimTime()
    unpaced = Scripted(time3, rate_per_s=40)
    blind = Pacer(10**6, clock=time3.clock, sleep=lambda _s: None, seed=1)
    for p in more[:50]:
        transfers.send(unpaced, p, pacer=blind, now=T0)
    assert unpaced.rate_limited > len(more[:50])


def test_a_provider_without_a_rate_limit_is_not_paced_but_a_429_still_pauses() -> None:
    time = SimTime()
    pacer = Pacer(InMemoryProvider.rate_limit_per_s, clock=time.clock, sleep=time.sleep)
    for _ in range(1_000):
        pacer.wait()
    assert time.now_s == 1_000.0  # not a simulated second spent
    pacer.rate_limited(2.0)
    pacer.wait()
    assert time.now_s == pytest.approx(1_002.0)
    # And through the ledger: the in-memory provider's payouts are not held to 100/s.
    assert getattr(InMemoryProvider(), "rate_limit_per_s", 100.0) is None
    assert not hasattr(StripeLikeProvider(), "rate_limit_per_s")  # paced by the setting


def test_concurrent_senders_against_a_stripe_like_provider_pay_each_payout_once() -> None:
    provider = StripeLikeProvider(
        seed=9, rate_per_s=400, latency_s=(0.001, 0.004), transient_rate=0.2
    )
    payouts = [payout(5_000 + n) for n in range(300)]
    batches: list[int] = []
    outcomes = transfers.send_all(
        provider,
        iter(payouts),
        concurrency=16,
        pacer=Pacer(400),
        now=lambda: T0,
        batch_size=64,
        record=lambda done: batches.append(len(done)),
    )
    assert sum(batches) == len(outcomes) == len(payouts)
    assert max(batches) <= 64
    assert {o.payout.id for o in outcomes} == {p.id for p in payouts}
    assert not [o for o in outcomes if o.failure is not None]
    # Which calls fail depends on the order the 16 senders reach the provider (one seeded
    # draw per call), so a payout may, rarely, exhaust its sends and its last lookup (a 429
    # under load): left unresolved, never paid twice.  The next execution looks it up and
    # resends under the same key, as the executor does; then every payout is paid once.
    unresolved = [o.payout for o in outcomes if not o.resolved]
    assert len(unresolved) <= len(payouts) // 20
    paid = {o.payout.id: o.transfer_id for o in outcomes if o.resolved}
    for _ in range(3):
        for p in [p for p in unresolved if p.id not in paid]:
            again = transfers.send(provider, p, pacer=Pacer(400), now=T0 + timedelta(days=2))
            if again.transfer_id is not None:
                paid[p.id] = again.transfer_id
    assert set(paid) == {p.id for p in payouts}
    assert provider.duplicates() == 0
    assert len(provider.inner.transfers()) == len(payouts)
    assert provider.stats.transient_before + provider.stats.transient_after > 0


class Down(InMemoryProvider):
    """Every transfer request is answered 503 (nothing is done) while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True

    def create_transfer(self, request: TransferRequest) -> Transfer:
        if self.down:
            raise PaymentOutcomeUnknownError("503", http_status=503)
        return super().create_transfer(request)


@pytest.fixture
def ledger(database_url: str) -> Iterator[CreatorLedger]:
    cl = CreatorLedger.open(Settings(database_url=database_url), clock=Clock())
    fund(cl)
    creators(cl, 3, payout_ready=True)
    earn(cl, {"c0": 5_000, "c1": 6_000, "c2": 7_000})
    yield cl
    cl.close()


def test_payouts_whose_outcome_stays_unknown_stay_requested_and_the_next_run_pays_them_once(
    ledger: CreatorLedger,
) -> None:
    provider = Down()
    plan = release(ledger)
    first = ledger.execute(plan.run_id, provider, actor=ACTOR, send_concurrency=3)
    assert (first.paid, first.failed, first.unresolved) == (0, 0, 3)
    assert not first.complete
    status = ledger.payout_status(plan.run_id)
    assert status.by_status == {"requested": 3}
    assert balances(ledger, "c0") == (0, 0, 0)  # in transit, never back to payable
    provider.down = False
    second = ledger.execute(plan.run_id, provider, actor=ACTOR, send_concurrency=3)
    assert (second.paid, second.unresolved) == (3, 0)
    assert set(provider.transfer_counts().values()) == {1}
    assert len(provider.transfers()) == 3
    assert ledger.reconcile_internal().clean


def test_the_provider_rate_setting_is_checked() -> None:
    assert Settings(database_url="memory://").provider_rate_per_s == 100.0
    with pytest.raises(InvalidInputError, match="LEDGER_PROVIDER_RATE_PER_S"):
        Settings.from_env({"LEDGER_PROVIDER_RATE_PER_S": "0"})
