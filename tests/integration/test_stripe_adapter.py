"""StripeConnectProvider -> real stripe.StripeClient -> real HTTP -> the stateful fake on loopback.

The SDK's own retry decisions are real; only its back-off *delays* are shortened (the
``fast_sdk_retries`` fixture) so the suite stays fast.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe

from creator_ledger.adapters.payments.port import PaymentProvider, Transfer, TransferRequest
from creator_ledger.adapters.payments.stripe_connect import API_VERSION, StripeConnectProvider
from creator_ledger.domain.errors import (
    InvalidInputError,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
)
from tests.fakes import FakeStripeServer, Fault, fake_stripe, wait_until

ProviderFactory = Callable[..., StripeConnectProvider]


@pytest.fixture(autouse=True)
def fast_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.05)


@pytest.fixture
def server() -> Iterator[FakeStripeServer]:
    with fake_stripe() as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    """What the adapter's own 429 back-off asked to sleep (it never really sleeps here)."""
    return []


@pytest.fixture
def make_provider(server: FakeStripeServer, sleeps: list[float]) -> Iterator[ProviderFactory]:
    made: list[StripeConnectProvider] = []

    def make(**overrides: Any) -> StripeConnectProvider:
        api_key = overrides.pop("api_key", server.api_key)
        options: dict[str, Any] = {
            "base_url": server.base_url,
            "max_network_retries": 0,
            "connect_timeout_s": 0.5,
            "read_timeout_s": 0.5,
            "rate_limit_retries": 3,
            "rate_limit_backoff_s": 0.01,
            "rate_limit_backoff_max_s": 0.04,
            "sleep": sleeps.append,
        }
        options.update(overrides)
        provider = StripeConnectProvider(api_key, **options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def provider(make_provider: ProviderFactory) -> StripeConnectProvider:
    return make_provider()


@pytest.fixture
def account(server: FakeStripeServer) -> str:
    return server.create_account()


@pytest.fixture
def sdk(server: FakeStripeServer) -> Iterator[stripe.StripeClient]:
    """The bare SDK client, to check the fake's own fidelity."""
    http_client = stripe.RequestsClient(timeout=1)
    yield stripe.StripeClient(
        server.api_key, base_addresses={"api": server.base_url}, http_client=http_client
    )
    http_client.close()  # type: ignore[no-untyped-call]


def request_for(
    account: str, payout_id: str = "po_0001", amount_minor: int = 1_500, **extra: Any
) -> TransferRequest:
    return TransferRequest(
        payout_id=payout_id,
        idempotency_key=f"payout:{payout_id}",
        destination=account,
        amount_minor=amount_minor,
        currency=extra.pop("currency", "USD"),
        metadata=extra.pop("metadata", {"creator_id": "cr_42"}),
        **extra,
    )


def posts(server: FakeStripeServer) -> list[Any]:
    return server.requests_to("POST", "/v1/transfers")


# ------------------------------------------------------------------------------ happy paths


def test_the_provider_satisfies_the_payment_port(provider: StripeConnectProvider) -> None:
    port: PaymentProvider = provider  # checked by mypy, too
    assert isinstance(port, PaymentProvider)


def test_the_pinned_api_version_is_the_one_the_installed_sdk_was_generated_for() -> None:
    assert stripe.api_version == API_VERSION


def test_a_transfer_is_sent_with_lower_case_currency_metadata_group_and_the_key(
    server: FakeStripeServer, provider: StripeConnectProvider, account: str
) -> None:
    transfer = provider.create_transfer(request_for(account))

    assert transfer.payout_id == "po_0001"
    assert transfer.destination == account
    assert (transfer.amount_minor, transfer.currency) == (1_500, "USD")
    assert transfer.created == datetime.fromtimestamp(server.now(), tz=UTC)
    assert transfer.created.tzinfo is UTC
    assert dict(transfer.metadata) == {"creator_id": "cr_42", "payout_id": "po_0001"}
    assert not transfer.reversed
    [sent] = posts(server)
    assert sent.params == {
        "amount": "1500",
        "currency": "usd",
        "destination": account,
        "metadata": {"creator_id": "cr_42", "payout_id": "po_0001"},
        "transfer_group": "po_0001",
    }
    assert sent.idempotency_key == "payout:po_0001"
    assert sent.stripe_version == API_VERSION
    assert server.balance("usd") == 10**12 - 1_500


def test_repeating_a_request_with_the_same_key_returns_the_first_transfer(
    server: FakeStripeServer, provider: StripeConnectProvider, account: str
) -> None:
    first = provider.create_transfer(request_for(account))
    again = provider.create_transfer(request_for(account))

    assert again == first
    assert server.transfer_counts_by_payout() == {"po_0001": 1}
    assert [r.replayed for r in posts(server)] == [False, True]
    assert server.balance("usd") == 10**12 - 1_500


def test_the_same_key_with_other_parameters_is_rejected(
    server: FakeStripeServer, provider: StripeConnectProvider, account: str
) -> None:
    provider.create_transfer(request_for(account, amount_minor=1_500))

    with pytest.raises(PaymentRejectedError) as caught:
        provider.create_transfer(request_for(account, amount_minor=1_501))

    assert caught.value.fields["error_class"] == "IdempotencyError"
    assert caught.value.fields["error_type"] == "idempotency_error"
    assert caught.value.fields["http_status"] == 400
    assert caught.value.fields["payout_id"] == "po_0001"
    assert server.transfer_counts_by_payout() == {"po_0001": 1}


def test_find_transfer_finds_a_transfer_by_payout_id_and_none_for_an_unknown_one(
    server: FakeStripeServer, provider: StripeConnectProvider, account: str
) -> None:
    made = [provider.create_transfer(request_for(account, f"po_{i}")) for i in range(5)]

    assert provider.find_transfer("po_3") == made[3]
    assert provider.find_transfer("po_404") is None
    lookup = server.requests_to("GET", "/v1/transfers")[-1]
    assert lookup.params == {"transfer_group": "po_404", "limit": "100"}


def test_find_transfer_looks_in_a_custom_transfer_group_when_told(
    provider: StripeConnectProvider, account: str
) -> None:
    one = provider.create_transfer(request_for(account, "po_a", transfer_group="run_7"))
    provider.create_transfer(request_for(account, "po_b", transfer_group="run_7"))

    assert provider.find_transfer("po_a") is None  # not in the default group
    assert provider.find_transfer("po_a", transfer_group="run_7") == one


def test_list_transfers_pages_through_exactly_the_created_window(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str
) -> None:
    provider = make_provider(page_size=3)
    start = server.now()
    ids_by_second: dict[int, str] = {}
    for offset in [-10, -1, *range(10), 100, 101]:
        server.set_time(start + offset)
        made = provider.create_transfer(request_for(account, f"po_t{offset}"))
        ids_by_second[offset] = made.transfer_id
    pages_before = len(server.requests_to("GET", "/v1/transfers"))

    window = list(
        provider.list_transfers(
            datetime.fromtimestamp(start, tz=UTC), datetime.fromtimestamp(start + 100, tz=UTC)
        )
    )

    assert [t.transfer_id for t in window] == [ids_by_second[s] for s in reversed(range(10))]
    pages = server.requests_to("GET", "/v1/transfers")[pages_before:]
    assert len(pages) == math.ceil(10 / 3)
    assert pages[0].params["created"] == {"gte": str(start), "lt": str(start + 100)}
    assert [p.params.get("starting_after") for p in pages[1:]] == [
        window[2].transfer_id,
        window[5].transfer_id,
        window[8].transfer_id,
    ]


def test_a_window_with_fractional_seconds_keeps_exactly_the_transfers_inside_it(
    server: FakeStripeServer, provider: StripeConnectProvider, account: str
) -> None:
    start = server.now()
    for offset in (-1, 0, 9, 10):
        server.set_time(start + offset)
        provider.create_transfer(request_for(account, f"po_f{offset}"))
    base = datetime.fromtimestamp(start, tz=UTC)

    found = provider.list_transfers(
        base - timedelta(milliseconds=500), base + timedelta(seconds=9, milliseconds=500)
    )

    assert sorted(t.payout_id or "" for t in found) == ["po_f0", "po_f9"]


def test_a_naive_or_inverted_window_is_refused(provider: StripeConnectProvider) -> None:
    aware = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInputError):
        provider.list_transfers(datetime(2026, 1, 1), aware)  # noqa: DTZ001
    with pytest.raises(InvalidInputError):
        provider.list_balance_transactions(aware, aware - timedelta(seconds=1))


