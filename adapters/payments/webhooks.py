"""Provider webhooks: verify the signature, then parse into a neutral :class:`ProviderEvent`.

Verification is the SDK's (``stripe.Webhook.construct_event``: HMAC-SHA256 over
``"{timestamp}.{body}"``, constant-time compare, timestamps older than ``tolerance_s`` refused),
plus what the SDK leaves out: a timestamp more than ``tolerance_s`` in the *future* is refused
too, and so is an event from the other mode (test vs live) when the caller says which it expects.

The provider's event names stay here: each event gets a provider-neutral
:class:`ProviderEventKind` (Stripe's ``transfer.reversed``, ``payout.paid`` and ``payout.failed``
are the kinds the ledger acts on; every other type is ``OTHER`` and parses generically), and
keeps the provider's own name in ``type``, for audit.  ``event_id`` is what makes a replayed
delivery harmless: the ledger records each event id once.

Events become immutable ledger history, so a signed event is still refused as malformed
(:class:`~domain.errors.InvalidInputError`, naming the field) when what the ledger would keep
from it could poison a read: text with control characters or beyond its bound (ids and codes
255 characters, messages 1,000), a currency that is not ISO 4217, an amount that is not an
integer within ``bigint``, a negative amount on a transfer or a payout, a ``created`` outside
years 1970..9999.

:func:`sign_stripe_payload` signs a body the way Stripe does (an independent implementation,
for tests and fakes).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import stripe

from creator_ledger.adapters.payments.port import ProviderEvent, ProviderEventKind
from creator_ledger.domain.errors import InvalidInputError, WebhookSignatureError
from creator_ledger.domain.money import BIGINT_MAX, BIGINT_MIN, check_currency

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "ID_MAX_LEN",
    "MESSAGE_MAX_LEN",
    "ProviderEvent",
    "ProviderEventKind",
    "livemode_of_key",
    "parse_stripe_webhook",
    "sign_stripe_payload",
]

DEFAULT_TOLERANCE_S: Final = 300
MAX_TOLERANCE_S: Final = 24 * 3600
ID_MAX_LEN: Final = 255  # ids, codes, types, statuses, currencies
MESSAGE_MAX_LEN: Final = 1_000  # failure messages
_CREATED_MAX_S: Final = 253_402_300_799  # 9999-12-31T23:59:59Z
#: C0 and C1 controls (NUL included) and DEL, unpaired surrogates (not encodable as UTF-8),
#: line and paragraph separators, bidirectional overrides and isolates.
_UNSAFE_TEXT: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
#: Objects whose amounts are money moved, never negative at Stripe (a balance transaction's
#: amount, say, is signed, and parses as it is).
_UNSIGNED_AMOUNT_OBJECTS: Final = frozenset({"transfer", "payout"})


#: Stripe's event types, by the kind they mean; every other type is OTHER.
_STRIPE_KINDS: Final[Mapping[str, ProviderEventKind]] = {
    "transfer.reversed": ProviderEventKind.TRANSFER_REVERSED,
    "payout.paid": ProviderEventKind.BANK_PAYOUT_PAID,
    "payout.failed": ProviderEventKind.BANK_PAYOUT_FAILED,
}


def livemode_of_key(api_key: str) -> bool | None:
    """True for a live Stripe secret or restricted key, False for a test one, else None.

    ``parse_stripe_webhook(..., livemode=livemode_of_key(settings.stripe_secret_key))`` makes
    the endpoint refuse events from the mode the ledger does not pay in.
    """
    if not isinstance(api_key, str):
        return None
    if api_key.startswith(("sk_live_", "rk_live_")):
        return True
    if api_key.startswith(("sk_test_", "rk_test_")):
        return False
    return None


def parse_stripe_webhook(
    raw_body: bytes,
    signature_header: str,
    secret: str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    livemode: bool | None = None,
) -> ProviderEvent:
    """Verify a Stripe webhook delivery and parse it.

    ``raw_body`` must be the bytes exactly as received (re-serialised JSON does not verify).
    ``tolerance_s`` bounds the signature's age and, for clock skew, how far in the future its
    timestamp may be.  ``livemode`` (when given; see :func:`livemode_of_key`) is the mode the
    endpoint serves: an event from the other mode is refused.

    Raises :class:`~domain.errors.WebhookSignatureError` for a missing, malformed, wrong, too
    old or too new signature (or a secret that is empty) and for an event from the other mode,
    and :class:`~domain.errors.InvalidInputError` for a correctly signed body that is not a
    Stripe event or is malformed (the message names the field).  Nothing is returned then.
    """
    if isinstance(tolerance_s, bool) or not isinstance(tolerance_s, int):
        msg = f"tolerance_s must be an integer number of seconds, got {tolerance_s!r}"
        raise InvalidInputError(msg, field="tolerance_s")
    if not 0 < tolerance_s <= MAX_TOLERANCE_S:
        # 0 would switch the SDK's timestamp check off.
        msg = f"tolerance_s must be in 1..{MAX_TOLERANCE_S}, got {tolerance_s}"
        raise InvalidInputError(msg, field="tolerance_s")
    if livemode is not None and not isinstance(livemode, bool):
        msg = f"livemode must be True, False or None, got {livemode!r}"
        raise InvalidInputError(msg, field="livemode")
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
    _check_not_from_the_future(signature_header, tolerance_s)
    return _to_provider_event(event.to_dict(), livemode=livemode)


def sign_stripe_payload(payload: bytes | str, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header Stripe would send for ``payload`` at ``timestamp``."""
    body = payload.encode("utf-8") if isinstance(payload, str) else payload
    signed = str(int(timestamp)).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={int(timestamp)},v1={digest}"


