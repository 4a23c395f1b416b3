"""Errors raised by creator-ledger.

One base, :class:`LedgerError`; each subclass carries the fields a caller needs to act on it.
Messages say what was wrong and what is accepted.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every error creator-ledger raises on purpose."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message, **self.fields}


class InvalidInputError(LedgerError, ValueError):
    """A command's input is malformed (wrong type, out of range, unknown code)."""


class InvalidAmountError(InvalidInputError):
    """An amount is not an integer number of minor units in the accepted range."""


class UnknownCurrencyError(InvalidInputError):
    """A currency code is not an ISO 4217 currency with a minor unit."""


class CurrencyMismatchError(InvalidInputError):
    """Two amounts in different currencies were combined."""


class NotFoundError(LedgerError, LookupError):
    """A referenced creator, fund, program, agreement, claim or payout does not exist."""


class AlreadyExistsError(LedgerError):
    """An entity with that id exists already (and the request is not an idempotent replay)."""


class InvalidStateError(LedgerError):
    """The command is not allowed in the entity's current state."""


class InsufficientBudgetError(LedgerError):
    """A fund or per-creator budget cannot cover the amount."""


class InsufficientBalanceError(LedgerError):
    """A creator balance cannot cover a debit (payouts never overdraw)."""


class NotEligibleError(LedgerError):
    """The creator is not eligible for this (e.g. a reimbursement without an NDA)."""


class IdempotencyConflictError(LedgerError):
    """An idempotency key was reused with different content."""


class ConcurrencyError(LedgerError):
    """A write kept conflicting with concurrent writers; nothing was written."""


class ApprovalRefusedError(InvalidStateError):
    """An approval breaks a payout control: the proposer approving their own run, an actor
    approving twice, or a run over its currency's run limit (``rule`` says which)."""


class RunNotApprovedError(InvalidStateError):
    """A payout run was executed before enough distinct approvers released it."""


class StalePlanError(LedgerError):
    """A payout plan no longer matches the balances it was computed from."""


class PaymentRejectedError(LedgerError):
    """The payment provider refused the request; nothing was sent."""


class PaymentOutcomeUnknownError(LedgerError):
    """The provider may or may not have acted; resolve by looking the transfer up."""


class WebhookSignatureError(LedgerError):
    """A webhook's signature did not verify; nothing was recorded."""


class DatabaseUnavailableError(LedgerError):
    """The database cannot be reached (or refused the connection): nothing was read or written.

    Carries where it looked (``host``, ``port``, ``database``), never a password."""


class DatabaseBusyError(DatabaseUnavailableError):
    """A write could not get the events table's lock, or finish, within its bounds
    (``LEDGER_POSTGRES_LOCK_TIMEOUT_S``, ``LEDGER_POSTGRES_STATEMENT_TIMEOUT_S``): other
    writers held it.  Nothing was written; the command can be tried again as it is.

    A kind of :class:`DatabaseUnavailableError` (exit code 3; the webhook endpoint answers
    503, so the provider redelivers)."""


class NotMigratedError(LedgerError):
    """The database is reachable but has not been set up for this version of the ledger: it does
    not exist, or migrations are missing (``pending``).  Run ``creator-ledger migrate``."""


class UnreadableEventError(LedgerError):
    """A stored event (or snapshot) cannot be read back: its bytes do not decode into the event
    its topic names (changed outside the ledger, or written by a newer version of it).  Nothing
    was written; ``creator-ledger verify`` says whether the hash chain still holds.  Carries
    ``originator_id``, ``version`` and ``topic`` (exit code 5; the webhook endpoint answers 500)."""


class ProviderUnavailableError(PaymentOutcomeUnknownError):
    """The payment provider could not be reached (a network error: refused, reset, timed out).

    Still an outcome-unknown error: a request that was being sent may have arrived."""