def test_a_reversal_refunds_the_platform_and_replays_under_its_key(
    server: FakeStripeServer, provider: StripeConnectProvider, account: str
) -> None:
    transfer = provider.create_transfer(request_for(account, amount_minor=1_000))

    reversal = provider.reverse_transfer(transfer.transfer_id, 300, "reverse:po_0001:1")
    again = provider.reverse_transfer(transfer.transfer_id, 300, "reverse:po_0001:1")

    assert again == reversal
    assert (reversal.transfer_id, reversal.amount_minor, reversal.currency) == (
        transfer.transfer_id,
        300,
        "USD",
    )
    assert server.balance("usd") == 10**12 - 700
    after = provider.find_transfer("po_0001")
    assert after is not None
    assert after.amount_reversed_minor == 300
    assert after.reversed


def test_a_reversal_is_rejected_once_the_creator_has_paid_the_money_out(
    server: FakeStripeServer, provider: StripeConnectProvider, account: str
) -> None:
    transfer = provider.create_transfer(request_for(account, amount_minor=1_000))
    server.set_account_balance(account, "usd", 0)

    with pytest.raises(PaymentRejectedError) as caught:
        provider.reverse_transfer(transfer.transfer_id, 1_000, "reverse:po_0001:1")

    assert caught.value.fields["code"] == "balance_insufficient"
    assert caught.value.fields["transfer_id"] == transfer.transfer_id


