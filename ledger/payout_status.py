"""What a payout run has paid, failed and still waits for, and who proposed, approved and
executed it."""

from __future__ import annotations

from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.payout_workflow import summary
from creator_ledger.ledger.projections import Projector
from creator_ledger.ledger.results import RunStatus
from creator_ledger.ledger.settings import Settings


class PayoutStatus:
    def __init__(self, aggregates: Aggregates, projector: Projector, settings: Settings) -> None:
        self.aggregates = aggregates
        self.projector = projector
        self.settings = settings

    def payout_status(self, run_id: str) -> RunStatus:
        """The run's payouts by status, its failures and what still waits for the provider;
        its workflow (state, proposer, approvers, rejection) and who executed it."""
        self.projector.catch_up()
        rm = self.projector.read_models
        rows = rm.payouts(run_id=run_id)
        counts: dict[str, int] = {}
        amounts: dict[str, int] = {}
        for row in rows:
            counts[row.status] = counts.get(row.status, 0) + 1
            amounts[row.status] = amounts.get(row.status, 0) + row.amount_minor
        run = self.aggregates.run(run_id)
        return RunStatus(
            run_id=run_id,
            by_status=counts,
            amount_by_status_minor=amounts,
            currency=rows[0].currency if rows else (run.currency if run else None),
            failures=[
                {
                    "payout_id": str(r.payout_id),
                    "creator_id": r.creator_id,
                    "failure": r.failure or "",
                }
                for r in rows
                if r.status == "failed"
            ],
            unresolved=[str(r.payout_id) for r in rows if r.status == "requested"],
            run=summary(run, self.settings) if run is not None and not run.legacy else None,
            executed_by=rm.run_actors(run_id, "execute"),
        )
