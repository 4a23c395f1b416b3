"""creator-ledger: the application layer and public Python API.

from creator_ledger import CreatorLedger
"""

from creator_ledger.domain.errors import (
    AlreadyExistsError,
    ApprovalRefusedError,
    ConcurrencyError,
    CurrencyMismatchError,
    DatabaseBusyError,
    DatabaseUnavailableError,
    IdempotencyConflictError,
    InsufficientBalanceError,
    InsufficientBudgetError,
    InvalidAmountError,
    InvalidInputError,
    InvalidStateError,
    LedgerError,
    NotEligibleError,
    NotFoundError,
    NotMigratedError,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
    ProviderUnavailableError,
    RunNotApprovedError,
    StalePlanError,
    UnknownCurrencyError,
    UnreadableEventError,
    WebhookSignatureError,
)
from creator_ledger.ledger.creators import CreatorRecord
from creator_ledger.ledger.facade import CreatorLedger
from creator_ledger.ledger.gc_pause import freeze_startup_heap
from creator_ledger.ledger.programs import PoolShareRule, RatePerMilleRule
from creator_ledger.ledger.settings import Settings
from creator_ledger.ledger.verify import ChainHead, Verification

__all__ = [
    "AlreadyExistsError",
    "ApprovalRefusedError",
    "ChainHead",
    "ConcurrencyError",
    "CreatorLedger",
    "CreatorRecord",
    "CurrencyMismatchError",
    "DatabaseBusyError",
    "DatabaseUnavailableError",
    "IdempotencyConflictError",
    "InsufficientBalanceError",
    "InsufficientBudgetError",
    "InvalidAmountError",
    "InvalidInputError",
    "InvalidStateError",
    "LedgerError",
    "NotEligibleError",
    "NotFoundError",
    "NotMigratedError",
    "PaymentOutcomeUnknownError",
    "PaymentRejectedError",
    "PoolShareRule",
    "ProviderUnavailableError",
    "RatePerMilleRule",
    "RunNotApprovedError",
    "Settings",
    "StalePlanError",
    "UnknownCurrencyError",
    "UnreadableEventError",
    "Verification",
    "WebhookSignatureError",
    "freeze_startup_heap",
]
