"""The bench's Stripe-like provider: its token bucket and what a caller sees (429s with a
retry-after, transient errors before and after the provider acted)."""

from __future__ import annotations

import pytest

from bench.stripe_like import StripeLikeProvider, TokenBucket
from creator_ledger.adapters.payments.port import TransferRequest
from creator_ledger.domain.errors import PaymentOutcomeUnknownError


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def request(n: int = 1) -> TransferRequest:
    return TransferRequest(
        payout_id=f"p{n}",
        idempotency_key=f"key-{n}",
        destination="acct_1",
        amount_minor=1_000,
        currency="USD",
    )


def test_a_token_bucket_serves_its_capacity_at_once_then_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, 10, clock=clock)
    assert [bucket.try_take() for _ in range(10)] == [0.0] * 10
    wait = bucket.try_take()
    assert wait == pytest.approx(0.01)
    clock.now += 0.05
    assert [bucket.try_take() == 0.0 for _ in range(6)] == [True] * 5 + [False]


def test_a_token_bucket_never_saves_more_than_its_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, 10, clock=clock)
    clock.now += 3600
    served = sum(1 for _ in range(50) if bucket.try_take() == 0.0)
    assert served == 10


def test_beyond_the_rate_limit_a_call_gets_429_with_retry_after_and_nothing_happens() -> None:
    clock = FakeClock()
    slept: list[float] = []
    provider = StripeLikeProvider(
        rate_per_s=10, transient_rate=0.0, sleep=slept.append, clock=clock
    )  # burst: 1 token
    provider.create_transfer(request(1))
    with pytest.raises(PaymentOutcomeUnknownError) as caught:
        provider.create_transfer(request(2))
    assert caught.value.fields["http_status"] == 429
    assert caught.value.fields["retry_after_s"] == pytest.approx(0.1)
    assert provider.inner.find_transfer("p2") is None
    assert provider.stats.rate_limited == 1
    assert len(slept) == 2
    assert all(0.150 <= s <= 0.300 for s in slept)
    clock.now += 0.1
    assert provider.create_transfer(request(2)).payout_id == "p2"


def test_transient_errors_come_before_or_after_the_provider_acted() -> None:
    provider = StripeLikeProvider(
        rate_per_s=1_000_000, transient_rate=1.0, sleep=lambda _s: None, seed=1
    )
    for n in range(40):
        with pytest.raises(PaymentOutcomeUnknownError):
            provider.create_transfer(request(n))
    made = {t.payout_id for t in provider.inner.transfers()}
    stats = provider.stats
    assert stats.transient_before + stats.transient_after == 40
    assert stats.transient_before > 0
    assert stats.transient_after > 0
    assert len(made) == stats.transient_after


def test_retrying_under_the_same_key_never_makes_a_second_transfer() -> None:
    provider = StripeLikeProvider(
        rate_per_s=1_000_000, transient_rate=0.5, sleep=lambda _s: None, seed=2
    )
    for _ in range(20):
        try:
            provider.create_transfer(request(7))
        except PaymentOutcomeUnknownError:
            continue
    assert provider.inner.transfer_count("p7") == 1
    assert provider.duplicates() == 0
