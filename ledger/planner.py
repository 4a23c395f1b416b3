"""Planning a payout run: the dry run, from the read models and the payout settings (see
:mod:`.plan` for the rules)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from creator_ledger.adapters.readmodels import CreatorGate
from creator_ledger.domain.accounts import CREATOR_PAYABLE, CREATOR_RECEIVABLE
from creator_ledger.domain.payout_run import PayoutRun
from creator_ledger.ledger.commands import Clock
from creator_ledger.ledger.gc_pause import gc_paused
from creator_ledger.ledger.plan import PayoutControls, PayoutPlan, compute_plan
from creator_ledger.ledger.projections import Projector
from creator_ledger.ledger.settings import Settings
from creator_ledger.ledger.validation import Currency, NonNegativeMinor, command


class Planner:
    """Makes payout plans.  It reads; it is never given a payment provider, so it cannot pay."""

    def __init__(self, projector: Projector, settings: Settings, clock: Clock) -> None:
        self.projector = projector
        self.settings = settings
        self.clock = clock

    @command
    def plan(
        self,
        *,
        currency: Currency,
        as_of: date | None = None,
        threshold_minor: NonNegativeMinor | None = None,
        catch_up: bool = True,
    ) -> PayoutPlan:
        """The dry run: who would be paid what in ``currency``, and why everyone else is left
        out.  Writes nothing to the ledger (``catch_up`` only brings the read models, which are
        derived from it, up to date first).  With ``as_of``, pays at most what was payable at
        the end of that business day, less what payouts and offsets have taken from it since.
        ``propose`` records the same plan as a payout run."""
        if catch_up:
            self.projector.catch_up()
        return self.compute(currency, as_of, self.threshold(currency, threshold_minor))

    def threshold(self, currency: str, threshold_minor: int | None) -> int:
        if threshold_minor is None:
            return self.settings.threshold_minor(currency)
        return threshold_minor

    @gc_paused()
    def compute(
        self,
        currency: str,
        as_of: date | None,
        threshold: int,
        *,
        planned_at: datetime | None = None,
    ) -> PayoutPlan:
        """The plan the read models give now (not caught up first), as of ``planned_at``
        (default: now), which is what the new-account wait is counted to.

        As of a date, a creator is paid at most what was payable at the end of that day, less
        what payouts and receivable offsets have taken from the payable balance since (a payout
        that failed gives its amount back), and never more than is payable now: planning the
        same date again, after a run paid it, pays nothing twice.

        With the cyclic garbage collector paused (:mod:`.gc_pause`): a plan of 100,000 lines
        makes ~600,000 objects that free themselves by reference counting, and the collector
        scanned the loaded heap again and again meanwhile."""
        rm = self.projector.read_models
        at = self.clock() if planned_at is None else planned_at
        balances = rm.creator_balances(currency, [CREATOR_PAYABLE, CREATOR_RECEIVABLE])
        if as_of is not None:
            then = rm.creator_payables_as_of(currency, as_of)
            paid_since = rm.creator_payouts_after(currency, as_of)
            for creator, kinds in balances.items():
                # Credit-normal: more negative = more owed; a payout since then is a debit.
                cap = min(0, then.get(creator, 0) + paid_since.get(creator, 0))
                kinds[CREATOR_PAYABLE] = max(kinds.get(CREATOR_PAYABLE, 0), cap)
        gates = rm.creator_gates()
        return compute_plan(
            currency=currency,
            as_of=as_of,
            threshold_minor=threshold,
            balances=balances,
            gates=gates,
            read_model_position=rm.position(),
            controls=self.controls(currency, at, gates),
        )

    def controls(
        self, currency: str, planned_at: datetime, gates: Mapping[str, CreatorGate]
    ) -> PayoutControls:
        """The settings' part of the gates: the line limit of ``currency`` and the new-account
        wait (with who has been paid to their recently linked account before)."""
        wait = timedelta(days=self.settings.new_account_hold_days)
        paid: set[tuple[str, str]] = set()
        if wait:
            recent = [
                cid
                for cid, g in gates.items()
                if g.payout_account_linked_at is not None
                and g.payout_account_linked_at + wait > planned_at
            ]
            if recent:
                paid = self.projector.read_models.paid_destinations(recent)
        return PayoutControls(
            planned_at=planned_at,
            line_limit_minor=self.settings.payout_line_limits.get(currency),
            new_account_wait=wait,
            paid_destinations=paid,
        )

    def derive(self, run: PayoutRun) -> PayoutPlan:
        """The plan the ledger gives now for a run's currency, date, threshold and planning
        time (caught up first): what approval and execution compare the run with."""
        self.projector.catch_up()
        return self.compute(run.currency, run.as_of, run.threshold_minor, planned_at=run.planned_at)
