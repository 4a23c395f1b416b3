"""The composition root: settings -> the concrete adapters -> the use cases -> a ledger.

This is the only module that builds concrete adapters (the event store, the read models'
database, the payment providers) or imports ``stripe``; everything else is handed what it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from uuid import uuid4

import stripe

from creator_ledger.adapters import database_errors
from creator_ledger.adapters.database_errors import DatabaseAddress, probe_postgres
from creator_ledger.adapters.eventstore import EventStore
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.adapters.payments.port import PaymentProvider, ProviderEvent
from creator_ledger.adapters.payments.stripe_connect import (
    StripeConnectProvider,
    StripeTransportOptions,
)
from creator_ledger.adapters.payments.webhooks import livemode_of_key, parse_stripe_webhook
from creator_ledger.adapters.readmodels import ReadModels
from creator_ledger.adapters.readmodels.schema import migration_ids
from creator_ledger.adapters.sql import Database, PostgresDatabase, SqliteDatabase
from creator_ledger.domain.catalog import AGGREGATES, SNAPSHOT_INTERVALS
from creator_ledger.domain.errors import InvalidInputError, LedgerError, NotFoundError
from creator_ledger.domain.idempotency import CommandRecord
from creator_ledger.domain.payout import Payout
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.audit import Audit
from creator_ledger.ledger.commands import Clock, CommandRunner, utc_now
from creator_ledger.ledger.creators import Creators
from creator_ledger.ledger.exclusivity import Exclusivity
from creator_ledger.ledger.funds import Funds
from creator_ledger.ledger.journal import Journal
from creator_ledger.ledger.operations import Operations
from creator_ledger.ledger.parts import Parts
from creator_ledger.ledger.payout_runs import PayoutRuns
from creator_ledger.ledger.payout_settlement import PayoutSettlement
from creator_ledger.ledger.payout_status import PayoutStatus
from creator_ledger.ledger.payout_workflow import PayoutWorkflow
from creator_ledger.ledger.planner import Planner
from creator_ledger.ledger.programs import Programs
from creator_ledger.ledger.projections import Projector
from creator_ledger.ledger.provider_events import ProviderEvents
from creator_ledger.ledger.queries import Queries
from creator_ledger.ledger.reconcile import InternalReconciliation
from creator_ledger.ledger.reconcile_provider import ProviderReconciliation
from creator_ledger.ledger.reimbursements import Reimbursements
from creator_ledger.ledger.settings import Settings
from creator_ledger.ledger.verify import Verifier


def read_model_database(settings: Settings, *, create: bool = True) -> tuple[Database, ReadModels]:
    """The read models' database: PostgreSQL (schema from ``migrate``), the SQLite file, or a
    SQLite database in memory (``memory://``, beside the library's in-memory event store).
    Without ``create``, a SQLite file that does not exist is refused and nothing is made."""
    db: Database
    if settings.is_memory:
        db = SqliteDatabase.in_memory(f"creator-ledger-{uuid4().hex}")
        read_models = ReadModels(db)
        read_models.create_schema()
        return db, read_models
    if settings.is_postgres:
        db = PostgresDatabase(
            settings.postgres_conninfo(),
            max_size=settings.postgres_pool_size,
            timeout_s=settings.connect_timeout_s,
            options=settings.postgres_session_options(),
        )
        return db, ReadModels(db)
    path = settings.sqlite_path
    if not create and not path.is_file():
        msg = (
            f"no ledger at {path}: the file does not exist (check --database or"
            " LEDGER_DATABASE_URL). Read commands never create one; a ledger is created by the"
            " first command written to it (CreatorLedger.open(settings) in Python), or"
            f" `creator-ledger demo --database {path}` plays the demo story into a new one"
        )
        raise NotFoundError(msg, database=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    db = SqliteDatabase(path)
    read_models = ReadModels(db)
    read_models.create_schema()
    return db, read_models


def database_address(settings: Settings) -> DatabaseAddress:
    """Where the settings say the database is (for errors: no password is ever shown)."""
    if settings.is_memory:
        return DatabaseAddress("memory")
    if not settings.is_postgres:
        return DatabaseAddress("sqlite", database=str(settings.sqlite_path))
    p = settings.postgres_parts()
    return DatabaseAddress(
        "postgres",
        host=p["host"],
        port=p["port"],
        database=p["dbname"],
        user=p["user"],
        schema=settings.postgres_schema,
        password=p["password"],
    )


@contextmanager
def database_errors_translated(address: DatabaseAddress) -> Iterator[None]:
    """Database failures inside become the ledger's own errors (one line, no password)."""
    try:
        yield
    except LedgerError:
        raise
    except Exception as e:
        translated = database_errors.translate(e, address)
        if translated is None:
            raise
        raise translated from e


def build(settings: Settings, *, clock: Clock = utc_now, create: bool = True) -> Parts:
    """Everything a :class:`~creator_ledger.ledger.facade.CreatorLedger` is made of; without
    ``create``, only for a ledger that exists already (see :func:`read_model_database`).

    On PostgreSQL it first connects once, within ``LEDGER_CONNECT_TIMEOUT_S``, and checks that
    every migration was applied: an unreachable or unmigrated database is refused at once
    (:class:`DatabaseUnavailableError`, :class:`NotMigratedError`), naming the host."""
    address = database_address(settings)
    with database_errors_translated(address):
        if settings.is_postgres:
            probe_postgres(
                settings.postgres_conninfo(),
                settings.postgres_session_options(),
                address,
                migrations=migration_ids(),
            )
        db, read_models = read_model_database(settings, create=create)
        store = EventStore(
            settings.eventsourcing_env(),
            aggregates=AGGREGATES,
            snapshot_intervals=SNAPSHOT_INTERVALS,
            connection_options=(
                settings.postgres_session_options() if settings.is_postgres else None
            ),
            # Not kept in memory: command records (written once, read once: a replay), and
            # payouts (an execution writes thousands, holds them itself while it sends them,
            # and would push the account books out of the cache: then every batch reloads every
            # book from its events, a cost that grew with the run, issue 9's W4 growth).
            uncached=(CommandRecord, Payout),
            lock_timeout_s=settings.postgres_lock_timeout_s,
            statement_timeout_s=settings.postgres_statement_timeout_s,
        )
    aggregates = Aggregates(store)
    runner = CommandRunner(aggregates, clock)
    projector = Projector(store, read_models)
    planner = Planner(projector, settings, clock)
    exclusivity = Exclusivity(aggregates, runner)
    workflow = PayoutWorkflow(aggregates, runner, planner, settings)
    verifier = Verifier(store)

    def close() -> None:
        store.close()
        db.close()

    return Parts(
        settings=settings,
        store=store,
        aggregates=aggregates,
        runner=runner,
        projector=projector,
        funds=Funds(aggregates, runner),
        creators=Creators(aggregates, runner),
        programs=Programs(aggregates, runner),
        exclusivity=exclusivity,
        reimbursements=Reimbursements(aggregates, runner),
        queries=Queries(aggregates, projector),
        planner=planner,
        runs=PayoutRuns(aggregates, planner, workflow, clock),
        status=PayoutStatus(aggregates, projector, settings),
        provider_events=ProviderEvents(aggregates, runner, projector, webhook_parser(settings)),
        internal=InternalReconciliation(aggregates, projector, verifier),
        provider_reconciliation=ProviderReconciliation(projector),
        close=close,
        workflow=workflow,
        settlement=PayoutSettlement(aggregates, runner),
        audit=Audit(projector),
        journal=Journal(projector),
        operations=Operations(aggregates, projector, exclusivity),
        verifier=verifier,
        translate_error=lambda e: database_errors.translate(e, address),
    )


def webhook_parser(settings: Settings) -> Callable[[bytes, str, str], ProviderEvent]:
    """Stripe webhooks verified and parsed; with a Stripe key configured, an event from the
    other mode than the key's (test or live) is refused."""
    key = settings.stripe_secret_key
    livemode = livemode_of_key(key.get_secret_value()) if key is not None else None

    def parse(raw_body: bytes, signature_header: str, secret: str) -> ProviderEvent:
        return parse_stripe_webhook(raw_body, signature_header, secret, livemode=livemode)

    return parse


def build_provider(settings: Settings) -> PaymentProvider:
    """The payment provider the settings name (``LEDGER_PAYMENT_PROVIDER``)."""
    if settings.payment_provider == "memory":
        return InMemoryProvider()
    if settings.stripe_secret_key is None:
        msg = (
            "set STRIPE_SECRET_KEY (sk_test_... or sk_live_...) to pay through Stripe, or"
            " LEDGER_PAYMENT_PROVIDER=memory to try a run in-process"
        )
        raise InvalidInputError(msg)
    stripe.enable_telemetry = False  # no client telemetry from a payments back office
    transport = StripeTransportOptions(
        max_network_retries=settings.stripe_max_network_retries,
        connect_timeout_s=settings.stripe_connect_timeout_s,
        read_timeout_s=settings.stripe_read_timeout_s,
    )
    return StripeConnectProvider.from_transport_options(
        settings.stripe_secret_key.get_secret_value(),
        transport,
        base_url=settings.stripe_api_base,
    )


def memory_provider(clock: Callable[[], datetime] = utc_now) -> InMemoryProvider:
    """An in-process provider (the demo's, and for trying a run): forgotten when the process
    ends."""
    return InMemoryProvider(clock=clock)