def test_balance_transactions_show_transfers_and_reversals_signed(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str
) -> None:
    provider = make_provider(page_size=1)
    start = server.now()
    transfer = provider.create_transfer(request_for(account, amount_minor=1_000))
    server.advance(5)
    reversal = provider.reverse_transfer(transfer.transfer_id, 250, "reverse:po_0001:1")
    server.advance(5)
    provider.create_transfer(request_for(account, "po_later", amount_minor=1))

    moves = list(
        provider.list_balance_transactions(
            datetime.fromtimestamp(start, tz=UTC), datetime.fromtimestamp(start + 10, tz=UTC)
        )
    )

    assert [(m.type, m.source_id, m.amount_minor, m.currency) for m in moves] == [
        ("transfer_refund", reversal.reversal_id, 250, "USD"),
        ("transfer", transfer.transfer_id, -1_000, "USD"),
    ]
    assert moves[0].created == datetime.fromtimestamp(start + 5, tz=UTC)


def test_connected_account_status_reports_capability_payouts_and_requirements(
    server: FakeStripeServer, provider: StripeConnectProvider
) -> None:
    ready = server.create_account()
    blocked = server.create_account(
        transfers="inactive",
        payouts_enabled=False,
        currently_due=("individual.id_number",),
        past_due=("individual.verification.document",),
        disabled_reason="requirements.past_due",
    )

    ok = provider.connected_account_status(ready)
    bad = provider.connected_account_status(blocked)

    assert (ok.transfers_active, ok.payouts_enabled, ok.can_receive_transfers) == (
        True,
        True,
        True,
    )
    assert ok.requirements_currently_due == ()
    assert (bad.transfers_capability, bad.payouts_enabled, bad.can_receive_transfers) == (
        "inactive",
        False,
        False,
    )
    assert bad.requirements_currently_due == ("individual.id_number",)
    assert bad.requirements_past_due == ("individual.verification.document",)
    assert bad.disabled_reason == "requirements.past_due"
    with pytest.raises(PaymentRejectedError) as caught:
        provider.connected_account_status("acct_missing")
    assert caught.value.fields["http_status"] == 404


# ------------------------------------------------------------------------------ rejections


def test_insufficient_platform_balance_is_rejected_and_nothing_moves(
    server: FakeStripeServer, provider: StripeConnectProvider, account: str
) -> None:
    server.set_balance("usd", 500)

    with pytest.raises(PaymentRejectedError) as caught:
        provider.create_transfer(request_for(account, amount_minor=501))

    assert caught.value.fields["code"] == "balance_insufficient"
    assert caught.value.fields["http_status"] == 400
    assert server.transfers() == []
    assert server.balance("usd") == 500


def test_a_destination_without_the_transfers_capability_is_rejected(
    server: FakeStripeServer, provider: StripeConnectProvider
) -> None:
    pending = server.create_account(transfers="pending")

    with pytest.raises(PaymentRejectedError) as caught:
        provider.create_transfer(request_for(pending))

    assert caught.value.fields["code"] == "insufficient_capabilities_for_transfer"
    assert server.transfers() == []


