"""InMemoryProvider: the port's semantics (idempotency, balance, faults) without a network."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.adapters.payments.port import PaymentProvider, Transfer, TransferRequest
from creator_ledger.domain.errors import (
    InvalidInputError,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class StepClock:
    """A clock that reads ``now`` and can be moved by the test."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def request_for(
    payout_id: str = "po_1", amount_minor: int = 1_000, **extra: Any
) -> TransferRequest:
    return TransferRequest(
        payout_id=payout_id,
        idempotency_key=extra.pop("idempotency_key", f"payout:{payout_id}"),
        destination=extra.pop("destination", "acct_creator"),
        amount_minor=amount_minor,
        currency=extra.pop("currency", "EUR"),
        **extra,
    )


def test_the_provider_satisfies_the_payment_port() -> None:
    port: PaymentProvider = InMemoryProvider()  # checked by mypy, too
    assert isinstance(port, PaymentProvider)


def test_a_transfer_gets_a_deterministic_id_and_draws_the_balance_down() -> None:
    provider = InMemoryProvider(clock=StepClock(), balances_minor={"EUR": 5_000})

    first = provider.create_transfer(request_for("po_1", 1_000))
    second = provider.create_transfer(request_for("po_2", 1_500))

    assert (first.transfer_id, second.transfer_id) == ("tr_mem_000001", "tr_mem_000002")
    assert first.created == T0
    assert dict(first.metadata) == {"payout_id": "po_1"}
    assert provider.balance("EUR") == 2_500
    moves = list(provider.list_balance_transactions(T0, T0 + timedelta(seconds=1)))
    assert [(m.type, m.source_id, m.amount_minor) for m in moves] == [
        ("transfer", "tr_mem_000001", -1_000),
        ("transfer", "tr_mem_000002", -1_500),
    ]


def test_the_same_key_and_parameters_replay_the_first_transfer() -> None:
    provider = InMemoryProvider(balances_minor={"EUR": 5_000})

    first = provider.create_transfer(request_for())
    again = provider.create_transfer(request_for())

    assert again == first
    assert provider.transfer_count("po_1") == 1
    assert provider.balance("EUR") == 4_000


def test_the_same_key_with_other_parameters_is_rejected() -> None:
    provider = InMemoryProvider()
    provider.create_transfer(request_for(amount_minor=1_000))

    with pytest.raises(PaymentRejectedError, match="other parameters"):
        provider.create_transfer(request_for(amount_minor=1_001))

    assert provider.transfer_count("po_1") == 1


def test_insufficient_platform_balance_is_rejected_and_stays_the_outcome_of_that_key() -> None:
    provider = InMemoryProvider(balances_minor={"EUR": 999})

    with pytest.raises(PaymentRejectedError, match="insufficient platform balance") as caught:
        provider.create_transfer(request_for(amount_minor=1_000))
    provider.set_balance("EUR", 10_000)
    with pytest.raises(PaymentRejectedError, match="insufficient platform balance"):
        provider.create_transfer(request_for(amount_minor=1_000))  # replayed, as on Stripe

    assert caught.value.fields["code"] == "balance_insufficient"
    assert provider.transfers() == []
    paid = provider.create_transfer(request_for(amount_minor=1_000, idempotency_key="k2"))
    assert paid.amount_minor == 1_000
    assert provider.balance("EUR") == 9_000


def test_a_rejected_destination_is_rejected() -> None:
    provider = InMemoryProvider(rejected_destinations=["acct_closed"])

    with pytest.raises(PaymentRejectedError) as caught:
        provider.create_transfer(request_for(destination="acct_closed"))

    assert caught.value.fields["code"] == "destination_rejected"
    assert provider.transfers() == []


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"amount_minor": 0}, "more than zero"),
        ({"amount_minor": 2**63}, "64-bit"),
        ({"currency": "eur"}, "upper-case"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"metadata": {"payout_id": "po_other"}}, "differs"),
    ],
)
def test_a_malformed_request_is_rejected_and_nothing_happens(
    change: dict[str, Any], complaint: str
) -> None:
    provider = InMemoryProvider()
    fields: dict[str, Any] = {
        "payout_id": "po_1",
        "idempotency_key": "payout:po_1",
        "destination": "acct_creator",
        "amount_minor": 100,
        "currency": "EUR",
        **change,
    }

    with pytest.raises(PaymentRejectedError, match=complaint):
        provider.create_transfer(TransferRequest(**fields))

    assert provider.transfers() == []


def test_a_failure_after_commit_leaves_a_transfer_the_caller_can_find_and_replay() -> None:
    provider = InMemoryProvider()
    provider.fail_after_commit(times=2)

    for _ in range(2):
        with pytest.raises(PaymentOutcomeUnknownError) as caught:
            provider.create_transfer(request_for())
        assert caught.value.fields["committed"] is True

    found = provider.find_transfer("po_1")
    assert found is not None
    assert provider.create_transfer(request_for()) == found
    assert provider.transfer_counts() == {"po_1": 1}
    assert provider.calls == 3


