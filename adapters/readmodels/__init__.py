"""SQL read models: journal, balances (with as-of), creators, programs, payouts, statements.

``schema`` (one schema source for both databases), ``batch`` (what the projector fills),
``writer`` (writing a batch's rows), ``store`` (tracking positions, applying batches),
``queries`` and ``rows`` (every query, answering with frozen, typed rows).
"""

from creator_ledger.adapters.readmodels.batch import PostingRow, ProjectionBatch, json_text
from creator_ledger.adapters.readmodels.queries import ReadModelQueries
from creator_ledger.adapters.readmodels.rows import (
    AgreementRow,
    AuditRow,
    BalanceRow,
    ClaimItemRow,
    CreatorGate,
    CreatorRow,
    FundRow,
    HoldRow,
    JournalCount,
    JournalLine,
    PayoutRow,
    PeriodFacts,
    StatementPosting,
    UnbalancedEntry,
)
from creator_ledger.adapters.readmodels.schema import READ_MODELS
from creator_ledger.adapters.readmodels.store import (
    READ_MODEL_NAMES,
    ReadModels,
    StaleProjectionError,
    read_model_names,
)

__all__ = [
    "READ_MODELS",
    "READ_MODEL_NAMES",
    "AgreementRow",
    "AuditRow",
    "BalanceRow",
    "ClaimItemRow",
    "CreatorGate",
    "CreatorRow",
    "FundRow",
    "HoldRow",
    "JournalCount",
    "JournalLine",
    "PayoutRow",
    "PeriodFacts",
    "PostingRow",
    "ProjectionBatch",
    "ReadModelQueries",
    "ReadModels",
    "StaleProjectionError",
    "StatementPosting",
    "UnbalancedEntry",
    "json_text",
    "read_model_names",
]