def test_a_wrong_api_key_is_rejected_as_an_authentication_error(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str
) -> None:
    provider = make_provider(api_key="sk_test_not_the_right_one")

    with pytest.raises(PaymentRejectedError) as caught:
        provider.create_transfer(request_for(account))

    assert caught.value.fields["error_class"] == "AuthenticationError"
    assert caught.value.fields["http_status"] == 401
    assert server.transfers() == []


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"amount_minor": 0}, "more than zero"),
        ({"currency": "usd"}, "upper-case"),
        ({"currency": "XYZ"}, "unknown currency"),
        ({"destination": "ba_123"}, "acct_"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"metadata": {"payout_id": "someone_else"}}, "differs"),
        ({"metadata": {"k" * 41: "v"}}, "metadata key"),
    ],
)
def test_a_malformed_request_is_rejected_before_anything_is_sent(
    server: FakeStripeServer,
    provider: StripeConnectProvider,
    account: str,
    change: dict[str, Any],
    complaint: str,
) -> None:
    fields: dict[str, Any] = {
        "payout_id": "po_1",
        "idempotency_key": "payout:po_1",
        "destination": account,
        "amount_minor": 100,
        "currency": "USD",
        **change,
    }

    with pytest.raises(PaymentRejectedError, match=complaint):
        provider.create_transfer(TransferRequest(**fields))

    assert server.requests() == []


def test_the_fake_rejects_an_unknown_parameter_as_stripe_does(
    server: FakeStripeServer, sdk: stripe.StripeClient, account: str
) -> None:
    params: Any = {"amount": 100, "currency": "usd", "destination": account, "colour": "red"}

    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.transfers.create(params)

    assert caught.value.code == "parameter_unknown"
    assert caught.value.http_status == 400
    assert server.transfers() == []


def test_a_request_option_passed_as_a_parameter_is_an_unknown_parameter(
    server: FakeStripeServer, sdk: stripe.StripeClient, account: str
) -> None:
    # The SDK's TransferCreateParams inherits RequestOptions, so this type-checks, but the SDK
    # sends it as a form field: the key must go in `options`, never in `params`.
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.transfers.create(
            {"amount": 100, "currency": "usd", "destination": account, "idempotency_key": "k"}
        )

    assert caught.value.code == "parameter_unknown"
    assert server.transfers() == []


def test_the_fake_serves_accounts_transfers_reversals_and_balance_as_stripe_does(
    server: FakeStripeServer, sdk: stripe.StripeClient, provider: StripeConnectProvider
) -> None:
    created = sdk.v1.accounts.create(
        {"type": "custom", "country": "FR", "capabilities": {"transfers": {"requested": True}}}
    ).to_dict()
    other = server.create_account()
    made = [
        provider.create_transfer(request_for(created["id"], f"po_{i}", 100 + i, currency="EUR"))
        for i in range(3)
    ]
    provider.create_transfer(request_for(other, "po_other", currency="EUR"))
    reversal = provider.reverse_transfer(made[0].transfer_id, 40, "reverse:po_0")

    assert sdk.v1.accounts.retrieve(created["id"]).to_dict()["capabilities"] == {
        "transfers": "active"
    }
    assert created["id"] in [a.id for a in sdk.v1.accounts.list({"limit": 100}).data]
    fetched = sdk.v1.transfers.retrieve(made[0].transfer_id).to_dict()
    assert (fetched["amount"], fetched["amount_reversed"], fetched["currency"]) == (100, 40, "eur")
    assert [r.id for r in sdk.v1.transfers.reversals.list(made[0].transfer_id).data] == [
        reversal.reversal_id
    ]
    [eur] = [b for b in sdk.v1.balance.retrieve().to_dict()["available"] if b["currency"] == "eur"]
    assert eur["amount"] == server.balance("eur") == 10**12 - (100 + 101 + 102 + 1_500) + 40
    to_creator = sdk.v1.transfers.list({"destination": created["id"], "limit": 100}).data
    assert [t.id for t in to_creator] == [t.transfer_id for t in reversed(made)]
    newer = sdk.v1.transfers.list(
        {"destination": created["id"], "limit": 1, "ending_before": made[0].transfer_id}
    )
    assert [t.id for t in newer.data] == [made[1].transfer_id]
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.transfers.list({"limit": 101})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.transfers.list({"starting_after": "tr_unknown"})
    assert caught.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sdk.v1.transfers.retrieve("tr_unknown")
    assert caught.value.http_status == 404


# ------------------------------------------------------------------------------ faults


