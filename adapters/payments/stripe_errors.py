"""Stripe errors become the ledger's own: rejected (nothing happened) or outcome unknown.

* :class:`~domain.errors.PaymentRejectedError`: Stripe refused the request (4xx, card,
  invalid request, idempotency mismatch, authentication, permission); nothing was sent.
* :class:`~domain.errors.PaymentOutcomeUnknownError`: network error, 5xx, 409, 429 after the
  retries, or a reply the adapter cannot read: Stripe may have acted; resolve with
  ``find_transfer``, never by sending again under a new key.

Both carry the provider's ``error_type``, ``code``, ``http_status``, ``request_id`` as fields;
a 429 also carries ``retry_after_s`` (Stripe's ``Retry-After``, or None).
Nothing the provider said reaches a message or a field with an API key in it: the adapter's own
key and anything shaped like a Stripe secret or restricted key are masked the way Stripe masks
them (``sk_test_****1234``), whoever echoed them (a proxy, a gateway, a misbehaving fake).
No Stripe type leaves this module: the SDK's exception is translated and dropped
(``raise ... from None`` at the call site).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import stripe

from creator_ledger.adapters.payments.stripe_transport import retry_after_s
from creator_ledger.domain.errors import (
    LedgerError,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
    ProviderUnavailableError,
)

__all__ = ["malformed", "redact", "translate"]

REJECTED: Final = (
    stripe.CardError,
    stripe.InvalidRequestError,
    stripe.IdempotencyError,
    stripe.AuthenticationError,
    stripe.PermissionError,
)
OUTCOME_UNKNOWN: Final = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError)
_KEY_SHAPED: Final = re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]+")
_KEEP_LAST: Final = 4


def translate(
    operation: str,
    exc: stripe.StripeError,
    context: Mapping[str, str],
    attempts: int,
    *,
    secret: str,
    host: str | None = None,
) -> LedgerError:
    """The ledger error for ``exc``, raised by ``operation`` after ``attempts`` attempts.

    ``secret`` (the API key) is masked wherever the provider's words are repeated.  A network
    error (refused, reset, timed out) is a :class:`ProviderUnavailableError` naming ``host``:
    still an unknown outcome, and one an operator can act on.
    """
    error = exc.error
    error_type = getattr(error, "type", None) if error is not None else None
    code = exc.code or (getattr(error, "code", None) if error is not None else None)
    error_type = redact(error_type, secret) if isinstance(error_type, str) else None
    code = redact(code, secret) if isinstance(code, str) else None
    provider_message = redact(exc.user_message or type(exc).__name__, secret)
    request_id = redact(exc.request_id, secret) if isinstance(exc.request_id, str) else None
    fields: dict[str, Any] = {
        "provider": "stripe",
        "operation": operation,
        "error_class": type(exc).__name__,
        "error_type": error_type,
        "code": code,
        "http_status": exc.http_status,
        "request_id": request_id,
        "provider_message": provider_message,
        "attempts": attempts,
        **context,
    }
    if isinstance(exc, stripe.RateLimitError):  # not processed: when to send it again
        fields["retry_after_s"] = retry_after_s(exc.headers)
    subject = f" for payout {context['payout_id']}" if "payout_id" in context else ""
    status = exc.http_status
    rejected = isinstance(exc, REJECTED) or (
        not isinstance(exc, OUTCOME_UNKNOWN) and status is not None and 400 <= status < 500
    )
    if rejected:
        msg = f"Stripe rejected {operation}{subject}: {provider_message}"
        if code:
            msg += f" (code {code})"
        return PaymentRejectedError(msg, **fields)
    if isinstance(exc, stripe.APIConnectionError):
        where = host or "api.stripe.com"
        msg = (
            f"cannot reach Stripe at {where} ({operation}{subject}, {attempts} attempt(s)):"
            f" {provider_message}"
        )
        if operation in {"create_transfer", "reverse_transfer"}:
            msg += "; its outcome is unknown: look it up, or retry with the same idempotency key"
        return ProviderUnavailableError(msg, host=where, **fields)
    msg = (
        f"Stripe {operation}{subject} has an unknown outcome after {attempts} attempt(s): "
        f"{provider_message}"
    )
    if operation in {"create_transfer", "reverse_transfer"}:
        msg += "; look it up (find_transfer), or retry with the same idempotency key"
    return PaymentOutcomeUnknownError(msg, **fields)


def malformed(operation: str, what: str) -> PaymentOutcomeUnknownError:
    """Stripe answered, but not with the object the adapter expected: the outcome is unknown."""
    msg = f"Stripe returned a malformed object for {operation}: {what}"
    return PaymentOutcomeUnknownError(msg, provider="stripe", operation=operation)


def redact(text: str, secret: str) -> str:
    """``text`` with ``secret`` and every Stripe-key-shaped token masked (``sk_test_****1234``)."""
    if secret:
        text = text.replace(secret, _mask(secret))
    return _KEY_SHAPED.sub(lambda found: _mask(found.group()), text)


def _mask(key: str) -> str:
    prefix, _, rest = key.rpartition("_")
    shown = rest[-_KEEP_LAST:] if len(rest) > 2 * _KEEP_LAST else ""
    return f"{prefix}_****{shown}" if prefix else f"****{shown}"
