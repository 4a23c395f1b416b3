"""Provider webhooks: verify the signature, then parse into a neutral :class:`ProviderEvent`.

Verification is the SDK's (``stripe.Webhook.construct_event``: HMAC-SHA256 over
``"{timestamp}.{body}"``, constant-time compare, timestamps older than ``tolerance_s`` refused).
The provider's event names stay here: each event gets a provider-neutral
:class:`ProviderEventKind` (Stripe's ``transfer.reversed``, ``payout.paid`` and ``payout.failed``
are the kinds the ledger acts on; every other type is ``OTHER`` and parses generically), and
keeps the provider's own name in ``type``, for audit.  ``event_id`` is what makes a replayed delivery harmless:
the ledger records each event id once.

:func:`sign_stripe_payload` signs a body the way Stripe does (an independent implementation,
for tests and fakes).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import stripe

from creator_ledger.domain.errors import InvalidInputError, WebhookSignatureError

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "ProviderEvent",
    "ProviderEventKind",
    "parse_stripe_webhook",
    "sign_stripe_payload",
]

DEFAULT_TOLERANCE_S: Final = 300
MAX_TOLERANCE_S: Final = 24 * 3600


class ProviderEventKind(enum.StrEnum):
    """What a provider event means to the ledger, whatever the provider calls it."""

    TRANSFER_REVERSED = "transfer_reversed"  # (part of) a transfer came back to the platform
    BANK_PAYOUT_PAID = "bank_payout_paid"  # a connected account's payout reached the bank
    BANK_PAYOUT_FAILED = "bank_payout_failed"  # the bank refused it (possibly after "paid")
    OTHER = "other"  # nothing the ledger acts on


#: Stripe's event types, by the kind they mean; every other type is OTHER.
_STRIPE_KINDS: Final[Mapping[str, ProviderEventKind]] = {
    "transfer.reversed": ProviderEventKind.TRANSFER_REVERSED,
    "payout.paid": ProviderEventKind.BANK_PAYOUT_PAID,
    "payout.failed": ProviderEventKind.BANK_PAYOUT_FAILED,
}


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One provider event, with the fields the ledger acts on; no provider type inside.

    ``payout_id`` is the *ledger's* payout id, from the object's ``metadata.payout_id`` (as the
    port's :class:`~adapters.payments.port.Transfer` has it); a Stripe payout's own id
    (``po_...``) is ``object_id``.

    ``kind`` is what the ledger acts on; ``type`` is the provider's own name for the event
    (``"transfer.reversed"``), kept for audit.  ``kind`` is keyword-only and defaults to
    ``OTHER``.
    """

    event_id: str
    type: str
    kind: ProviderEventKind = field(default=ProviderEventKind.OTHER, kw_only=True)
    created: datetime  # timezone-aware UTC
    account: str | None  # the connected account the event happened on; None: the platform
    object_type: str | None
    object_id: str | None
    amount_minor: int | None
    currency: str | None  # upper case
    transfer_id: str | None
    payout_id: str | None
    amount_reversed_minor: int | None = None  # transfer.reversed
    failure_code: str | None = None  # payout.failed
    failure_message: str | None = None  # payout.failed
    status: str | None = None
    livemode: bool = False
    raw_object: dict[str, Any] = field(default_factory=dict)


def parse_stripe_webhook(
    raw_body: bytes,
    signature_header: str,
    secret: str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> ProviderEvent:
    """Verify a Stripe webhook delivery and parse it.

    ``raw_body`` must be the bytes exactly as received (re-serialised JSON does not verify).
    Raises :class:`~domain.errors.WebhookSignatureError` for a missing, malformed, wrong or
    too old signature (or a secret that is empty), and
    :class:`~domain.errors.InvalidInputError` for a correctly signed body that is not a
    Stripe event.
    """
    if isinstance(tolerance_s, bool) or not isinstance(tolerance_s, int):
        msg = f"tolerance_s must be an integer number of seconds, got {tolerance_s!r}"
        raise InvalidInputError(msg, field="tolerance_s")
    if not 0 < tolerance_s <= MAX_TOLERANCE_S:
        # 0 would switch the SDK's timestamp check off.
        msg = f"tolerance_s must be in 1..{MAX_TOLERANCE_S}, got {tolerance_s}"
        raise InvalidInputError(msg, field="tolerance_s")
    if not isinstance(raw_body, bytes | bytearray):
        msg = f"raw_body must be the raw request bytes, got {type(raw_body).__name__}"
        raise InvalidInputError(msg, field="raw_body")
    try:
        event = stripe.Webhook.construct_event(
            bytes(raw_body), signature_header, secret, tolerance=tolerance_s
        )
    except stripe.SignatureVerificationError as exc:
        msg = f"webhook signature did not verify: {exc.user_message}"
        raise WebhookSignatureError(msg, provider="stripe") from None
    except UnicodeDecodeError:
        msg = "webhook body is not UTF-8, so its signature cannot be verified"
        raise WebhookSignatureError(msg, provider="stripe") from None
    except ValueError as exc:
        msg = f"webhook body is signed but is not a Stripe event: {exc}"
        raise InvalidInputError(msg, provider="stripe") from None
    return _to_provider_event(event.to_dict())


def sign_stripe_payload(payload: bytes | str, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header Stripe would send for ``payload`` at ``timestamp``."""
    body = payload.encode("utf-8") if isinstance(payload, str) else payload
    signed = str(int(timestamp)).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={int(timestamp)},v1={digest}"


def _to_provider_event(event: Mapping[str, Any]) -> ProviderEvent:
    event_id = event.get("id")
    event_type = event.get("type")
    created = event.get("created")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        msg = "webhook event has no id or type"
        raise InvalidInputError(msg, provider="stripe")
    if isinstance(created, bool) or not isinstance(created, int):
        msg = f"webhook event {event_id} has no integer 'created'"
        raise InvalidInputError(msg, provider="stripe", event_id=event_id)
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    raw_object: dict[str, Any] = dict(obj) if isinstance(obj, Mapping) else {}
    object_type = _opt_str(raw_object.get("object"))
    object_id = _opt_str(raw_object.get("id"))
    metadata = raw_object.get("metadata")
    payout_id = _opt_str(metadata.get("payout_id")) if isinstance(metadata, Mapping) else None
    currency = _opt_str(raw_object.get("currency"))
    is_payout_event = event_type.startswith("payout.")
    return ProviderEvent(
        event_id=event_id,
        type=event_type,
        kind=_STRIPE_KINDS.get(event_type, ProviderEventKind.OTHER),
        created=datetime.fromtimestamp(created, tz=UTC),
        account=_opt_str(event.get("account")),
        object_type=object_type,
        object_id=object_id,
        amount_minor=_opt_int(raw_object.get("amount")),
        currency=currency.upper() if currency else None,
        transfer_id=object_id if object_type == "transfer" else None,
        payout_id=payout_id,
        amount_reversed_minor=(
            _opt_int(raw_object.get("amount_reversed")) if object_type == "transfer" else None
        ),
        failure_code=_opt_str(raw_object.get("failure_code")) if is_payout_event else None,
        failure_message=_opt_str(raw_object.get("failure_message")) if is_payout_event else None,
        status=_opt_str(raw_object.get("status")),
        livemode=event.get("livemode") is True,
        raw_object=raw_object,
    )


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
