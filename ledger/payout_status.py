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
            counts[row[6]] = counts.get(row[6], 0) + 1
            amounts[row[6]] = amounts.get(row[6], 0) + int(row[4])
        return RunStatus(
            run_id=run_id,
            by_status=counts,
            amount_by_status_minor=amounts,
            currency=rows[0][3] if rows else None,
            failures=[
                {"payout_id": str(r[0]), "creator_id": r[2], "failure": r[8] or ""}
                for r in rows
                if r[6] == "failed"
            ],
            unresolved=[str(r[0]) for r in rows if r[6] == "requested"],
        )
