"""Test doubles served over real HTTP: a stateful Stripe-compatible fake (:mod:`.stripe_server`)
and its scripted faults (:mod:`.stripe_faults`)."""

from tests.fakes.stripe_faults import Fault
from tests.fakes.stripe_server import (
    DEFAULT_API_KEY,
    FakeStripeServer,
    LoggedRequest,
    fake_stripe,
    wait_until,
)

__all__ = [
    "DEFAULT_API_KEY",
    "FakeStripeServer",
    "Fault",
    "LoggedRequest",
    "fake_stripe",
    "wait_until",
]
