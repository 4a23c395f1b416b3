"""``CreatorLedger``: the one object a backend imports, and the one public face of the use cases.

    from creator_ledger import CreatorLedger

    with CreatorLedger.open() as cl:   # LEDGER_DATABASE_URL, or the embedded SQLite file
        cl.create_fund(fund_key="fund-2026", name="Creator Fund", currency="USD",
                       budget_minor=20_000_000_000, idempotency_key="fund-2026")

Each use case is a plain object with its dependencies passed in (built by
:mod:`creator_ledger.ledger.bootstrap`, the composition root); every method of the façade is
one of theirs, named where it is defined (``create_fund = _use("funds", Funds.create_fund)``),
so a reader or a tool can follow it.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from creator_ledger.domain.errors import LedgerError
from creator_ledger.ledger import bootstrap
from creator_ledger.ledger.audit import Audit
from creator_ledger.ledger.commands import utc_now
from creator_ledger.ledger.creators import Creators
from creator_ledger.ledger.exclusivity import Exclusivity
from creator_ledger.ledger.funds import Funds
from creator_ledger.ledger.journal import Journal
from creator_ledger.ledger.logs import log_context
from creator_ledger.ledger.metrics import observe_call, observe_result
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

P = ParamSpec("P")
#: Arguments every call's log lines carry as fields, when it has them.
_LOGGED = ("idempotency_key", "actor", "creator_ref", "run_id", "payout_id")
R = TypeVar("R")


def _use(
    part: str, method: Callable[Concatenate[Any, P], R]
) -> Callable[Concatenate[CreatorLedger, P], R]:
    """The façade's method for ``method`` of the use case ``part``: every call is counted,
    timed and logged (:mod:`.metrics`, with its idempotency key and actor as log fields), and
    a database failure inside becomes the ledger's own error (:mod:`.bootstrap`)."""
    name = method.__name__
    positional = list(inspect.signature(method).parameters)[1:]  # after self

    @functools.wraps(method)
    def call(self: CreatorLedger, /, *args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        given = dict(zip(positional, args, strict=False)) | kwargs
        fields = {k: given.get(k) for k in _LOGGED}
        run_id = getattr(given.get("plan"), "run_id", None)  # a payout run's plan names it
        if fields["run_id"] is None and isinstance(run_id, str):
            fields["run_id"] = run_id

        def observe(outcome: str) -> None:
            seconds = time.perf_counter() - started
            observe_call(name, outcome, seconds, is_command="actor" in given)

        with log_context(command=name, **fields):
            try:
                result = method(getattr(self.parts, part), *args, **kwargs)
            except LedgerError as e:
                observe(type(e).__name__)
                raise
            except Exception as e:
                translated = self.parts.translate_error(e)  # the database's failures, plainly
                observe("error" if translated is None else type(translated).__name__)
                if translated is None:
                    raise
                raise translated from e
            observe("ok")
            observe_result(result)
            return result

    return call


class CreatorLedger:
    """The creator-ledger Python API: commands (validated, idempotent by key), queries and
    reconciliation.  Build one with :meth:`open`; close it (or use ``with``) when done."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        create: bool = True,
    ) -> Self:
        """A ledger on ``settings`` (default: from the environment, ``LEDGER_*``).  With
        ``create=False`` (what read-only tools use), an embedded SQLite ledger must exist
        already: a missing file raises :class:`~creator_ledger.domain.errors.NotFoundError`
        saying how to create one, and nothing is made on disk."""
        return cls(bootstrap.build(settings or Settings.from_env(), clock=clock, create=create))

    @property
    def settings(self) -> Settings:
        return self.parts.settings

    def close(self) -> None:
        self.parts.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- funds ------------------------------------------------------------------------------
    create_fund = _use("funds", Funds.create_fund)
    top_up_fund = _use("funds", Funds.top_up_fund)
    fund = _use("funds", Funds.fund)

    # -- creators -----------------------------------------------------------------------------
    enrol_creator = _use("creators", Creators.enrol_creator)
    enrol_creators = _use("creators", Creators.enrol_creators)
    link_payout_account = _use("creators", Creators.link_payout_account)
    set_payout_account_status = _use("creators", Creators.set_payout_account_status)
    set_kyc_status = _use("creators", Creators.set_kyc_status)
    sign_contract = _use("creators", Creators.sign_contract)
    place_hold = _use("creators", Creators.place_hold)
    release_hold = _use("creators", Creators.release_hold)

    # -- per-view programs ----------------------------------------------------------------------
    create_program = _use("programs", Programs.create_program)
    change_program_rule = _use("programs", Programs.change_program_rule)
    open_period = _use("programs", Programs.open_period)
    report_usage = _use("programs", Programs.report_usage)
    deduct_invalid_traffic = _use("programs", Programs.deduct_invalid_traffic)
    estimate_period = _use("programs", Programs.estimate_period)
    close_period = _use("programs", Programs.close_period)

    # -- exclusivity ----------------------------------------------------------------------------
    agree_exclusivity = _use("exclusivity", Exclusivity.agree_exclusivity)
    credit_due_instalments = _use("exclusivity", Exclusivity.credit_due_instalments)
    reach_milestone = _use("exclusivity", Exclusivity.reach_milestone)
    breach_exclusivity = _use("exclusivity", Exclusivity.breach_exclusivity)
    terminate_exclusivity = _use("exclusivity", Exclusivity.terminate_exclusivity)
    agreement = _use("exclusivity", Exclusivity.agreement)

    # -- reimbursements -------------------------------------------------------------------------
    submit_claim = _use("reimbursements", Reimbursements.submit_claim)
    approve_claim_item = _use("reimbursements", Reimbursements.approve_claim_item)
    reject_claim_item = _use("reimbursements", Reimbursements.reject_claim_item)

    # -- queries --------------------------------------------------------------------------------
    balances = _use("queries", Queries.balances)
    trial_balance = _use("queries", Queries.trial_balance)
    statement = _use("queries", Queries.statement)
    owed = _use("queries", Queries.owed)
    journal_lines = _use("queries", Queries.journal_lines)
    journal = _use("journal", Journal.journal)
    journal_summary = _use("journal", Journal.journal_summary)

    # -- payouts --------------------------------------------------------------------------------
    plan = _use("planner", Planner.plan)
    propose = _use("workflow", PayoutWorkflow.propose)
    approve = _use("workflow", PayoutWorkflow.approve)
    reject = _use("workflow", PayoutWorkflow.reject)
    payout_run = _use("workflow", PayoutWorkflow.payout_run)
    run_plan = _use("workflow", PayoutWorkflow.run_plan)
    execute = _use("runs", PayoutRuns.execute)
    payout_status = _use("status", PayoutStatus.payout_status)
    settle_payout = _use("settlement", PayoutSettlement.settle_payout)
    handle_stripe_webhook = _use("provider_events", ProviderEvents.handle_stripe_webhook)
    record_provider_event = _use("provider_events", ProviderEvents.record_provider_event)

    # -- audit ----------------------------------------------------------------------------------
    audit = _use("audit", Audit.audit)

    # -- reconciliation -------------------------------------------------------------------------
    reconcile_internal = _use("internal", InternalReconciliation.reconcile_internal)
    reconcile_provider = _use("provider_reconciliation", ProviderReconciliation.reconcile_provider)

    # -- tamper evidence ------------------------------------------------------------------------
    verify = _use("verifier", Verifier.verify)

    # -- read models ----------------------------------------------------------------------------
    catch_up = _use("projector", Projector.catch_up)
    rebuild_read_models = _use("projector", Projector.rebuild)
    pending_events = _use("projector", Projector.pending)

    # -- operations -----------------------------------------------------------------------------
    status = _use("operations", Operations.status)
    ping = _use("operations", Operations.ping)
    credit_due_instalments_everywhere = _use(
        "operations", Operations.credit_due_instalments_everywhere
    )

    def events_recorded(self) -> int:
        """How many events the ledger holds (the position of the last one)."""
        try:
            return self.parts.store.max_notification_id()
        except Exception as e:
            translated = self.parts.translate_error(e)
            if translated is None:
                raise
            raise translated from e


__all__ = ["CreatorLedger", "Parts"]
