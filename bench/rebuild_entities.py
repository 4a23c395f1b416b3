"""The W5 limit's entity rows: funds, programs, periods, creators and their contracts and
holds, claim items and payouts, folded from decoded events as the ledger's projection folds
them (``ledger/projections.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bench.rebuild_journal import Event, day, dt, uuid


class EntityRows:
    """Entity rows per table, keyed like the table's primary key."""

    rows: dict[str, dict[Any, dict[str, Any]]]

    def _fund_row(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        self.rows["funds"][oid] = {
            "fund_id": oid,
            "fund_key": e["fund_key"],
            "name": e["name"],
            "currency": e["currency"],
        }

    def _program_created(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        self.rows["programs"][oid] = {
            "program_id": oid,
            "program_key": e["program_key"],
            "name": e["name"],
            "fund_id": uuid(e["fund_id"]),
            "currency": e["currency"],
            "rule_kind": e["rule"]["kind"],
            "rule_version": 1,
            "rule": json.dumps(e["rule"], sort_keys=True),
        }

    def _rule_changed(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        row = self.rows["programs"][oid]
        row["rule_version"] = e["rule_version"]
        row["rule"] = json.dumps(e["rule"], sort_keys=True)

    def _period_opened(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        self.rows["periods"][oid] = {
            "period_id": oid,
            "program_id": uuid(e["program_id"]),
            "period_key": e["period_key"],
            "starts_on": day(e["starts_on"]),
            "ends_on": day(e["ends_on"]),
            "status": "open",
            "rule_version": e["rule_version"],
            "rule": json.dumps(e["rule"], sort_keys=True),
            "pool_minor": e["pool_minor"],
            "reported_views": 0,
            "invalid_views": 0,
            "reports": 0,
        }

    def _usage(self, column: str) -> Callable[[Event], None]:
        def handle(ev: Event) -> None:
            oid, e = ev.oid, ev.e
            row = self.rows["periods"][oid]
            row[column] += sum(r[2] for r in e["rows"])
            row["reports"] += 1

        return handle

    def _period_closed(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        self.rows["periods"][oid].update(
            status="closed",
            total_qualified_views=e["total_qualified_views"],
            pool_minor=e["pool_minor"],
            distributed_minor=e["distributed_minor"],
            returned_minor=e["returned_minor"],
            scaled_from_minor=e["scaled_from_minor"],
            creators=e["creators"],
            capped=e["capped"],
            closed_at=dt(e["effective_at"]),
        )

    def _creator_enrolled(self, ev: Event) -> None:
        """``Creator.Enrolled``, and ``Creator.Imported`` (a bulk enrolment's record, which
        also carries the payout account and the KYC/tax status)."""
        oid, e = ev.oid, ev.e
        account = e.get("payout_account")
        self.rows["creators"][oid.hex] = {
            "creator_id": oid.hex,
            "creator_ref": e["creator_ref"],
            "display_name": e["display_name"],
            "country": e["country"],
            "payout_provider": e.get("payout_provider"),
            "payout_account": account,
            "account_status": e.get("account_status", "none"),
            "kyc_status": e.get("kyc_status", "pending"),
            "tax_status": e.get("tax_status", "missing"),
            "enrolled_at": dt(e["effective_at"]),
            "payout_account_linked_at": None if account is None else dt(e["effective_at"]),
        }

    def _account_linked(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        self.rows["creators"][oid.hex].update(
            payout_provider=e["provider"],
            payout_account=e["account_ref"],
            account_status=e["status"],
            payout_account_linked_at=dt(e["effective_at"]),
        )

    def _account_status(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        self.rows["creators"][oid.hex]["account_status"] = e["status"]

    def _kyc(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        self.rows["creators"][oid.hex].update(
            kyc_status=e["kyc_status"], tax_status=e["tax_status"]
        )

    def _contract(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        self.rows["creator_contracts"][(oid.hex, e["contract_id"])] = {
            "creator_id": oid.hex,
            "contract_id": e["contract_id"],
            "kind": e["kind"],
            "signed_on": day(e["signed_on"]),
        }

    def _hold_placed(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        self.rows["creator_holds"][(oid.hex, e["hold_id"])] = {
            "creator_id": oid.hex,
            "hold_id": e["hold_id"],
            "kind": e["kind"],
            "reason": e["reason"],
            "placed_at": dt(e["effective_at"]),
        }

    def _hold_released(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        del self.rows["creator_holds"][(oid.hex, e["hold_id"])]

    def _accrual_hold_placed(self, ev: Event) -> None:
        e = ev.e
        self.rows["creator_holds"][(e["creator_id"], e["hold_id"])] = {
            "creator_id": e["creator_id"],
            "hold_id": e["hold_id"],
            "kind": "accrual",
            "reason": e["reason"],
            "placed_at": dt(e["effective_at"]),
        }

    def _accrual_hold_released(self, ev: Event) -> None:
        e = ev.e
        del self.rows["creator_holds"][(e["creator_id"], e["hold_id"])]

    def _agreed(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        self.rows["agreements"][oid] = {
            "agreement_id": oid,
            "agreement_key": e["agreement_key"],
            "creator_id": e["creator_id"]["_data_"],
            "fund_id": uuid(e["fund_id"]),
            "currency": e["currency"],
            "total_minor": e["total_minor"],
            "credited_minor": 0,
            "starts_on": day(e["starts_on"]),
            "ends_on": day(e["ends_on"]),
            "schedule": e["schedule"],
            "vesting": e["vesting"],
            "status": "active",
        }

    def _instalment_credited(self, ev: Event) -> None:
        self.rows["agreements"][ev.oid]["credited_minor"] += ev.e["amount_minor"]

    def _breached(self, ev: Event) -> None:
        e = ev.e
        self.rows["agreements"][ev.oid].update(
            status="breached",
            ended_on=day(e["breached_on"]),
            forfeited_minor=e["forfeited_minor"],
            clawback_minor=e["clawback_minor"],
        )

    def _terminated(self, ev: Event) -> None:
        e = ev.e
        self.rows["agreements"][ev.oid].update(
            status="terminated",
            ended_on=day(e["terminated_on"]),
            forfeited_minor=e["cancelled_minor"],
            clawback_minor=0,
        )

    def _claim_submitted(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        rows = self.rows["claim_items"]
        at = dt(e["effective_at"])
        creator = e["creator_id"]["_data_"]
        for item_id, description, amount, receipt in e["items"]:
            rows[(oid, item_id)] = {
                "claim_id": oid,
                "claim_key": e["claim_key"],
                "item_id": item_id,
                "creator_id": creator,
                "currency": e["currency"],
                "description": description,
                "receipt_ref": receipt,
                "claimed_minor": amount,
                "status": "pending",
                "approved_minor": 0,
                "reason": "",
                "submitted_at": at,
                "decided_at": None,
            }

    def _item_approved(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        self.rows["claim_items"][(oid, e["item_id"])].update(
            status="approved",
            approved_minor=e["amount_minor"],
            reason=e["note"],
            decided_at=dt(e["effective_at"]),
        )

    def _item_rejected(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        self.rows["claim_items"][(oid, e["item_id"])].update(
            status="rejected",
            approved_minor=0,
            reason=e["reason"],
            decided_at=dt(e["effective_at"]),
        )

    def _payout_requested(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        at = dt(e["effective_at"])
        self.rows["payouts"][oid] = {
            "payout_id": oid,
            "run_id": e["run_id"],
            "creator_id": e["creator_id"]["_data_"],
            "currency": e["currency"],
            "amount_minor": e["amount_minor"],
            "destination": e["destination"],
            "status": "requested",
            "transfer_id": None,
            "failure": None,
            "reversed_minor": 0,
            "requested_at": at,
            "updated_at": at,
        }

    def _payout_paid_row(self, ev: Event) -> None:
        e = ev.e
        self.rows["payouts"][ev.oid].update(
            status="paid", transfer_id=e["transfer_id"], updated_at=dt(e["effective_at"])
        )

    def _payout_failed(self, ev: Event) -> None:
        oid, e = ev.oid, ev.e
        self.rows["payouts"][oid].update(
            status="failed",
            failure=f"{e['code']}: {e['reason']}",
            updated_at=dt(e["effective_at"]),
        )

    def _payout_reversed(self, ev: Event) -> None:
        e = ev.e
        row = self.rows["payouts"][ev.oid]
        row["updated_at"] = dt(e["effective_at"])
        row["reversed_minor"] += e["amount_minor"]
        if e["fully_reversed"]:
            row["status"] = "reversed"
