"""creator-ledger: the application layer and public Python API.

from ledger import CreatorLedger
"""

from domain.errors import (
    AlreadyExistsError,
    ConcurrencyError,
    CurrencyMismatchError,
    IdempotencyConflictError,
    InsufficientBalanceError,
    InsufficientBudgetError,
    InvalidAmountError,
    InvalidInputError,
    InvalidStateError,
    LedgerError,
    NotEligibleError,
    NotFoundError,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
    StalePlanError,
    UnknownCurrencyError,
    WebhookSignatureError,
)
from ledger.creators import CreatorRecord
from ledger.facade import CreatorLedger
from ledger.programs import PoolShareRule, RatePerMilleRule
from ledger.settings import Settings

__all__ = [
    "AlreadyExistsError",
    "ConcurrencyError",
    "CreatorLedger",
    "CreatorRecord",
    "CurrencyMismatchError",
    "IdempotencyConflictError",
    "InsufficientBalanceError",
    "InsufficientBudgetError",
    "InvalidAmountError",
    "InvalidInputError",
    "InvalidStateError",
    "LedgerError",
    "NotEligibleError",
    "NotFoundError",
    "PaymentOutcomeUnknownError",
    "PaymentRejectedError",
    "PoolShareRule",
    "RatePerMilleRule",
    "Settings",
    "StalePlanError",
    "UnknownCurrencyError",
    "WebhookSignatureError",
]