def test_a_500_after_commit_leaves_exactly_one_transfer(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str
) -> None:
    provider = make_provider(max_network_retries=2)
    server.faults.push(Fault.ERROR_500_AFTER_COMMIT)

    with pytest.raises(PaymentOutcomeUnknownError) as caught:
        provider.create_transfer(request_for(account))

    assert caught.value.fields["http_status"] == 500
    assert caught.value.fields["error_class"] == "APIError"
    # The SDK retried twice under the same key; Stripe replays the stored 500.
    assert [(r.idempotency_key, r.status, r.replayed) for r in posts(server)] == [
        ("payout:po_0001", 500, False),
        ("payout:po_0001", 500, True),
        ("payout:po_0001", 500, True),
    ]
    found = provider.find_transfer("po_0001")
    assert found is not None
    assert (found.amount_minor, found.destination) == (1_500, account)
    with pytest.raises(PaymentOutcomeUnknownError):
        provider.create_transfer(request_for(account))  # same key: the 500 again, no new send
    assert server.transfer_counts_by_payout() == {"po_0001": 1}
    assert server.transfer_counts_by_idempotency_key() == {"payout:po_0001": 1}


def test_a_timeout_after_commit_is_unknown_until_find_transfer_resolves_it(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str
) -> None:
    provider = make_provider(read_timeout_s=0.3)
    server.faults.push(Fault.TIMEOUT_AFTER_COMMIT, delay_s=0.8)

    with pytest.raises(PaymentOutcomeUnknownError) as caught:
        provider.create_transfer(request_for(account))

    assert caught.value.fields["error_class"] == "APIConnectionError"
    assert caught.value.fields["http_status"] is None
    found = provider.find_transfer("po_0001")
    assert found is not None
    assert provider.create_transfer(request_for(account)) == found
    assert server.transfer_counts_by_payout() == {"po_0001": 1}


def test_the_sdk_retries_a_timeout_under_the_same_key_and_gets_the_first_transfer(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str
) -> None:
    provider = make_provider(read_timeout_s=0.3, max_network_retries=2)
    server.faults.push(Fault.TIMEOUT_AFTER_COMMIT, delay_s=0.8)

    transfer = provider.create_transfer(request_for(account))

    assert server.transfers()[0]["id"] == transfer.transfer_id
    assert wait_until(lambda: len(posts(server)) == 2)  # the first reply is still held back
    assert [(r.idempotency_key, r.replayed) for r in posts(server)] == [
        ("payout:po_0001", False),
        ("payout:po_0001", True),
    ]
    assert server.transfer_counts_by_payout() == {"po_0001": 1}


def test_a_retry_while_the_first_attempt_still_runs_gets_409_and_stays_unknown(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str
) -> None:
    provider = make_provider(read_timeout_s=0.3, max_network_retries=1)
    server.faults.push(Fault.TIMEOUT_BEFORE_COMMIT, delay_s=0.8)

    with pytest.raises(PaymentOutcomeUnknownError) as caught:
        provider.create_transfer(request_for(account))

    assert caught.value.fields["http_status"] == 409
    assert provider.find_transfer("po_0001") is None  # not committed yet: still unknown
    assert wait_until(lambda: len(server.transfers()) == 1, timeout_s=2.0)
    assert provider.find_transfer("po_0001") is not None
    assert server.transfer_counts_by_payout() == {"po_0001": 1}


def test_a_429_is_retried_with_backoff_under_the_same_key_then_succeeds(
    server: FakeStripeServer, provider: StripeConnectProvider, account: str, sleeps: list[float]
) -> None:
    server.faults.push(Fault.RATE_LIMIT, times=2)

    transfer = provider.create_transfer(request_for(account))

    assert sleeps == [0.01, 0.02]
    assert [(r.status, r.idempotency_key) for r in posts(server)] == [
        (429, "payout:po_0001"),
        (429, "payout:po_0001"),
        (200, "payout:po_0001"),
    ]
    assert server.transfer_counts_by_payout() == {"po_0001": 1}
    assert transfer.transfer_id == server.transfers()[0]["id"]


def test_a_429_that_never_ends_is_outcome_unknown_after_the_bounded_retries(
    server: FakeStripeServer, provider: StripeConnectProvider, account: str, sleeps: list[float]
) -> None:
    server.faults.push(Fault.RATE_LIMIT, times=10)

    with pytest.raises(PaymentOutcomeUnknownError) as caught:
        provider.create_transfer(request_for(account))

    assert caught.value.fields["error_class"] == "RateLimitError"
    assert caught.value.fields["attempts"] == 4
    assert sleeps == [0.01, 0.02, 0.04]  # exponential, capped at rate_limit_backoff_max_s
    assert len(posts(server)) == 4
    assert server.faults.pending() == 6
    assert server.transfers() == []


