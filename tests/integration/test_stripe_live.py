"""StripeConnectProvider against Stripe's test mode: only with STRIPE_TEST_SECRET_KEY=sk_test_...

Refuses a live key (the test fails, nothing is sent) and skips when no test key is set.
Optional: STRIPE_TEST_DESTINATION=acct_... (a test-mode connected account with the transfers
capability); without it only the read-only calls run.  A transfer needs available balance in
test mode (top it up with the 4000000000000077 test card).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from creator_ledger.adapters.payments.port import TransferRequest
from creator_ledger.adapters.payments.stripe_connect import StripeConnectProvider

pytestmark = pytest.mark.stripe_live


def stripe_test_key() -> str:
    """The test-mode key, or a skip / a failure that says why."""
    key = os.environ.get("STRIPE_TEST_SECRET_KEY", "")
    if key.startswith(("sk_live_", "rk_live_")):
        pytest.fail(
            "STRIPE_TEST_SECRET_KEY holds a LIVE key; these tests move money and run only in "
            "test mode. Use an sk_test_... key."
        )
    if not key.startswith("sk_test_"):
        pytest.skip("set STRIPE_TEST_SECRET_KEY=sk_test_... to run against Stripe test mode")
    return key


@pytest.fixture
def live_provider() -> Iterator[StripeConnectProvider]:
    provider = StripeConnectProvider(
        stripe_test_key(),
        max_network_retries=2,
        connect_timeout_s=5,
        read_timeout_s=20,
    )
    yield provider
    provider.close()


def test_listing_transfers_of_the_last_day_works_in_test_mode(
    live_provider: StripeConnectProvider,
) -> None:
    now = datetime.now(UTC)

    transfers = list(live_provider.list_transfers(now - timedelta(days=1), now))

    assert all(now - timedelta(days=1) <= t.created < now for t in transfers)
    assert all(t.currency == t.currency.upper() for t in transfers)


def test_a_transfer_is_created_found_and_listed_in_test_mode(
    live_provider: StripeConnectProvider,
) -> None:
    destination = os.environ.get("STRIPE_TEST_DESTINATION", "")
    if not destination.startswith("acct_"):
        pytest.skip("set STRIPE_TEST_DESTINATION=acct_... to send a test-mode transfer")
    payout_id = f"po_live_test_{uuid.uuid4().hex[:12]}"
    request = TransferRequest(
        payout_id=payout_id,
        idempotency_key=f"creator-ledger-test:{payout_id}",
        destination=destination,
        amount_minor=100,
        currency="USD",
        metadata={"purpose": "creator-ledger stripe_live test"},
    )
    before = datetime.now(UTC) - timedelta(minutes=5)

    transfer = live_provider.create_transfer(request)
    replay = live_provider.create_transfer(request)
    found = live_provider.find_transfer(payout_id)
    listed = list(live_provider.list_transfers(before, datetime.now(UTC) + timedelta(minutes=5)))

    assert replay.transfer_id == transfer.transfer_id
    assert found is not None
    assert found.transfer_id == transfer.transfer_id
    assert transfer.transfer_id in {t.transfer_id for t in listed}
