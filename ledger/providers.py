"""The composition root of payment providers: settings -> a :class:`PaymentProvider`."""

from __future__ import annotations

import stripe

from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.adapters.payments.port import PaymentProvider
from creator_ledger.adapters.payments.stripe_connect import StripeConnectProvider
from creator_ledger.domain.errors import InvalidInputError
from creator_ledger.ledger.settings import Settings


def build_provider(settings: Settings) -> PaymentProvider:
    if settings.payment_provider == "memory":
        return InMemoryProvider()
    if not settings.stripe_secret_key:
        msg = (
            "set STRIPE_SECRET_KEY (sk_test_... or sk_live_...) to pay through Stripe, or"
            " LEDGER_PAYMENT_PROVIDER=memory to try a run in-process"
        )
        raise InvalidInputError(msg)
    stripe.enable_telemetry = False  # no client telemetry from a payments back office
    return StripeConnectProvider(settings.stripe_secret_key, base_url=settings.stripe_api_base)