def test_a_429_with_stripe_should_retry_is_retried_by_the_sdk_itself(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str, sleeps: list[float]
) -> None:
    provider = make_provider(max_network_retries=2)
    server.faults.push(Fault.RATE_LIMIT, should_retry=True)

    provider.create_transfer(request_for(account))

    assert sleeps == []  # the SDK handled it; the adapter's back-off was not needed
    assert [r.status for r in posts(server)] == [429, 200]


def test_a_connection_reset_before_commit_is_retried_by_the_sdk_and_pays_once(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str
) -> None:
    provider = make_provider(max_network_retries=2)
    server.faults.push(Fault.RESET_BEFORE_COMMIT)

    provider.create_transfer(request_for(account))

    assert [r.status for r in posts(server)] == [None, 200]
    assert server.transfer_counts_by_payout() == {"po_0001": 1}


def test_a_connection_reset_after_commit_is_unknown_and_leaves_one_transfer(
    server: FakeStripeServer, provider: StripeConnectProvider, account: str
) -> None:
    server.faults.push(Fault.RESET_AFTER_COMMIT)

    with pytest.raises(PaymentOutcomeUnknownError) as caught:
        provider.create_transfer(request_for(account))

    assert caught.value.fields["error_class"] == "APIConnectionError"
    assert len(server.transfers()) == 1
    found = provider.find_transfer("po_0001")
    assert found is not None
    assert provider.create_transfer(request_for(account)) == found
    assert server.transfer_counts_by_payout() == {"po_0001": 1}


def test_a_500_before_commit_is_retried_by_the_sdk_and_pays_once(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str
) -> None:
    provider = make_provider(max_network_retries=2)
    server.faults.push(Fault.ERROR_500_BEFORE_COMMIT)

    provider.create_transfer(request_for(account))

    assert [r.status for r in posts(server)] == [500, 200]
    assert server.transfer_counts_by_payout() == {"po_0001": 1}


def test_a_429_while_listing_is_retried_and_the_listing_completes(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str, sleeps: list[float]
) -> None:
    provider = make_provider(page_size=2)
    for i in range(5):
        provider.create_transfer(request_for(account, f"po_{i}"))
    server.faults.push(Fault.RATE_LIMIT, method="GET", path="/v1/transfers")
    start = datetime.fromtimestamp(server.now(), tz=UTC)

    listed = list(provider.list_transfers(start, start + timedelta(seconds=1)))

    assert sorted(t.payout_id or "" for t in listed) == [f"po_{i}" for i in range(5)]
    assert sleeps == [0.01]


def test_an_unreachable_provider_is_outcome_unknown(make_provider: ProviderFactory) -> None:
    with fake_stripe() as gone:
        url = gone.base_url
    provider = make_provider(base_url=url)

    with pytest.raises(PaymentOutcomeUnknownError) as caught:
        provider.create_transfer(request_for("acct_x"))

    assert caught.value.fields["error_class"] == "APIConnectionError"


def test_concurrent_sends_of_one_payout_make_exactly_one_transfer(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str
) -> None:
    provider = make_provider(max_network_retries=3)
    results: list[Transfer | Exception] = []
    lock = threading.Lock()

    def send() -> None:
        try:
            outcome: Transfer | Exception = provider.create_transfer(request_for(account))
        except PaymentOutcomeUnknownError as exc:  # a 409 that outlived the retries
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(results) == 8
    transfers = {r.transfer_id for r in results if isinstance(r, Transfer)}
    assert len(transfers) <= 1
    assert server.transfer_counts_by_payout() == {"po_0001": 1}
    assert server.balance("usd") == 10**12 - 1_500


@pytest.mark.parametrize(
    ("api_key", "options"),
    [
        ("pk_test_publishable", {}),
        ("sk_test_x", {"read_timeout_s": 0}),
        ("sk_test_x", {"connect_timeout_s": 600}),
        ("sk_test_x", {"max_network_retries": -1}),
        ("sk_test_x", {"rate_limit_retries": 11}),
        ("sk_test_x", {"page_size": 101}),
    ],
)
def test_an_unbounded_or_wrong_configuration_is_refused(
    api_key: str, options: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInputError):
        StripeConnectProvider(api_key, **options)
