"""How the Stripe adapter talks to Stripe, over real HTTP to the fake: Retry-After on 429, the
transport options as one value (timeouts that really apply), and an API key that never shows in
an error or a log."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stripe

from creator_ledger.adapters.payments.port import TransferRequest
from creator_ledger.adapters.payments.stripe_connect import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_MAX_NETWORK_RETRIES,
    DEFAULT_RATE_LIMIT_BACKOFF_MAX_S,
    DEFAULT_RATE_LIMIT_BACKOFF_S,
    DEFAULT_RATE_LIMIT_RETRIES,
    DEFAULT_READ_TIMEOUT_S,
    StripeConnectProvider,
    StripeTransportOptions,
)
from creator_ledger.adapters.payments.stripe_transport import retry_after_s
from creator_ledger.domain.errors import (
    InvalidInputError,
    LedgerError,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
)
from tests.fakes import FakeStripeServer, Fault, fake_stripe

SECRET_KEY = "sk_test_SECRETSECRETSECRETcreatorledger51Ab"
WRONG_KEY = "sk_test_SECRETSECRETWRONGcreatorledger77Zz"
FAST = StripeTransportOptions(
    max_network_retries=0,
    connect_timeout_s=0.5,
    read_timeout_s=0.5,
    rate_limit_retries=3,
    rate_limit_backoff_s=0.01,
    rate_limit_backoff_max_s=8.0,
)


@pytest.fixture(autouse=True)
def fast_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(stripe.HTTPClient, "MAX_DELAY", 0.05)


@pytest.fixture
def server() -> Iterator[FakeStripeServer]:
    with fake_stripe(api_key=SECRET_KEY) as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


ProviderFactory = Callable[..., StripeConnectProvider]


@pytest.fixture
def make_provider(server: FakeStripeServer, sleeps: list[float]) -> Iterator[ProviderFactory]:
    made: list[StripeConnectProvider] = []

    def make(transport: StripeTransportOptions = FAST, **options: Any) -> StripeConnectProvider:
        options.setdefault("base_url", server.base_url)
        options.setdefault("sleep", sleeps.append)
        api_key = options.pop("api_key", SECRET_KEY)
        provider = StripeConnectProvider.from_transport_options(api_key, transport, **options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


@pytest.fixture
def account(server: FakeStripeServer) -> str:
    return server.create_account()


def request_for(account: str, payout_id: str = "po_0001", **changes: Any) -> TransferRequest:
    fields: dict[str, Any] = {
        "payout_id": payout_id,
        "idempotency_key": f"payout:{payout_id}",
        "destination": account,
        "amount_minor": 1_500,
        "currency": "USD",
        **changes,
    }
    return TransferRequest(**fields)


def posts(server: FakeStripeServer) -> list[Any]:
    return server.requests_to("POST", "/v1/transfers")


# ------------------------------------------------------------------------------ Retry-After


def test_a_429_with_retry_after_waits_what_stripe_asks_before_the_retry(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str, sleeps: list[float]
) -> None:
    server.faults.push(Fault.RATE_LIMIT, retry_after_s=1)

    transfer = make_provider().create_transfer(request_for(account))

    assert sleeps == [1.0]  # not the adapter's own 0.01 s
    assert [(r.status, r.idempotency_key) for r in posts(server)] == [
        (429, "payout:po_0001"),
        (200, "payout:po_0001"),
    ]
    assert server.transfer_counts_by_payout() == {"po_0001": 1}
    assert transfer.transfer_id == server.transfers()[0]["id"]


def test_each_retry_after_is_honoured_in_turn(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str, sleeps: list[float]
) -> None:
    server.faults.push(Fault.RATE_LIMIT, retry_after_s=2)
    server.faults.push(Fault.RATE_LIMIT, retry_after_s=0.5)
    server.faults.push(Fault.RATE_LIMIT)  # no header: the adapter's own backoff (3rd attempt)

    make_provider().create_transfer(request_for(account))

    assert sleeps == [2.0, 0.5, 0.04]


def test_a_retry_after_beyond_the_cap_waits_only_the_cap(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str, sleeps: list[float]
) -> None:
    capped = StripeTransportOptions(
        max_network_retries=0,
        read_timeout_s=0.5,
        rate_limit_retries=1,
        rate_limit_backoff_s=0.01,
        rate_limit_backoff_max_s=2.0,
    )
    server.faults.push(Fault.RATE_LIMIT, retry_after_s=3_600)

    make_provider(capped).create_transfer(request_for(account))

    assert sleeps == [2.0]


def test_no_wait_follows_the_last_429_when_no_retry_is_left(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str, sleeps: list[float]
) -> None:
    server.faults.push(Fault.RATE_LIMIT, times=4, retry_after_s=1)

    with pytest.raises(PaymentOutcomeUnknownError) as caught:
        make_provider().create_transfer(request_for(account))

    assert caught.value.fields["error_class"] == "RateLimitError"
    assert caught.value.fields["attempts"] == 4
    assert sleeps == [1.0, 1.0, 1.0]
    assert server.transfers() == []


def test_a_retry_after_while_listing_is_honoured_too(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str, sleeps: list[float]
) -> None:
    provider = make_provider()
    provider.create_transfer(request_for(account))
    server.faults.push(Fault.RATE_LIMIT, method="GET", path="/v1/transfers", retry_after_s=1)

    assert provider.find_transfer("po_0001") is not None
    assert sleeps == [1.0]


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "1"}, 1.0),
        ({"retry-after": " 2 "}, 2.0),
        ({"RETRY-AFTER": "0.25"}, 0.25),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({"Retry-After": "-1"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "1e9"}, None),
        ({"Request-Id": "req_1"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_delta_seconds_only(
    headers: dict[str, str] | None, seconds: float | None
) -> None:
    assert retry_after_s(headers) == seconds


def test_without_retry_after_the_backoff_is_exponential_and_capped() -> None:
    options = StripeTransportOptions(rate_limit_backoff_s=0.5, rate_limit_backoff_max_s=8.0)

    assert [options.rate_limit_wait_s(n, None) for n in (1, 2, 3, 4, 5, 6)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        8.0,
    ]
    assert options.rate_limit_wait_s(1, 1.0) == 1.0


# ------------------------------------------------------------------------------ options


def test_the_transport_defaults_are_the_adapters_defaults() -> None:
    assert StripeTransportOptions() == StripeTransportOptions(
        max_network_retries=DEFAULT_MAX_NETWORK_RETRIES,
        connect_timeout_s=DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s=DEFAULT_READ_TIMEOUT_S,
        rate_limit_retries=DEFAULT_RATE_LIMIT_RETRIES,
        rate_limit_backoff_s=DEFAULT_RATE_LIMIT_BACKOFF_S,
        rate_limit_backoff_max_s=DEFAULT_RATE_LIMIT_BACKOFF_MAX_S,
    )
    assert StripeConnectProvider("sk_test_x").transport == StripeTransportOptions()


def test_the_options_are_frozen() -> None:
    options = StripeTransportOptions()

    with pytest.raises(AttributeError):
        options.read_timeout_s = 99  # type: ignore[misc]


@pytest.mark.parametrize(
    "change",
    [
        {"max_network_retries": -1},
        {"max_network_retries": 11},
        {"max_network_retries": True},
        {"max_network_retries": 1.0},
        {"rate_limit_retries": 11},
        {"connect_timeout_s": 0},
        {"connect_timeout_s": 121},
        {"read_timeout_s": math.nan},
        {"read_timeout_s": math.inf},
        {"read_timeout_s": "5"},
        {"read_timeout_s": False},
        {"rate_limit_backoff_s": -0.1},
        {"rate_limit_backoff_s": 9.0},  # beyond the default cap of 8 s
        {"rate_limit_backoff_max_s": 0},
    ],
)
def test_an_unbounded_or_mistyped_option_is_refused_naming_it(change: dict[str, Any]) -> None:
    [name] = change

    with pytest.raises(InvalidInputError, match=name) as caught:
        StripeTransportOptions(**change)

    assert caught.value.fields["field"] == name


def test_a_provider_built_from_options_uses_them(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str
) -> None:
    retrying = StripeTransportOptions(max_network_retries=2, read_timeout_s=0.5)
    server.faults.push(Fault.ERROR_500_BEFORE_COMMIT, times=2)

    provider = make_provider(retrying)
    provider.create_transfer(request_for(account))

    assert provider.transport == retrying
    assert [r.status for r in posts(server)] == [500, 500, 200]  # the SDK's retries, as set


def test_from_transport_options_refuses_anything_but_the_options() -> None:
    with pytest.raises(InvalidInputError, match="StripeTransportOptions"):
        StripeConnectProvider.from_transport_options("sk_test_x", {"read_timeout_s": 1})  # type: ignore[arg-type]


def test_a_hung_call_is_outcome_unknown_after_about_the_configured_read_timeout(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str
) -> None:
    server.faults.push(Fault.TIMEOUT_BEFORE_COMMIT, delay_s=10)
    provider = make_provider(StripeTransportOptions(max_network_retries=0, read_timeout_s=0.5))

    started = time.monotonic()
    with pytest.raises(PaymentOutcomeUnknownError) as caught:
        provider.create_transfer(request_for(account))
    elapsed_s = time.monotonic() - started

    assert 0.4 <= elapsed_s < 2.5, f"gave up after {elapsed_s:.2f} s"
    assert caught.value.fields["error_class"] == "APIConnectionError"


# ------------------------------------------------------------------------------ the API key


def _no_key_in(error: LedgerError, key: str, records: list[logging.LogRecord]) -> None:
    secret_part = key.split("_", 2)[2][:-4]  # the part Stripe never shows
    texts = [
        str(error),
        repr(error),
        error.message,
        json.dumps(error.to_dict(), default=str),
        *(str(value) for value in error.fields.values()),
        *(record.getMessage() for record in records),
        *(str(record.args) for record in records),
    ]
    leaks = [t for t in texts if key in t or secret_part in t]
    assert leaks == []


def _provoke(kind: str, server: FakeStripeServer, make: ProviderFactory, account: str) -> Any:
    provider = make()
    if kind == "authentication":
        return make(api_key=WRONG_KEY).create_transfer(request_for(account))
    if kind == "400 insufficient balance":
        server.set_balance("usd", 1)
        return provider.create_transfer(request_for(account))
    if kind == "400 idempotency mismatch":
        provider.create_transfer(request_for(account))
        return provider.create_transfer(request_for(account, amount_minor=2))
    if kind == "404 account":
        return provider.connected_account_status("acct_missing")
    if kind == "local rejection":
        return provider.create_transfer(request_for(account, currency="XYZ"))
    faults = {
        "429": Fault.RATE_LIMIT,
        "500": Fault.ERROR_500_AFTER_COMMIT,
        "timeout": Fault.TIMEOUT_AFTER_COMMIT,
        "reset": Fault.RESET_AFTER_COMMIT,
    }
    server.faults.push(faults[kind], times=4, delay_s=2, retry_after_s=None)
    return provider.create_transfer(request_for(account))


@pytest.mark.parametrize(
    ("kind", "error_class"),
    [
        ("authentication", PaymentRejectedError),
        ("400 insufficient balance", PaymentRejectedError),
        ("400 idempotency mismatch", PaymentRejectedError),
        ("404 account", PaymentRejectedError),
        ("local rejection", PaymentRejectedError),
        ("429", PaymentOutcomeUnknownError),
        ("500", PaymentOutcomeUnknownError),
        ("timeout", PaymentOutcomeUnknownError),
        ("reset", PaymentOutcomeUnknownError),
    ],
)
def test_no_error_and_no_log_record_contains_the_api_key(
    server: FakeStripeServer,
    make_provider: ProviderFactory,
    account: str,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    error_class: type[LedgerError],
) -> None:
    caplog.set_level(logging.DEBUG)
    key = WRONG_KEY if kind == "authentication" else SECRET_KEY

    with pytest.raises(error_class) as caught:
        _provoke(kind, server, make_provider, account)

    if kind != "local rejection":  # that one never reaches the SDK
        assert caplog.records  # the SDK did log: what it logged is checked, not silence
    _no_key_in(caught.value, key, caplog.records)


def test_an_unreachable_provider_does_not_show_the_api_key_either(
    make_provider: ProviderFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with fake_stripe(api_key=SECRET_KEY) as gone:
        url = gone.base_url

    with pytest.raises(PaymentOutcomeUnknownError) as caught:
        make_provider(base_url=url).create_transfer(request_for("acct_x"))

    _no_key_in(caught.value, SECRET_KEY, caplog.records)


def test_a_key_echoed_whole_by_the_server_is_masked_in_the_error(
    server: FakeStripeServer, make_provider: ProviderFactory, account: str
) -> None:
    server.echo_api_key_in_errors = True

    with pytest.raises(PaymentRejectedError) as caught:
        make_provider(api_key=WRONG_KEY).create_transfer(request_for(account))

    _no_key_in(caught.value, WRONG_KEY, [])
    assert "Invalid API Key provided: sk_test_****77Zz" in caught.value.message
    assert caught.value.fields["http_status"] == 401