def _check_not_from_the_future(signature_header: str, tolerance_s: int) -> None:
    """The SDK refuses a timestamp older than the tolerance; refuse one too far ahead as well.

    Called once the SDK has verified the header, and reads ``t=`` the way the SDK does (the
    first ``t`` item), so the timestamp checked is the one the signature covers.
    """
    items = [item.split("=", 2) for item in signature_header.split(",")]
    timestamp = int(next(item[1] for item in items if item[0] == "t"))
    ahead_s = timestamp - time.time()
    if ahead_s > tolerance_s:
        msg = (
            f"webhook signature timestamp {timestamp} is {ahead_s:.0f} s in the future; "
            f"a timestamp at most tolerance_s={tolerance_s} s ahead (clock skew) is accepted"
        )
        raise WebhookSignatureError(
            msg, provider="stripe", timestamp=timestamp, tolerance_s=tolerance_s
        )


def _check_mode(event_livemode: object, expected: bool, event_id: str) -> None:
    if not isinstance(event_livemode, bool):
        msg = f"webhook event {event_id} has no boolean livemode, so its mode cannot be checked"
        raise InvalidInputError(msg, provider="stripe", event_id=event_id, field="livemode")
    if event_livemode != expected:
        which = "a test-mode event on a live key" if expected else "a live-mode event on a test key"
        msg = (
            f"webhook event {event_id} is {which} (livemode={event_livemode}, expected"
            f" {expected}); refused: check which endpoint secret this endpoint uses"
        )
        raise WebhookSignatureError(
            msg,
            provider="stripe",
            event_id=event_id,
            livemode=event_livemode,
            expected_livemode=expected,
        )


