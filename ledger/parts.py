"""What a ledger is made of: its use cases and what they share (built by
:func:`creator_ledger.ledger.bootstrap.build`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from creator_ledger.domain.errors import LedgerError
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.audit import Audit
from creator_ledger.ledger.commands import CommandRunner
from creator_ledger.ledger.creators import Creators
from creator_ledger.ledger.exclusivity import Exclusivity
from creator_ledger.ledger.funds import Funds
from creator_ledger.ledger.journal import Journal
from creator_ledger.ledger.operations import Operations
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

if TYPE_CHECKING:
    from creator_ledger.adapters.eventstore import EventStore


@dataclass(frozen=True)
class Parts:
    """What a :class:`CreatorLedger` is made of (see :func:`bootstrap.build`)."""

    settings: Settings
    store: EventStore
    aggregates: Aggregates
    runner: CommandRunner
    projector: Projector
    funds: Funds
    creators: Creators
    programs: Programs
    exclusivity: Exclusivity
    reimbursements: Reimbursements
    queries: Queries
    planner: Planner
    runs: PayoutRuns
    status: PayoutStatus
    provider_events: ProviderEvents
    internal: InternalReconciliation
    provider_reconciliation: ProviderReconciliation
    close: Callable[[], None]
    workflow: PayoutWorkflow
    settlement: PayoutSettlement
    audit: Audit
    journal: Journal
    operations: Operations
    verifier: Verifier
    #: The ledger's own error for a database failure (``DatabaseUnavailableError``,
    #: ``NotMigratedError``), or None when an exception is not one.
    translate_error: Callable[[BaseException], LedgerError | None] = lambda _e: None
