"""Stripe errors translated to the ledger's: no key survives the translation."""

from __future__ import annotations

import pytest
import stripe

from creator_ledger.adapters.payments.stripe_errors import redact, translate
from creator_ledger.domain.errors import PaymentOutcomeUnknownError, PaymentRejectedError

KEY = "sk_live_51HxYzABCDEFGHIJKLMNOPqrstuvWXYZ1234"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"Invalid API Key provided: {KEY}", "Invalid API Key provided: sk_live_****1234"),
        ("old key rk_test_abcdefghijklmnop9876 revoked", "old key rk_test_****9876 revoked"),
        ("short sk_test_abc", "short sk_test_****"),
        ("No such destination: 'acct_123'", "No such destination: 'acct_123'"),
        ("pk_live_abcdefghijklmnop is publishable", "pk_live_abcdefghijklmnop is publishable"),
    ],
)
def test_keys_are_masked_the_way_stripe_masks_them(text: str, masked: str) -> None:
    assert redact(text, KEY) == masked


def test_the_adapters_own_key_is_masked_even_when_it_is_not_key_shaped() -> None:
    assert redact("token=sk_weird-key-value_zzzzzz9999 end", "sk_weird-key-value_zzzzzz9999") == (
        "token=sk_weird-key-value_****9999 end"
    )


@pytest.mark.parametrize(
    ("error", "translated"),
    [
        (
            stripe.AuthenticationError(
                f"Invalid API Key provided: {KEY}",
                http_status=401,
                json_body={"error": {"type": "invalid_request_error", "code": KEY}},
                headers={"request-id": f"req_{KEY}"},
            ),
            PaymentRejectedError,
        ),
        (stripe.APIError(f"upstream said {KEY}", http_status=502), PaymentOutcomeUnknownError),
    ],
)
def test_no_key_survives_translation(
    error: stripe.StripeError, translated: type[Exception]
) -> None:
    result = translate("create_transfer", error, {"payout_id": "po_1"}, 1, secret=KEY)

    assert isinstance(result, translated)
    assert KEY not in str(result)
    assert all(KEY not in str(value) for value in result.fields.values())
    assert "sk_live_****1234" in result.fields["provider_message"]


@pytest.mark.parametrize(("header", "seconds"), [("2", 2.0), ("0.5", 0.5), (None, None)])
def test_a_429_says_when_to_send_it_again_in_provider_neutral_fields(
    header: str | None, seconds: float | None
) -> None:
    error = stripe.RateLimitError(
        "Too many requests",
        http_status=429,
        headers={"Retry-After": header} if header is not None else {},
    )
    result = translate("create_transfer", error, {"payout_id": "po_1"}, 5, secret=KEY)
    assert isinstance(result, PaymentOutcomeUnknownError)
    assert result.fields["http_status"] == 429
    assert result.fields["retry_after_s"] == seconds