def _to_provider_event(event: Mapping[str, Any], *, livemode: bool | None) -> ProviderEvent:
    event_id = event.get("id")
    event_type = event.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        msg = "webhook event has no id or type"
        raise InvalidInputError(msg, provider="stripe")
    _check_text("id", event_id, ID_MAX_LEN, None)
    if livemode is not None:  # before the rest: the wrong mode says more than a bad field
        _check_mode(event.get("livemode"), livemode, event_id)
    fields = _Fields(event_id)
    fields.text("type", event_type, ID_MAX_LEN)
    created = fields.created(event.get("created"))
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    raw_object: dict[str, Any] = dict(obj) if isinstance(obj, Mapping) else {}
    object_type = fields.text("data.object.object", raw_object.get("object"), ID_MAX_LEN)
    object_id = fields.text("data.object.id", raw_object.get("id"), ID_MAX_LEN)
    metadata = raw_object.get("metadata")
    payout_id = (
        fields.text("data.object.metadata.payout_id", metadata.get("payout_id"), ID_MAX_LEN)
        if isinstance(metadata, Mapping)
        else None
    )
    kind = _STRIPE_KINDS.get(event_type, ProviderEventKind.OTHER)
    unsigned = kind is not ProviderEventKind.OTHER or object_type in _UNSIGNED_AMOUNT_OBJECTS
    amount = fields.amount("data.object.amount", raw_object.get("amount"), unsigned=unsigned)
    amount_reversed = None
    if object_type == "transfer":
        value = raw_object.get("amount_reversed")
        amount_reversed = fields.amount("data.object.amount_reversed", value, unsigned=unsigned)
    failure_code = failure_message = None
    if event_type.startswith("payout."):
        value = raw_object.get("failure_code")
        failure_code = fields.text("data.object.failure_code", value, ID_MAX_LEN)
        value = raw_object.get("failure_message")
        failure_message = fields.text("data.object.failure_message", value, MESSAGE_MAX_LEN)
    return ProviderEvent(
        event_id=event_id,
        type=event_type,
        kind=kind,
        created=created,
        account=fields.text("account", event.get("account"), ID_MAX_LEN),
        object_type=object_type,
        object_id=object_id,
        amount_minor=amount,
        currency=fields.currency("data.object.currency", raw_object.get("currency")),
        transfer_id=object_id if object_type == "transfer" else None,
        payout_id=payout_id,
        amount_reversed_minor=amount_reversed,
        failure_code=failure_code,
        failure_message=failure_message,
        status=fields.text("data.object.status", raw_object.get("status"), ID_MAX_LEN),
        livemode=event.get("livemode") is True,
        raw_object=raw_object,
    )


class _Fields:
    """Reads the fields the ledger keeps from one event; refuses what it could not keep."""

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id

    def text(self, name: str, value: object, max_len: int) -> str | None:
        """A string (empty or absent: None), bounded and free of control characters."""
        if value is None or value == "":
            return None
        _check_text(name, value, max_len, self.event_id)
        assert isinstance(value, str)
        return value

    def currency(self, name: str, value: object) -> str | None:
        """An ISO 4217 code, upper-cased (Stripe sends lower case)."""
        text = self.text(name, value, ID_MAX_LEN)
        if text is None:
            return None
        try:
            return check_currency(text.upper())
        except InvalidInputError as exc:
            raise self._malformed(name, f"is not an ISO 4217 currency ({exc.message})") from None

    def amount(self, name: str, value: object, *, unsigned: bool) -> int | None:
        """An integer number of minor units within ``bigint``; ``unsigned``: also ≥ 0."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            what = f"must be an integer number of minor units, got {type(value).__name__}"
            raise self._malformed(name, what)
        if unsigned and value < 0:
            raise self._malformed(name, f"must be ≥ 0, got {value}")
        if not BIGINT_MIN <= value <= BIGINT_MAX:
            raise self._malformed(name, f"is outside the 64-bit range ({value})")
        return value

    def created(self, value: object) -> datetime:
        if isinstance(value, bool) or not isinstance(value, int):
            msg = f"webhook event {self.event_id} has no integer 'created'"
            raise InvalidInputError(msg, provider="stripe", event_id=self.event_id)
        if not 0 <= value <= _CREATED_MAX_S:
            raise self._malformed("created", f"must be a Unix time in 0..{_CREATED_MAX_S}")
        return datetime.fromtimestamp(value, tz=UTC)

    def _malformed(self, name: str, what: str) -> InvalidInputError:
        msg = f"webhook event {self.event_id} is malformed: {name} {what}"
        return InvalidInputError(msg, provider="stripe", event_id=self.event_id, field=name)


def _check_text(name: str, value: object, max_len: int, event_id: str | None) -> None:
    """Refuse ``value`` unless it is a string of at most ``max_len`` safe characters.

    The message says where and which character, never echoes the value itself (it may be
    long or unprintable).
    """
    subject = f"webhook event {event_id}" if event_id is not None else "webhook event"
    fields: dict[str, Any] = {"provider": "stripe", "field": name}
    if event_id is not None:
        fields["event_id"] = event_id
    problem = None
    if not isinstance(value, str):
        problem = f"must be a string, got {type(value).__name__}"
    elif len(value) > max_len:
        problem = f"is {len(value)} characters long; at most {max_len} are accepted"
    elif (found := _UNSAFE_TEXT.search(value)) is not None:
        problem = (
            f"contains a control character (U+{ord(found.group()):04X} at position"
            f" {found.start()}); text with control characters is refused"
        )
    if problem is not None:
        msg = f"{subject} is malformed: {name} {problem}"
        raise InvalidInputError(msg, **fields)
