"""What the parser refuses beyond the SDK's signature check: timestamps from the future, events
from the other mode, and fields the ledger would keep that could poison its history."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

from creator_ledger.adapters.payments.webhooks import (
    ProviderEventKind,
    livemode_of_key,
    parse_stripe_webhook,
    sign_stripe_payload,
)
from creator_ledger.domain.errors import InvalidInputError, WebhookSignatureError

SECRET = "whsec_test_creator_ledger"

TRANSFER: dict[str, Any] = {
    "id": "tr_123",
    "object": "transfer",
    "amount": 5_000,
    "amount_reversed": 1_200,
    "currency": "usd",
    "destination": "acct_creator",
    "metadata": {"payout_id": "po_ledger_9"},
}
FAILED_PAYOUT: dict[str, Any] = {
    "id": "po_2Stripe",
    "object": "payout",
    "amount": 4_200,
    "currency": "eur",
    "status": "failed",
    "failure_code": "account_closed",
    "failure_message": "The bank account has been closed.",
    "metadata": {"payout_id": "po_ledger_3"},
}


def event(event_type: str, obj: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "id": "evt_1",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": 1_767_225_600,
        "livemode": False,
        "type": event_type,
        "account": "acct_creator",
        "data": {"object": copy.deepcopy(obj)},
        **top,
    }


def parse(body: dict[str, Any], *, ahead_s: int = 0, **options: Any) -> Any:
    raw = json.dumps(body).encode("utf-8")
    header = sign_stripe_payload(raw, SECRET, int(time.time()) + ahead_s)
    return parse_stripe_webhook(raw, header, SECRET, **options)


# ------------------------------------------------------------------------------ timestamps


def test_a_signature_from_further_in_the_future_than_the_tolerance_is_refused() -> None:
    body = event("transfer.reversed", TRANSFER)

    with pytest.raises(WebhookSignatureError, match="in the future") as caught:
        parse(body, ahead_s=301, tolerance_s=300)

    assert "tolerance_s=300" in caught.value.message
    assert caught.value.fields["tolerance_s"] == 300


def test_a_signature_a_little_ahead_clock_skew_within_the_tolerance_is_accepted() -> None:
    body = event("transfer.reversed", TRANSFER)

    assert parse(body, ahead_s=240, tolerance_s=300).event_id == "evt_1"
    assert parse(body, ahead_s=301, tolerance_s=600).event_id == "evt_1"


def test_the_future_check_reads_the_timestamp_the_signature_covers() -> None:
    raw = json.dumps(event("payout.paid", FAILED_PAYOUT)).encode("utf-8")
    now = int(time.time())
    header = sign_stripe_payload(raw, SECRET, now + 3_600)
    # A second, unsigned t= cannot launder a future timestamp: the SDK and we read the first.
    header = header.replace(f"t={now + 3_600},", f"t={now + 3_600},t={now},")

    with pytest.raises(WebhookSignatureError, match="in the future"):
        parse_stripe_webhook(raw, header, SECRET)


@pytest.mark.parametrize("created", [-1, 10**12, 2**70])
def test_an_event_created_outside_years_1970_to_9999_is_malformed_not_a_crash(
    created: int,
) -> None:
    with pytest.raises(InvalidInputError, match="created"):
        parse(event("transfer.reversed", TRANSFER, created=created))


# ------------------------------------------------------------------------------ amounts


@pytest.mark.parametrize(
    ("event_type", "obj", "key"),
    [
        ("transfer.reversed", TRANSFER, "amount_reversed"),
        ("transfer.reversed", TRANSFER, "amount"),
        ("transfer.updated", TRANSFER, "amount"),
        ("payout.failed", FAILED_PAYOUT, "amount"),
        ("payout.paid", {**FAILED_PAYOUT, "status": "paid"}, "amount"),
    ],
)
def test_a_negative_amount_on_a_transfer_or_payout_is_refused_as_malformed(
    event_type: str, obj: dict[str, Any], key: str
) -> None:
    body = event(event_type, {**obj, key: -1})

    with pytest.raises(InvalidInputError, match=rf"data\.object\.{key} must be ≥ 0") as caught:
        parse(body)

    assert caught.value.fields["field"] == f"data.object.{key}"
    assert caught.value.fields["event_id"] == "evt_1"


def test_zero_amounts_are_accepted() -> None:
    parsed = parse(event("transfer.reversed", {**TRANSFER, "amount_reversed": 0}))

    assert parsed.amount_reversed_minor == 0


def test_a_signed_amount_on_an_object_whose_amounts_are_signed_parses_as_it_is() -> None:
    txn = {"id": "txn_1", "object": "balance_transaction", "amount": -700, "currency": "usd"}

    parsed = parse(event("balance_transaction.created", txn))

    assert (parsed.kind, parsed.amount_minor) == (ProviderEventKind.OTHER, -700)


@pytest.mark.parametrize("amount", ["5000", 50.0, True, 2**63, -(2**63) - 1])
def test_an_amount_that_is_not_a_bigint_integer_is_refused(amount: object) -> None:
    txn = {"id": "txn_1", "object": "balance_transaction", "amount": amount, "currency": "usd"}

    with pytest.raises(InvalidInputError, match=r"data\.object\.amount"):
        parse(event("balance_transaction.created", txn))


# ------------------------------------------------------------------------------ live vs test


@pytest.mark.parametrize(
    ("key", "mode"),
    [
        ("sk_live_abc", True),
        ("rk_live_abc", True),
        ("sk_test_abc", False),
        ("rk_test_abc", False),
        ("pk_live_abc", None),
        ("whsec_abc", None),
        ("", None),
        ("SK_LIVE_abc", None),
    ],
)
def test_livemode_of_key_tells_live_from_test_keys(key: str, mode: bool | None) -> None:
    assert livemode_of_key(key) is mode


def test_a_test_mode_event_on_a_live_key_is_refused() -> None:
    body = event("transfer.reversed", TRANSFER, livemode=False)

    with pytest.raises(WebhookSignatureError, match="test-mode event on a live key") as caught:
        parse(body, livemode=livemode_of_key("sk_live_abc"))

    assert caught.value.fields["expected_livemode"] is True


def test_a_live_mode_event_on_a_test_key_is_refused() -> None:
    body = event("payout.failed", FAILED_PAYOUT, livemode=True)

    with pytest.raises(WebhookSignatureError, match="live-mode event on a test key"):
        parse(body, livemode=False)


def test_an_event_from_the_expected_mode_or_with_no_expectation_is_accepted() -> None:
    live = event("transfer.reversed", TRANSFER, livemode=True)

    assert parse(live, livemode=True).livemode is True
    assert parse(live).livemode is True  # no expectation: not checked, as before


def test_an_event_without_a_boolean_livemode_is_refused_when_a_mode_is_expected() -> None:
    body = event("transfer.reversed", TRANSFER, livemode="false")

    with pytest.raises(InvalidInputError, match="livemode"):
        parse(body, livemode=False)


def test_a_livemode_expectation_that_is_not_a_bool_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="livemode"):
        parse(event("transfer.reversed", TRANSFER), livemode="live")


# ------------------------------------------------------------------------------ text fields


def with_field(body: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    node = body
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return body


STORED_TEXT = [
    ("transfer.reversed", TRANSFER, "id"),
    ("transfer.reversed", TRANSFER, "type"),
    ("transfer.reversed", TRANSFER, "account"),
    ("transfer.reversed", TRANSFER, "data.object.id"),
    ("transfer.reversed", TRANSFER, "data.object.object"),
    ("transfer.reversed", TRANSFER, "data.object.currency"),
    ("transfer.reversed", TRANSFER, "data.object.metadata.payout_id"),
    ("payout.failed", FAILED_PAYOUT, "data.object.failure_code"),
    ("payout.failed", FAILED_PAYOUT, "data.object.failure_message"),
    ("payout.failed", FAILED_PAYOUT, "data.object.status"),
]


@pytest.mark.parametrize("control", ["\x00", "\x1b", "\n", "\x7f", "\x85", "\u202e", "\ud800"])
@pytest.mark.parametrize(("event_type", "obj", "path"), STORED_TEXT)
def test_a_stored_text_field_with_a_control_character_is_refused_naming_the_field(
    event_type: str, obj: dict[str, Any], path: str, control: str
) -> None:
    body = with_field(event(event_type, obj), path, f"ab{control}c")
    with pytest.raises(InvalidInputError, match="control character") as caught:
        parse(body)

    assert caught.value.fields["field"] == path
    assert path in caught.value.message
    assert control not in caught.value.message  # never echoed


@pytest.mark.parametrize(("event_type", "obj", "path"), STORED_TEXT)
def test_a_stored_text_field_beyond_its_bound_is_refused_naming_the_field(
    event_type: str, obj: dict[str, Any], path: str
) -> None:
    bound = 1_000 if path.endswith("failure_message") else 255
    body = with_field(event(event_type, obj), path, "x" * (bound + 1))

    with pytest.raises(InvalidInputError, match=f"at most {bound}") as caught:
        parse(body)

    assert caught.value.fields["field"] == path


def test_text_fields_at_their_bounds_are_accepted() -> None:
    body = event("payout.failed", {**FAILED_PAYOUT, "failure_message": "m" * 1_000})
    body["id"] = "evt_" + "x" * 251
    body["account"] = "acct_" + "a" * 250

    parsed = parse(body)

    assert (len(parsed.event_id), len(parsed.account or ""), len(parsed.failure_message)) == (
        255,
        255,
        1_000,
    )


def test_a_stored_text_field_that_is_not_a_string_is_refused() -> None:
    body = event("transfer.reversed", TRANSFER, account=12345)

    with pytest.raises(InvalidInputError, match="account must be a string"):
        parse(body)


def test_an_accented_failure_message_is_kept() -> None:
    message = "Le compte bancaire a été clôturé."
    body = event("payout.failed", {**FAILED_PAYOUT, "failure_message": message})

    assert parse(body).failure_message == message


# ------------------------------------------------------------------------------ currency


@pytest.mark.parametrize(("sent", "kept"), [("usd", "USD"), ("EUR", "EUR"), ("jpy", "JPY")])
def test_a_currency_is_kept_upper_case(sent: str, kept: str) -> None:
    assert parse(event("transfer.reversed", {**TRANSFER, "currency": sent})).currency == kept


@pytest.mark.parametrize("currency", ["xyz", "us", "usdd", "us1", " usd", "ußd"])
def test_a_currency_that_is_not_iso_4217_is_refused_as_malformed(currency: str) -> None:
    body = event("transfer.reversed", {**TRANSFER, "currency": currency})

    with pytest.raises(InvalidInputError, match=r"data\.object\.currency") as caught:
        parse(body)

    assert caught.value.fields["field"] == "data.object.currency"
