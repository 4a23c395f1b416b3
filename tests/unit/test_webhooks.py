"""Webhook verification (the SDK's) and parsing into ProviderEvent."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe

from creator_ledger.adapters.payments.webhooks import (
    ProviderEvent,
    ProviderEventKind,
    parse_stripe_webhook,
    sign_stripe_payload,
)
from creator_ledger.domain.errors import InvalidInputError, WebhookSignatureError

SECRET = "whsec_test_creator_ledger"


def event_body(event_type: str, obj: dict[str, Any], **top: Any) -> bytes:
    event = {
        "id": top.pop("id", "evt_1"),
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": top.pop("created", 1_767_225_600),
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
        **top,
    }
    return json.dumps(event).encode("utf-8")


def signed(body: bytes, *, secret: str = SECRET, age_s: int = 0) -> tuple[bytes, str]:
    return body, sign_stripe_payload(body, secret, int(time.time()) - age_s)


TRANSFER = {
    "id": "tr_123",
    "object": "transfer",
    "amount": 5_000,
    "amount_reversed": 1_200,
    "currency": "usd",
    "destination": "acct_creator",
    "metadata": {"payout_id": "po_ledger_9"},
    "reversed": False,
}


def test_a_correctly_signed_transfer_reversed_event_is_parsed() -> None:
    body, header = signed(event_body("transfer.reversed", TRANSFER))

    event = parse_stripe_webhook(body, header, SECRET)

    assert event == ProviderEvent(
        event_id="evt_1",
        type="transfer.reversed",
        kind=ProviderEventKind.TRANSFER_REVERSED,
        created=datetime(2026, 1, 1, tzinfo=UTC),
        account=None,
        object_type="transfer",
        object_id="tr_123",
        amount_minor=5_000,
        currency="USD",
        transfer_id="tr_123",
        payout_id="po_ledger_9",
        amount_reversed_minor=1_200,
        raw_object=TRANSFER,
    )


def test_a_payout_paid_event_on_a_connected_account_names_the_account() -> None:
    payout = {
        "id": "po_1Stripe",
        "object": "payout",
        "amount": 4_200,
        "currency": "eur",
        "status": "paid",
        "metadata": {},
        "failure_code": None,
    }
    body, header = signed(event_body("payout.paid", payout, account="acct_creator"))

    event = parse_stripe_webhook(body, header, SECRET)

    assert (event.type, event.account, event.object_id, event.status) == (
        "payout.paid",
        "acct_creator",
        "po_1Stripe",
        "paid",
    )
    assert (event.amount_minor, event.currency) == (4_200, "EUR")
    assert (event.transfer_id, event.payout_id, event.failure_code) == (None, None, None)


def test_a_payout_failed_event_carries_the_failure_code_and_message() -> None:
    payout = {
        "id": "po_2Stripe",
        "object": "payout",
        "amount": 4_200,
        "currency": "eur",
        "status": "failed",
        "failure_code": "account_closed",
        "failure_message": "The bank account has been closed.",
        "metadata": {"payout_id": "po_ledger_3"},
    }
    body, header = signed(event_body("payout.failed", payout, account="acct_creator"))

    event = parse_stripe_webhook(body, header, SECRET)

    assert event.failure_code == "account_closed"
    assert event.failure_message == "The bank account has been closed."
    assert event.payout_id == "po_ledger_3"
    assert event.raw_object["status"] == "failed"


def test_another_event_type_parses_generically() -> None:
    account = {"id": "acct_creator", "object": "account", "payouts_enabled": True}
    body, header = signed(event_body("account.updated", account, account="acct_creator"))

    event = parse_stripe_webhook(body, header, SECRET)

    assert (event.type, event.object_type, event.object_id) == (
        "account.updated",
        "account",
        "acct_creator",
    )
    assert (event.amount_minor, event.currency, event.transfer_id) == (None, None, None)


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("transfer.reversed", ProviderEventKind.TRANSFER_REVERSED),
        ("payout.paid", ProviderEventKind.BANK_PAYOUT_PAID),
        ("payout.failed", ProviderEventKind.BANK_PAYOUT_FAILED),
        ("payout.canceled", ProviderEventKind.OTHER),
        ("transfer.created", ProviderEventKind.OTHER),
        ("account.updated", ProviderEventKind.OTHER),
    ],
)
def test_each_stripe_event_type_gets_its_provider_neutral_kind_and_keeps_its_name(
    event_type: str, kind: ProviderEventKind
) -> None:
    body, header = signed(event_body(event_type, TRANSFER))

    event = parse_stripe_webhook(body, header, SECRET)

    assert event.kind is kind
    assert event.type == event_type  # the provider's own name, for audit


def test_the_kinds_have_stable_provider_neutral_values() -> None:
    assert [(k.name, str(k)) for k in ProviderEventKind] == [
        ("TRANSFER_REVERSED", "transfer_reversed"),
        ("BANK_PAYOUT_PAID", "bank_payout_paid"),
        ("BANK_PAYOUT_FAILED", "bank_payout_failed"),
        ("OTHER", "other"),
    ]
    assert ProviderEventKind("bank_payout_failed") is ProviderEventKind.BANK_PAYOUT_FAILED
    assert ProviderEventKind.TRANSFER_REVERSED == "transfer_reversed"  # a str enum


def test_an_event_built_by_keyword_without_a_kind_is_other() -> None:
    event = ProviderEvent(
        event_id="evt_9",
        type="payout.paid",
        created=datetime(2026, 1, 1, tzinfo=UTC),
        account="acct_creator",
        object_type="payout",
        object_id="po_1",
        amount_minor=100,
        currency="EUR",
        transfer_id=None,
        payout_id=None,
    )

    assert event.kind is ProviderEventKind.OTHER


def test_adding_the_kind_did_not_shift_the_positional_fields() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)

    event = ProviderEvent("evt_9", "payout.paid", at, None, "payout", "po_1", 1, "EUR", None, None)

    assert (event.created, event.account, event.kind) == (at, None, ProviderEventKind.OTHER)


def test_a_tampered_body_is_refused() -> None:
    body, header = signed(event_body("transfer.reversed", TRANSFER))
    tampered = body.replace(b'"amount": 5000', b'"amount": 9000')
    assert tampered != body

    with pytest.raises(WebhookSignatureError):
        parse_stripe_webhook(tampered, header, SECRET)


def test_a_signature_made_with_another_secret_is_refused() -> None:
    body, header = signed(event_body("payout.paid", {"id": "po_1"}), secret="whsec_other")

    with pytest.raises(WebhookSignatureError):
        parse_stripe_webhook(body, header, SECRET)


def test_a_signature_older_than_the_tolerance_is_refused() -> None:
    body, header = signed(event_body("payout.paid", {"id": "po_1"}), age_s=301)

    with pytest.raises(WebhookSignatureError, match="tolerance"):
        parse_stripe_webhook(body, header, SECRET, tolerance_s=300)
    assert parse_stripe_webhook(body, header, SECRET, tolerance_s=600).event_id == "evt_1"


@pytest.mark.parametrize("header", ["", "garbage", "t=notanumber,v1=abc", "t=1700000000"])
def test_a_missing_or_malformed_signature_header_is_refused(header: str) -> None:
    with pytest.raises(WebhookSignatureError):
        parse_stripe_webhook(event_body("payout.paid", {"id": "po_1"}), header, SECRET)


def test_an_empty_secret_is_refused() -> None:
    body, header = signed(event_body("payout.paid", {"id": "po_1"}), secret=" ")

    with pytest.raises(WebhookSignatureError):
        parse_stripe_webhook(body, header, " ")


def test_one_valid_signature_among_several_is_enough_during_secret_rotation() -> None:
    body = event_body("payout.paid", {"id": "po_1"})
    now = int(time.time())
    old = sign_stripe_payload(body, "whsec_old", now)
    new = sign_stripe_payload(body, SECRET, now)
    header = f"{old},v1={new.split('v1=')[1]}"

    assert parse_stripe_webhook(body, header, SECRET).event_id == "evt_1"


def test_a_correctly_signed_body_that_is_not_an_event_is_invalid_input() -> None:
    body, header = signed(b"[1, 2, 3")

    with pytest.raises(InvalidInputError):
        parse_stripe_webhook(body, header, SECRET)


def test_a_zero_tolerance_which_would_disable_the_age_check_is_refused() -> None:
    body, header = signed(event_body("payout.paid", {"id": "po_1"}))

    with pytest.raises(InvalidInputError, match="tolerance_s"):
        parse_stripe_webhook(body, header, SECRET, tolerance_s=0)


def test_our_signer_agrees_with_the_sdks() -> None:
    payload = event_body("payout.paid", {"id": "po_1"}).decode("utf-8")

    ours = sign_stripe_payload(payload, SECRET, 1_767_225_600)
    sdk = stripe.WebhookSignature.generate_signature_header(payload, SECRET, 1_767_225_600)

    assert ours == sdk
