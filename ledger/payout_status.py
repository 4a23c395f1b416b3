"""What a payout run has paid, failed and still waits for."""

from __future__ import annotations

from creator_ledger.ledger.projections import Projector
from creator_ledger.ledger.results import RunStatus


class PayoutStatus:
    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    def payout_status(self, run_id: str) -> RunStatus:
        self.projector.catch_up()
        rows = self.projector.read_models.payouts(run_id=run_id)
        counts: dict[str, int] = {}
        amounts: dict[str, int] = {}
        for row in rows:
            counts[row.status] = counts.get(row.status, 0) + 1
            amounts[row.status] = amounts.get(row.status, 0) + row.amount_minor
        return RunStatus(
            run_id=run_id,
            by_status=counts,
            amount_by_status_minor=amounts,
            currency=rows[0].currency if rows else None,
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
        )
