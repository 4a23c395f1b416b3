"""The composition root: settings -> the concrete adapters -> the use cases -> a ledger.

This is the only module that builds concrete adapters (the event store, the read models'
database, the payment providers) or imports ``stripe``; everything else is handed what it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import uuid4

import stripe

from creator_ledger.adapters.eventstore import EventStore
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.adapters.payments.port import PaymentProvider, ProviderEvent
from creator_ledger.adapters.payments.stripe_connect import (
    StripeConnectProvider,
    StripeTransportOptions,
)
from creator_ledger.adapters.payments.webhooks import livemode_of_key, parse_stripe_webhook
from creator_ledger.adapters.readmodels import ReadModels
from creator_ledger.adapters.sql import Database, PostgresDatabase, SqliteDatabase
from creator_ledger.domain.catalog import AGGREGATES, SNAPSHOT_INTERVALS
from creator_ledger.domain.errors import InvalidInputError
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.audit import Audit
from creator_ledger.ledger.commands import Clock, CommandRunner, utc_now
from creator_ledger.ledger.creators import Creators
from creator_ledger.ledger.exclusivity import Exclusivity
from creator_ledger.ledger.funds import Funds
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


def read_model_database(settings: Settings) -> tuple[Database, ReadModels]:
    """The read models' database: PostgreSQL (schema from ``migrate``), the SQLite file, or a
    SQLite database in memory (``memory://``, beside the library's in-memory event store)."""
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
        )
        return db, ReadModels(db)
    path = settings.sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    db = SqliteDatabase(path)
    read_models = ReadModels(db)
    read_models.create_schema()
    return db, read_models


def build(settings: Settings, *, clock: Clock = utc_now) -> Parts:
    """Everything a :class:`~creator_ledger.ledger.facade.CreatorLedger` is made of."""
    db, read_models = read_model_database(settings)
    store = EventStore(
        settings.eventsourcing_env(),
        aggregates=AGGREGATES,
        snapshot_intervals=SNAPSHOT_INTERVALS,
        connection_options=settings.postgres_options() if settings.is_postgres else None,
    )
    aggregates = Aggregates(store)
    runner = CommandRunner(aggregates, clock)
    projector = Projector(store, read_models)
    planner = Planner(projector, settings, clock)
    workflow = PayoutWorkflow(aggregates, runner, planner, settings)

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
        exclusivity=Exclusivity(aggregates, runner),
        reimbursements=Reimbursements(aggregates, runner),
        queries=Queries(aggregates, projector),
        planner=planner,
        runs=PayoutRuns(aggregates, planner, workflow, clock),
        status=PayoutStatus(aggregates, projector, settings),
        provider_events=ProviderEvents(aggregates, runner, projector, webhook_parser(settings)),
        internal=InternalReconciliation(aggregates, projector),
        provider_reconciliation=ProviderReconciliation(projector),
        close=close,
        workflow=workflow,
        settlement=PayoutSettlement(aggregates, runner),
        audit=Audit(projector),
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
