"""Planning a payout run: the dry run, from the read models (see :mod:`.plan` for the rules)."""

from __future__ import annotations

from datetime import date

from creator_ledger.domain.accounts import CREATOR_PAYABLE, CREATOR_RECEIVABLE
from creator_ledger.ledger.plan import PayoutPlan, compute_plan
from creator_ledger.ledger.projections import Projector
from creator_ledger.ledger.settings import Settings
from creator_ledger.ledger.validation import Currency, NonNegativeMinor, command


class Planner:
    """Makes payout plans.  It reads; it is never given a payment provider, so it cannot pay."""

    def __init__(self, projector: Projector, settings: Settings) -> None:
        self.projector = projector
        self.settings = settings

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
        the end of that business day."""
        if catch_up:
            self.projector.catch_up()
        threshold = (
            self.settings.threshold_minor(currency) if threshold_minor is None else threshold_minor
        )
        return self.compute(currency, as_of, threshold)

    def compute(self, currency: str, as_of: date | None, threshold: int) -> PayoutPlan:
        """The plan the read models give now (not caught up first)."""
        rm = self.projector.read_models
        balances = rm.creator_balances(currency, [CREATOR_PAYABLE, CREATOR_RECEIVABLE])
        if as_of is not None:
            then = rm.creator_payables_as_of(currency, as_of)
            for creator, kinds in balances.items():
                now = kinds.get(CREATOR_PAYABLE, 0)  # credit-normal: more negative = more owed
                kinds[CREATOR_PAYABLE] = max(now, then.get(creator, 0))
        return compute_plan(
            currency=currency,
            as_of=as_of,
            threshold_minor=threshold,
            balances=balances,
            gates=rm.creator_gates(),
            read_model_position=rm.position(),
        )

    def current(self, plan: PayoutPlan) -> PayoutPlan:
        """The plan the ledger gives now for the same currency, date and threshold as ``plan``
        (caught up first): what execution compares a plan with."""
        self.projector.catch_up()
        return self.compute(plan.currency, plan.as_of, plan.threshold_minor)
