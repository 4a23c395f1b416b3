"""Stripe's shapes on both sides of the wire: requests built and checked before anything is sent,
replies parsed into the port's frozen dataclasses.

* A request the adapter can tell Stripe would refuse (bad amount, currency, destination,
  idempotency key, metadata beyond Stripe's limits) is a
  :class:`~domain.errors.PaymentRejectedError` before any HTTP, so nothing is sent.
* Replies are plain dicts (``StripeObject.to_dict()``) on the way in and the port's dataclasses
  on the way out, with upper-case ISO 4217 currencies and timezone-aware UTC datetimes.  A reply
  without the fields the port needs is "outcome unknown" (:func:`~.stripe_errors.malformed`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from creator_ledger.adapters.payments.port import (
    BalanceTransaction,
    Transfer,
    TransferRequest,
    TransferReversal,
)
from creator_ledger.adapters.payments.stripe_errors import malformed
from creator_ledger.domain.errors import InvalidInputError, PaymentRejectedError
from creator_ledger.domain.money import check_amount, check_currency

if TYPE_CHECKING:
    from stripe.params import TransferCreateParams, TransferReversalCreateParams

__all__ = [
    "ID_MAX_LEN",
    "ConnectedAccountStatus",
    "Raw",
    "check_request_text",
    "created_window",
    "reversal_params",
    "text",
    "to_account_status",
    "to_balance_transaction",
    "to_reversal",
    "to_transfer",
    "transfer_params",
]

ID_MAX_LEN: Final = 255
IDEMPOTENCY_KEY_MAX_LEN: Final = 255
METADATA_MAX_KEYS: Final = 50
METADATA_MAX_KEY_LEN: Final = 40
METADATA_MAX_VALUE_LEN: Final = 500

Raw = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ConnectedAccountStatus:
    """What the payout gates need to know about a creator's connected account."""

    account_id: str
    transfers_capability: str | None  # "active", "inactive", "pending"; None: not requested
    payouts_enabled: bool
    requirements_currently_due: tuple[str, ...]
    requirements_past_due: tuple[str, ...]
    disabled_reason: str | None

    @property
    def transfers_active(self) -> bool:
        return self.transfers_capability == "active"

    @property
    def can_receive_transfers(self) -> bool:
        """Transfers will be accepted now (capability active, nothing past due, not disabled)."""
        return (
            self.transfers_active
            and not self.requirements_past_due
            and self.disabled_reason is None
        )


# ---------------------------------------------------------------------- request building


def transfer_params(request: TransferRequest) -> TransferCreateParams:
    """The ``POST /v1/transfers`` parameters for ``request``, or PaymentRejectedError."""
    context = {"payout_id": str(request.payout_id), "idempotency_key": str(request.idempotency_key)}
    check_request_text("payout_id", request.payout_id, METADATA_MAX_VALUE_LEN, context)
    check_request_text("idempotency_key", request.idempotency_key, IDEMPOTENCY_KEY_MAX_LEN, context)
    check_request_text("destination", request.destination, ID_MAX_LEN, context)
    if not request.destination.startswith("acct_"):
        msg = f"destination must be a connected account id (acct_...), got {request.destination!r}"
        raise PaymentRejectedError(msg, code="invalid_request", **context)
    try:
        check_amount(request.amount_minor)
        currency = check_currency(request.currency)
    except InvalidInputError as exc:
        raise PaymentRejectedError(exc.message, code="invalid_request", **context) from None
    metadata = dict(request.metadata)
    if metadata.get("payout_id", request.payout_id) != request.payout_id:
        msg = "metadata.payout_id differs from the request's payout_id"
        raise PaymentRejectedError(msg, code="invalid_request", **context)
    metadata["payout_id"] = request.payout_id
    _check_metadata(metadata, context)
    group = request.transfer_group or request.payout_id
    check_request_text("transfer_group", group, ID_MAX_LEN, context)
    return {
        "amount": request.amount_minor,
        "currency": currency.lower(),
        "destination": request.destination,
        "metadata": metadata,
        "transfer_group": group,
    }


def reversal_params(
    transfer_id: str, amount_minor: int, idempotency_key: str, context: Mapping[str, str]
) -> TransferReversalCreateParams:
    """The ``POST /v1/transfers/{id}/reversals`` parameters, or PaymentRejectedError."""
    check_request_text("transfer_id", transfer_id, ID_MAX_LEN, context)
    check_request_text("idempotency_key", idempotency_key, IDEMPOTENCY_KEY_MAX_LEN, context)
    try:
        check_amount(amount_minor)
    except InvalidInputError as exc:
        raise PaymentRejectedError(exc.message, code="invalid_request", **context) from None
    return {"amount": amount_minor}


