"""The Stripe adapter's modules: one idea each, small, and the names the application imports stay
where it imports them from; no Stripe type in the provider's public signatures."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

import pytest

from creator_ledger.adapters.payments import stripe_connect
from creator_ledger.adapters.payments.stripe_connect import StripeConnectProvider

PAYMENTS = Path(__file__).resolve().parents[2] / "adapters" / "payments"
MAX_MODULE_LINES = 400


@pytest.mark.parametrize("module", sorted(p.name for p in PAYMENTS.glob("*.py")))
def test_no_payments_module_passes_the_split_threshold(module: str) -> None:
    lines = (PAYMENTS / module).read_text(encoding="utf-8").count("\n")

    assert lines <= MAX_MODULE_LINES, f"{module} has {lines} lines; split it by idea"


@pytest.mark.parametrize(
    "name",
    [
        "StripeConnectProvider",
        "StripeTransportOptions",
        "API_VERSION",
        "ConnectedAccountStatus",
        "DEFAULT_MAX_NETWORK_RETRIES",
        "DEFAULT_CONNECT_TIMEOUT_S",
        "DEFAULT_READ_TIMEOUT_S",
        "DEFAULT_RATE_LIMIT_RETRIES",
        "DEFAULT_RATE_LIMIT_BACKOFF_S",
        "DEFAULT_RATE_LIMIT_BACKOFF_MAX_S",
    ],
)
def test_the_names_the_application_imports_stay_in_stripe_connect(name: str) -> None:
    assert name in stripe_connect.__all__
    assert getattr(stripe_connect, name) is not None


def test_the_defaults_are_the_documented_ones() -> None:
    assert (
        stripe_connect.DEFAULT_MAX_NETWORK_RETRIES,
        stripe_connect.DEFAULT_CONNECT_TIMEOUT_S,
        stripe_connect.DEFAULT_READ_TIMEOUT_S,
        stripe_connect.DEFAULT_RATE_LIMIT_RETRIES,
        stripe_connect.DEFAULT_RATE_LIMIT_BACKOFF_S,
        stripe_connect.DEFAULT_RATE_LIMIT_BACKOFF_MAX_S,
    ) == (2, 3.0, 15.0, 4, 0.5, 8.0)


def _public_methods() -> list[str]:
    return [
        name
        for name, member in inspect.getmembers(StripeConnectProvider, inspect.isfunction)
        if not name.startswith("_")
    ]


@pytest.mark.parametrize("method", _public_methods())
def test_no_stripe_type_appears_in_a_public_signature_of_the_provider(method: str) -> None:
    hints = typing.get_type_hints(getattr(StripeConnectProvider, method))

    leaking = {
        name: hint
        for name, hint in hints.items()
        if "stripe." in repr(hint).replace("creator_ledger.adapters.payments.stripe_", "")
    }
    assert leaking == {}
