"""``CreatorLedger``: the one object a backend imports.

from ledger import CreatorLedger

with CreatorLedger.open() as cl:   # LEDGER_DATABASE_URL, or the embedded SQLite file
    cl.create_fund(fund_key="fund-2026", name="Creator Fund", currency="USD",
                   budget_minor=20_000_000_000, idempotency_key="fund-2026")
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Self

from adapters.readmodels import ReadModels
from adapters.sql import Database, PostgresDatabase, SqliteDatabase
from ledger.app import LedgerApplication
from ledger.core import utc_now
from ledger.creators import CreatorCommands
from ledger.exclusivity import ExclusivityCommands
from ledger.funds import FundCommands
from ledger.payouts import PayoutCommands
from ledger.programs import ProgramCommands
from ledger.queries import Queries
from ledger.reconcile import InternalReconciliation
from ledger.reconcile_provider import ProviderReconciliation
from ledger.reimbursements import ReimbursementCommands
from ledger.settings import Settings


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