def _check_metadata(metadata: Mapping[str, object], context: Mapping[str, str]) -> None:
    if len(metadata) > METADATA_MAX_KEYS:
        msg = f"metadata has {len(metadata)} keys; Stripe accepts at most {METADATA_MAX_KEYS}"
        raise PaymentRejectedError(msg, code="invalid_request", **context)
    for key, value in metadata.items():
        if not isinstance(key, str) or not 0 < len(key) <= METADATA_MAX_KEY_LEN:
            msg = f"metadata key {key!r} must be a string of 1..{METADATA_MAX_KEY_LEN} characters"
            raise PaymentRejectedError(msg, code="invalid_request", **context)
        if not isinstance(value, str) or len(value) > METADATA_MAX_VALUE_LEN:
            msg = f"metadata[{key}] must be a string of at most {METADATA_MAX_VALUE_LEN} characters"
            raise PaymentRejectedError(msg, code="invalid_request", **context)


def check_request_text(name: str, value: object, max_len: int, context: Mapping[str, str]) -> None:
    """``value`` is a non-empty string of at most ``max_len`` characters, without edge spaces."""
    if not isinstance(value, str) or not 0 < len(value) <= max_len or value != value.strip():
        msg = f"{name} must be a non-empty string of at most {max_len} characters, got {value!r}"
        raise PaymentRejectedError(msg, code="invalid_request", **context)


def created_window(created_from: datetime, created_to: datetime) -> dict[str, int]:
    """``[from, to)`` as Stripe's whole-second ``created[gte]`` / ``created[lt]``.

    Stripe's ``created`` is an integer second ``s``; ``s >= from`` iff ``s >= ceil(from)`` and
    ``s < to`` iff ``s < ceil(to)``, so both bounds round up.
    """
    for name, value in (("created_from", created_from), ("created_to", created_to)):
        if not isinstance(value, datetime) or value.utcoffset() is None:
            msg = f"{name} must be a timezone-aware datetime, got {value!r}"
            raise InvalidInputError(msg, field=name)
    if created_to < created_from:
        msg = f"created_to ({created_to.isoformat()}) is before created_from"
        raise InvalidInputError(msg, field="created_to")
    return {
        "gte": math.ceil(created_from.timestamp()),
        "lt": math.ceil(created_to.timestamp()),
    }


# ---------------------------------------------------------------------- response parsing


def to_transfer(raw: Raw, operation: str) -> Transfer:
    metadata = _metadata(raw.get("metadata"))
    return Transfer(
        transfer_id=text(raw, "id", operation),
        payout_id=metadata.get("payout_id"),
        destination=_id_of(raw.get("destination"), operation),
        amount_minor=_integer(raw, "amount", operation),
        currency=text(raw, "currency", operation).upper(),
        created=_timestamp(raw, operation),
        amount_reversed_minor=int(raw.get("amount_reversed") or 0),
        metadata=metadata,
    )


def to_balance_transaction(raw: Raw) -> BalanceTransaction:
    operation = "list_balance_transactions"
    source = raw.get("source")
    return BalanceTransaction(
        balance_transaction_id=text(raw, "id", operation),
        type=text(raw, "type", operation),
        source_id=_id_of(source, operation) if source is not None else None,
        amount_minor=_integer(raw, "amount", operation),
        currency=text(raw, "currency", operation).upper(),
        created=_timestamp(raw, operation),
    )


def to_reversal(raw: Raw) -> TransferReversal:
    operation = "reverse_transfer"
    return TransferReversal(
        reversal_id=text(raw, "id", operation),
        transfer_id=_id_of(raw.get("transfer"), operation),
        amount_minor=_integer(raw, "amount", operation),
        currency=text(raw, "currency", operation).upper(),
        created=_timestamp(raw, operation),
    )


def to_account_status(account: Raw) -> ConnectedAccountStatus:
    capabilities = account.get("capabilities") or {}
    requirements = account.get("requirements") or {}
    transfers = capabilities.get("transfers")
    return ConnectedAccountStatus(
        account_id=text(account, "id", "connected_account_status"),
        transfers_capability=transfers if isinstance(transfers, str) else None,
        payouts_enabled=account.get("payouts_enabled") is True,
        requirements_currently_due=tuple(requirements.get("currently_due") or ()),
        requirements_past_due=tuple(requirements.get("past_due") or ()),
        disabled_reason=requirements.get("disabled_reason"),
    )


def text(raw: Mapping[str, Any], key: str, operation: str) -> str:
    """``raw[key]`` if it is a non-empty string, else "outcome unknown" (a malformed reply)."""
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise malformed(operation, f"{key!r} is {value!r}")
    return value


def _integer(raw: Mapping[str, Any], key: str, operation: str) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise malformed(operation, f"{key!r} is {value!r}")
    return value


def _timestamp(raw: Mapping[str, Any], operation: str) -> datetime:
    return datetime.fromtimestamp(_integer(raw, "created", operation), tz=UTC)


def _id_of(value: object, operation: str) -> str:
    """An expandable field: the id string, or the expanded object's ``id``."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping):
        return text(value, "id", operation)
    raise malformed(operation, f"expected an id, got {value!r}")


def _metadata(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}
