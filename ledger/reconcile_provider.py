"""Provider reconciliation: the ledger's payouts against the provider's transfers.

Matched by payout id (the transfer's ``metadata.payout_id``), every discrepancy is reported:

* ``missing_at_provider`` — the ledger says paid, the provider has no transfer;
* ``unknown_to_ledger`` — a transfer the ledger did not make (or does not know);
* ``duplicate_transfer`` — more than one transfer for one payout;
* ``amount_mismatch`` / ``currency_mismatch`` / ``destination_mismatch`` / ``transfer_mismatch``;
* ``status_mismatch`` — e.g. the ledger says failed but the provider paid, or reversed amounts
  differ;
* ``unresolved`` — a payout still waiting for its outcome (run execute again to resolve it);
* ``in_transit`` — the in-transit clearing account does not equal the payouts still waiting
  for an outcome (it nets to zero once every outcome is known).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from creator_ledger.adapters.payments.port import PaymentProvider, Transfer
from creator_ledger.adapters.readmodels import PayoutRow
from creator_ledger.domain.accounts import IN_TRANSIT
from creator_ledger.domain.errors import InvalidInputError
from creator_ledger.ledger.projections import Projector
from creator_ledger.ledger.reconcile import Discrepancy, ReconciliationReport

#: A transfer may be created a little after the payout was requested.
MATCH_SLACK = timedelta(days=1)


CHECKS = (
    "missing_at_provider",
    "unknown_to_ledger",
    "duplicate_transfer",
    "amount_mismatch",
    "currency_mismatch",
    "destination_mismatch",
    "transfer_mismatch",
    "status_mismatch",
    "unresolved",
    "in_transit",
)

Add = Callable[[str, str, Any, Any, str], None]


def _check_payout(row: PayoutRow, matches: list[Transfer], add: Add) -> None:
    """One ledger payout against the provider's transfers for its id."""
    pid = str(row.payout_id)
    status, transfer_id = row.status, row.transfer_id
    if len(matches) > 1:
        add("duplicate_transfer", pid, 1, len(matches), "more than one transfer for one payout")
    t = matches[0] if matches else None
    if status == "requested":
        note = "the provider has a transfer" if t else "the provider has no transfer yet"
        add(
            "unresolved",
            pid,
            "paid or failed",
            "requested",
            f"outcome not recorded ({note}): run execute again",
        )
        return
    if status == "failed":
        if t is not None:
            add(
                "status_mismatch",
                pid,
                "no transfer",
                t.transfer_id,
                f"ledger says failed ({row.failure}), the provider paid",
            )
        return
    if t is None:
        add(
            "missing_at_provider",
            pid,
            transfer_id,
            None,
            f"ledger says {status}, the provider has no transfer",
        )
        return
    expected = {
        "transfer_mismatch": (transfer_id, t.transfer_id, "transfer id differs"),
        "amount_mismatch": (row.amount_minor, t.amount_minor, "amount differs"),
        "currency_mismatch": (row.currency, t.currency, "currency differs"),
        "destination_mismatch": (row.destination, t.destination, "paid to another account"),
        "status_mismatch": (
            row.reversed_minor,
            t.amount_reversed_minor,
            "reversed amount differs",
        ),
    }
    for check, (ours, theirs, message) in expected.items():
        if ours != theirs:
            add(check, pid, ours, theirs, message)


class ProviderReconciliation:
    """The ledger's payouts against the provider's transfers (see the module docstring)."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector
        self.read_models = projector.read_models

    def reconcile_provider(
        self, provider: PaymentProvider, *, since: datetime, until: datetime
    ) -> ReconciliationReport:
        """Reconcile payouts requested in ``[since, until)`` with the provider's transfers."""
        if since.tzinfo is None or until.tzinfo is None or until <= since:
            raise InvalidInputError("since and until must be timezone-aware, with since < until")
        self.projector.catch_up()
        found: list[Discrepancy] = []

        def add(check: str, subject: str, expected: Any, actual: Any, message: str) -> None:
            found.append(
                Discrepancy(
                    check=check, subject=subject, expected=expected, actual=actual, message=message
                )
            )

        payouts = self.read_models.payouts_in_window(since, until)
        transfers: dict[str, list[Transfer]] = defaultdict(list)
        strangers: list[Transfer] = []
        for t in provider.list_transfers(since, until + MATCH_SLACK):
            if t.payout_id:
                transfers[t.payout_id].append(t)
            elif t.created < until:
                strangers.append(t)
        ledger_ids = {str(row.payout_id) for row in payouts}
        for row in payouts:
            _check_payout(row, transfers.get(str(row.payout_id), []), add)
        unmatched = [
            pid for pid, ts in transfers.items() if pid not in ledger_ids and ts[0].created < until
        ]
        known = self.read_models.payout_ids(unmatched)
        for pid in unmatched:
            if pid not in known:
                add(
                    "unknown_to_ledger",
                    pid,
                    None,
                    transfers[pid][0].transfer_id,
                    "transfer for a payout the ledger does not know",
                )
        for t in strangers:
            add(
                "unknown_to_ledger",
                t.transfer_id,
                None,
                t.amount_minor,
                "transfer without a ledger payout id",
            )
        clearing = self._check_in_transit(add)
        checks = dict.fromkeys(CHECKS, 0)
        for d in found:
            checks[d.check] += 1
        return ReconciliationReport(
            kind="provider",
            checks=checks,
            discrepancies=found,
            facts={
                "since": since.isoformat(),
                "until": until.isoformat(),
                "ledger_payouts": len(payouts),
                "provider_transfers": sum(len(v) for v in transfers.values()) + len(strangers),
                "in_transit_minor": clearing,
            },
        )

    def _check_in_transit(self, add: Add) -> dict[str, int]:
        """The clearing account equals what is still waiting for an outcome (zero when none)."""
        waiting = self.read_models.payouts_in_transit()
        clearing = {
            r.currency: -r.balance_minor
            for r in self.read_models.balances_of_kind(IN_TRANSIT)
            if r.balance_minor
        }
        for currency in sorted(waiting.keys() | clearing.keys()):
            if waiting.get(currency, 0) != clearing.get(currency, 0):
                add(
                    "in_transit",
                    currency,
                    waiting.get(currency, 0),
                    clearing.get(currency, 0),
                    "in-transit clearing differs from the payouts waiting for an outcome",
                )
        return clearing