def test_a_failure_before_commit_does_nothing() -> None:
    provider = InMemoryProvider(balances_minor={"EUR": 1_000})
    provider.fail_before_commit()

    with pytest.raises(PaymentOutcomeUnknownError) as caught:
        provider.create_transfer(request_for())

    assert caught.value.fields["committed"] is False
    assert provider.find_transfer("po_1") is None
    assert provider.balance("EUR") == 1_000
    assert provider.create_transfer(request_for()).transfer_id == "tr_mem_000001"


def test_a_reversal_refunds_the_platform_replays_and_cannot_exceed_the_transfer() -> None:
    clock = StepClock()
    provider = InMemoryProvider(clock=clock, balances_minor={"EUR": 1_000})
    transfer = provider.create_transfer(request_for(amount_minor=600))
    clock.now = T0 + timedelta(minutes=1)

    reversal = provider.reverse_transfer(transfer.transfer_id, 200, "rev:1")
    again = provider.reverse_transfer(transfer.transfer_id, 200, "rev:1")

    assert again == reversal
    assert (reversal.reversal_id, reversal.amount_minor, reversal.created) == (
        "trr_mem_000001",
        200,
        clock.now,
    )
    assert provider.balance("EUR") == 600
    after = provider.find_transfer("po_1")
    assert after is not None
    assert after.amount_reversed_minor == 200
    with pytest.raises(PaymentRejectedError, match="only 400"):
        provider.reverse_transfer(transfer.transfer_id, 401, "rev:2")
    with pytest.raises(PaymentRejectedError, match="no such transfer"):
        provider.reverse_transfer("tr_nope", 1, "rev:3")
    with pytest.raises(PaymentRejectedError, match="other parameters"):
        provider.reverse_transfer(transfer.transfer_id, 300, "rev:1")
    moves = list(provider.list_balance_transactions(T0, T0 + timedelta(hours=1)))
    assert [(m.type, m.amount_minor) for m in moves] == [
        ("transfer", -600),
        ("transfer_refund", 200),
    ]


def test_listing_keeps_exactly_the_half_open_window() -> None:
    clock = StepClock()
    provider = InMemoryProvider(clock=clock)
    for minute in (0, 1, 2):
        clock.now = T0 + timedelta(minutes=minute)
        provider.create_transfer(request_for(f"po_{minute}"))

    window = provider.list_transfers(T0 + timedelta(minutes=1), T0 + timedelta(minutes=2))

    assert [t.payout_id for t in window] == ["po_1"]
    with pytest.raises(InvalidInputError):
        provider.list_transfers(datetime(2026, 1, 1), T0)  # noqa: DTZ001


def test_a_clock_without_a_timezone_is_refused() -> None:
    provider = InMemoryProvider(clock=lambda: datetime(2026, 1, 1))  # noqa: DTZ001

    with pytest.raises(InvalidInputError, match="timezone-aware"):
        provider.create_transfer(request_for())


def test_concurrent_sends_of_one_payout_make_one_transfer_and_others_add_up() -> None:
    provider = InMemoryProvider(balances_minor={"EUR": 1_000_000})
    results: list[Transfer] = []
    lock = threading.Lock()

    def run(make: Callable[[], TransferRequest]) -> None:
        transfer = provider.create_transfer(make())
        with lock:
            results.append(transfer)

    same = [threading.Thread(target=run, args=(request_for,)) for _ in range(8)]
    distinct = [
        threading.Thread(target=run, args=(lambda i=i: request_for(f"po_d{i}", 10),))
        for i in range(20)
    ]
    for thread in same + distinct:
        thread.start()
    for thread in same + distinct:
        thread.join(timeout=5)

    assert len(results) == 28
    assert len({t.transfer_id for t in results if t.payout_id == "po_1"}) == 1
    assert provider.transfer_count("po_1") == 1
    assert provider.balance("EUR") == 1_000_000 - 1_000 - 20 * 10


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=5), st.booleans()),
        min_size=1,
        max_size=30,
    )
)
def test_any_sequence_of_sends_and_retries_pays_each_payout_at_most_once(
    steps: list[tuple[int, bool]],
) -> None:
    provider = InMemoryProvider(balances_minor={"EUR": 10**9})
    paid: dict[str, int] = {}
    for payout, lose_the_answer in steps:
        payout_id = f"po_{payout}"
        amount = 100 + payout
        if lose_the_answer:
            provider.fail_after_commit()
        try:
            transfer = provider.create_transfer(request_for(payout_id, amount))
        except PaymentOutcomeUnknownError:
            found = provider.find_transfer(payout_id)
            assert found is not None
            transfer = found
        paid[payout_id] = transfer.amount_minor

    assert provider.transfer_counts() == dict.fromkeys(paid, 1)
    assert provider.balance("EUR") == 10**9 - sum(paid.values())
