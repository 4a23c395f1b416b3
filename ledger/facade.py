"""``CreatorLedger``: the one object a backend imports.

from creator_ledger import CreatorLedger

with CreatorLedger.open() as cl:   # LEDGER_DATABASE_URL, or the embedded SQLite file
    cl.create_fund(fund_key="fund-2026", name="Creator Fund", currency="USD",
                   budget_minor=20_000_000_000, idempotency_key="fund-2026")
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Self

from creator_ledger.adapters.readmodels import ReadModels
from creator_ledger.adapters.sql import Database, PostgresDatabase, SqliteDatabase
from creator_ledger.ledger.app import LedgerApplication
from creator_ledger.ledger.core import utc_now
from creator_ledger.ledger.creators import CreatorCommands
from creator_ledger.ledger.exclusivity import ExclusivityCommands
from creator_ledger.ledger.funds import FundCommands
from creator_ledger.ledger.payouts import PayoutCommands
from creator_ledger.ledger.programs import ProgramCommands
from creator_ledger.ledger.queries import Queries
from creator_ledger.ledger.reconcile import InternalReconciliation
from creator_ledger.ledger.reconcile_provider import ProviderReconciliation
from creator_ledger.ledger.reimbursements import ReimbursementCommands
from creator_ledger.ledger.settings import Settings


class CreatorLedger(
    FundCommands,
    ProgramCommands,
    CreatorCommands,
    ExclusivityCommands,
    ReimbursementCommands,
    PayoutCommands,
    Queries,
    InternalReconciliation,
    ProviderReconciliation,
):
    """The creator-ledger Python API: commands (validated, idempotent by key), queries and
    reconciliation.  Build one with :meth:`open`; close it (or use ``with``) when done."""

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> Self:
        settings = settings or Settings.from_env()
        db: Database
        if settings.is_postgres:
            db = PostgresDatabase(
                settings.postgres_conninfo(), max_size=settings.postgres_pool_size
            )
            read_models = ReadModels(db)
        else:
            path = settings.sqlite_path
            path.parent.mkdir(parents=True, exist_ok=True)
            db = SqliteDatabase(path)
            read_models = ReadModels(db)
            read_models.create_schema()
        app = LedgerApplication(env=settings.eventsourcing_env())
        return cls(app, read_models, settings=settings, clock=clock)

    def close(self) -> None:
        self.app.close()
        self.read_models.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
