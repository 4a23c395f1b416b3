"""The payment port: what the ledger needs from a payment provider, and nothing provider-shaped.

No provider type crosses this boundary: implementations translate to and from these frozen
dataclasses and raise only :class:`~domain.errors.PaymentRejectedError` ("nothing was sent,
do not retry as is") or :class:`~domain.errors.PaymentOutcomeUnknownError` ("the provider
may have acted; resolve by :meth:`PaymentProvider.find_transfer`, never by sending again under
a new key").

An outcome-unknown error says what the provider answered in provider-neutral fields:
``http_status`` (429: rate limited, the provider did nothing; send the same request again
under the same key once ``retry_after_s`` has passed, when it says) and ``retry_after_s``.

A provider may say its own rate limit as an attribute ``rate_limit_per_s`` (requests a second;
``None``: no limit, as for an in-process provider); without one the ledger paces its calls to
the ``LEDGER_PROVIDER_RATE_PER_S`` setting.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """One transfer for one ledger payout.

    ``idempotency_key`` is derived from ``payout_id`` and fixed before the first attempt; every
    retry of this payout reuses it.  ``metadata`` links the transfer back to ledger ids
    (always includes ``payout_id``).
    """

    payout_id: str
    idempotency_key: str
    destination: str  # the creator's connected account, e.g. "acct_1Nv..."
    amount_minor: int
    currency: str  # ISO 4217, upper case (providers may want lower case: adapters convert)
    metadata: Mapping[str, str] = field(default_factory=dict)
    transfer_group: str | None = None


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer as the provider reports it."""

    transfer_id: str
    payout_id: str | None  # from metadata; None for transfers the ledger did not make
    destination: str
    amount_minor: int
    currency: str  # upper case
    created: datetime  # timezone-aware UTC
    amount_reversed_minor: int = 0
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def reversed(self) -> bool:
        return self.amount_reversed_minor > 0


@dataclass(frozen=True, slots=True)
class BalanceTransaction:
    """A movement of the platform's balance at the provider."""

    balance_transaction_id: str
    type: str  # "transfer", "transfer_refund", "payout", ...
    source_id: str | None  # e.g. the transfer id
    amount_minor: int  # signed: negative when money left the platform balance
    currency: str  # upper case
    created: datetime


@dataclass(frozen=True, slots=True)
class TransferReversal:
    reversal_id: str
    transfer_id: str
    amount_minor: int
    currency: str
    created: datetime


class ProviderEventKind(enum.StrEnum):
    """What a provider event means to the ledger, whatever the provider calls it."""

    TRANSFER_REVERSED = "transfer_reversed"  # (part of) a transfer came back to the platform
    BANK_PAYOUT_PAID = "bank_payout_paid"  # a connected account's payout reached the bank
    BANK_PAYOUT_FAILED = "bank_payout_failed"  # the bank refused it (possibly after "paid")
    OTHER = "other"  # nothing the ledger acts on


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One provider event, with the fields the ledger acts on; no provider type inside.

    ``payout_id`` is the *ledger's* payout id, from the object's ``metadata.payout_id`` (as the
    port's :class:`Transfer` has it); a Stripe payout's own id
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


@runtime_checkable
class PaymentProvider(Protocol):
    """Sends transfers to connected accounts and reports what it did."""

    def create_transfer(self, request: TransferRequest) -> Transfer:
        """Send ``request`` under its idempotency key; a replay returns the first transfer."""
        ...

    def find_transfer(self, payout_id: str) -> Transfer | None:
        """The transfer made for ``payout_id``, or None if the provider has none."""
        ...

    def list_transfers(self, created_from: datetime, created_to: datetime) -> Iterator[Transfer]:
        """Every transfer created in ``[created_from, created_to)``, paginated underneath."""
        ...

    def list_balance_transactions(
        self, created_from: datetime, created_to: datetime
    ) -> Iterator[BalanceTransaction]:
        """Every balance transaction created in ``[created_from, created_to)``."""
        ...

    def reverse_transfer(
        self, transfer_id: str, amount_minor: int, idempotency_key: str
    ) -> TransferReversal:
        """Reverse (part of) a transfer, pulling the money back from the connected account."""
        ...
