"""SQL read models: journal, balances (with as-of), creators, programs, payouts, statements.

``schema`` (one schema source for both databases), ``store`` (applying projection batches
with their tracking position), ``queries`` and ``rows`` (every query, answering with frozen,
typed rows).
"""

from creator_ledger.adapters.readmodels.queries import ReadModelQueries
from creator_ledger.adapters.readmodels.rows import (
    AgreementRow,
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
from creator_ledger.adapters.readmodels.store import PostingRow, ProjectionBatch, ReadModels

__all__ = [
    "AgreementRow",
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
    "StatementPosting",
    "UnbalancedEntry",
]
