"""SQL read models: journal, balances (with as-of), creators, programs, payouts, statements."""

from creator_ledger.adapters.readmodels.store import PostingRow, ProjectionBatch, ReadModels

__all__ = ["PostingRow", "ProjectionBatch", "ReadModels"]
