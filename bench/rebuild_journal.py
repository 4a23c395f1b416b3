"""The W5 limit's posting rules: money events, decoded to plain dicts, folded into journal
entries and postings exactly as ``domain/posting.py`` maps them (the same accounts, amounts,
kinds, descriptions and ``detail`` JSON), then running balances in business-time order."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, NamedTuple
from uuid import UUID

from creator_ledger.domain.accounts import (
    CASH_PROVIDER,
    CREATOR_HELD,
    CREATOR_PAYABLE,
    CREATOR_RECEIVABLE,
    EXPENSE_CREATOR_FUND,
    EXPENSE_EXCLUSIVITY,
    EXPENSE_REIMBURSEMENTS,
    FUND_AVAILABLE,
    FUND_BUDGET,
    FUND_COMMITTED,
    FUND_SPENT,
    IN_TRANSIT,
)

AccountKey = tuple[str, str, str]  # (owner, kind, currency)
#: (entry_id, seq, kind, owner, currency, amount_minor, effective_on, detail)
Move = tuple[int, int, str, str, str, int, date, str | None]


class Event(NamedTuple):
    nid: int  # notification id
    oid: UUID  # originator id
    version: int
    e: dict[str, Any]  # the decoded state


def dt(value: dict[str, str]) -> datetime:
    return datetime.fromisoformat(value["_data_"])


def day(value: dict[str, str]) -> date:
    return date.fromisoformat(value["_data_"])


def uuid(value: dict[str, str]) -> UUID:
    return UUID(hex=value["_data_"])


def _detail(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True)


class JournalRules:
    """Journal entries and postings of the money events."""

    entries: list[tuple[Any, ...]]
    moves: list[Move]

    def _entry(
        self,
        ev: Event,
        kind: str,
        description: str,
        postings: list[tuple[str, str, str, int, str | None]],
    ) -> None:
        """One journal entry; ``postings``: (account kind, owner, currency, amount, detail)."""
        nid, e = ev.nid, ev.e
        at = dt(e["effective_at"])
        day = at.date()
        actor = e.get("issued", {}).get("actor")
        self.entries.append(
            (nid, kind, ev.oid, ev.version, at, day, dt(e["timestamp"]), description, actor)
        )
        append = self.moves.append
        for seq, (account, owner, currency, amount, detail) in enumerate(postings):
            append((nid, seq, account, owner, currency, amount, day, detail))

    def _transfer(
        self,
        ev: Event,
        kind: str,
        debit: tuple[str, str],
        credit: tuple[str, str],
        amount: int,
        description: str,
        detail: str | None = None,
    ) -> None:
        if not amount:
            return
        c = ev.e["currency"]
        self._entry(
            ev, kind, description, [(*debit, c, amount, detail), (*credit, c, -amount, detail)]
        )

    def _fund(self, text: str, move: str) -> Callable[[Event], None]:
        debit, credit = {
            "topup": (FUND_AVAILABLE, FUND_BUDGET),
            "commit": (FUND_COMMITTED, FUND_AVAILABLE),
            "spend": (FUND_SPENT, FUND_COMMITTED),
            "release": (FUND_AVAILABLE, FUND_COMMITTED),
            "return": (FUND_AVAILABLE, FUND_SPENT),
        }[move]
        kind = {
            "topup": "BudgetToppedUp",
            "commit": "BudgetCommitted",
            "spend": "CommitmentSpent",
            "release": "CommitmentReleased",
            "return": "SpendReturned",
        }[move]

        def handle(ev: Event) -> None:
            oid, e = ev.oid, ev.e
            owner = oid.hex
            self._transfer(
                ev,
                kind,
                (debit, owner),
                (credit, owner),
                e["amount_minor"],
                text.format(**e),
            )

        return handle

    def _fund_created(self, ev: Event) -> None:
        owner, e = ev.oid.hex, ev.e
        self._transfer(
            ev,
            "Created",
            (FUND_AVAILABLE, owner),
            (FUND_BUDGET, owner),
            e["budget_minor"],
            f"fund {e['fund_key']} created",
        )

    def _view_earnings(self, ev: Event) -> None:
        e = ev.e
        c = e["currency"]
        postings: list[tuple[str, str, str, int, str | None]] = []
        total = 0
        for creator, _views, amount, to_held, _capped in e["lines"]:
            if amount:
                total += amount
                postings.append(
                    (CREATOR_HELD if to_held else CREATOR_PAYABLE, creator, c, -amount, None)
                )
        if total:
            postings.append((EXPENSE_CREATOR_FUND, e["fund_id"]["_data_"], c, total, None))
            self._entry(
                ev, "ViewEarningsCredited", f"view earnings, period {e['period_key']}", postings
            )

    def _creator_account(self, e: dict[str, Any]) -> tuple[str, str]:
        return (CREATOR_HELD if e["to_held"] else CREATOR_PAYABLE, e["creator_id"])

    def _bonus(self, ev: Event) -> None:
        e = ev.e
        self._transfer(
            ev,
            "BonusCredited",
            (EXPENSE_EXCLUSIVITY, e["fund_id"]["_data_"]),
            self._creator_account(e),
            e["amount_minor"],
            f"exclusivity bonus, instalment {e['instalment_id']}",
            _detail({"agreement": e["agreement_key"], "instalment": e["instalment_id"]}),
        )

    def _reimbursement(self, ev: Event) -> None:
        e = ev.e
        self._transfer(
            ev,
            "ReimbursementCredited",
            (EXPENSE_REIMBURSEMENTS, ""),
            self._creator_account(e),
            e["amount_minor"],
            f"reimbursement, item {e['item_id']}",
            _detail({"claim": e["claim_key"], "item": e["item_id"]}),
        )

    def _offset(self, ev: Event) -> None:
        e = ev.e
        self._transfer(
            ev,
            "ReceivableOffset",
            (CREATOR_PAYABLE, e["creator_id"]),
            (CREATOR_RECEIVABLE, e["creator_id"]),
            e["amount_minor"],
            f"receivable recovered from earnings ({e['reference']})",
        )

    def _payouts_requested(self, ev: Event) -> None:
        e = ev.e
        c = e["currency"]
        postings: list[tuple[str, str, str, int, str | None]] = [
            (CREATOR_PAYABLE, creator, c, amount, _detail({"payout": payout_id}))
            for payout_id, creator, amount in e["lines"]
        ]
        total = sum(p[3] for p in postings)
        if total:
            postings.append((IN_TRANSIT, "", c, -total, None))
            self._entry(ev, "PayoutsRequested", f"payouts requested, run {e['run_id']}", postings)

    def _payout_returned(self, ev: Event) -> None:
        e = ev.e
        self._transfer(
            ev,
            "PayoutReturned",
            (IN_TRANSIT, ""),
            (CREATOR_PAYABLE, e["creator_id"]),
            e["amount_minor"],
            f"payout failed: {e['reason']}",
            _detail({"payout": e["payout_id"]["_data_"]}),
        )

    def _clawback(self, ev: Event) -> None:
        e = ev.e
        c, creator = e["currency"], e["creator_id"]
        detail = _detail({"agreement": e["agreement_key"]})
        parts = (
            (CREATOR_PAYABLE, e["from_payable_minor"]),
            (CREATOR_HELD, e["from_held_minor"]),
            (CREATOR_RECEIVABLE, e["to_receivable_minor"]),
        )
        postings: list[tuple[str, str, str, int, str | None]] = [
            (kind, creator, c, amount, detail) for kind, amount in parts if amount
        ]
        total = sum(p[3] for p in postings)
        if total:
            postings.append((EXPENSE_EXCLUSIVITY, e["fund_id"]["_data_"], c, -total, None))
            self._entry(
                ev, "BonusClawedBack", "exclusivity breached: unvested bonus clawed back", postings
            )

    def _hold_released_entry(self, ev: Event) -> None:
        e = ev.e
        creator = e["creator_id"]
        detail = _detail({"hold": e["hold_id"]})
        postings: list[tuple[str, str, str, int, str | None]] = []
        for currency, amount in e["released"]:
            postings.append((CREATOR_HELD, creator, currency, amount, detail))
            postings.append((CREATOR_PAYABLE, creator, currency, -amount, detail))
        if postings:
            text = f"accrual hold {e['hold_id']} released: held -> payable"
            self._entry(ev, "AccrualHoldReleased", text, postings)

    def _reversed(self, ev: Event) -> None:
        e = ev.e
        c, creator = e["currency"], e["creator_id"]
        to_payable, to_receivable = e["to_payable_minor"], e["to_receivable_minor"]
        total = to_payable + to_receivable
        if not total:
            return
        detail = _detail({"payout": e["payout_id"]["_data_"]})
        postings: list[tuple[str, str, str, int, str | None]] = [
            (CASH_PROVIDER, "", c, total, None)
        ]
        if to_payable:
            postings.append((CREATOR_PAYABLE, creator, c, -to_payable, detail))
        if to_receivable:
            postings.append((CREATOR_RECEIVABLE, creator, c, -to_receivable, detail))
        self._entry(ev, "TransferReversed", f"transfer reversed: {e['reason']}", postings)

    def _payout_paid(self, ev: Event) -> None:
        e = ev.e
        self._transfer(
            ev,
            "Paid",
            (IN_TRANSIT, ""),
            (CASH_PROVIDER, ""),
            e["amount_minor"],
            f"payout paid, transfer {e['transfer_id']}",
        )

    def postings(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Posting rows with ``balance_after`` (the running balance in ``(effective_on,
        entry_id, seq)`` order), and the balance rows."""
        state: dict[AccountKey, list[Any]] = {}  # [balance, last effective_on, back-dated?]
        for _, _, kind, owner, currency, amount, day, _ in self.moves:
            s = state.get((owner, kind, currency))
            if s is None:
                state[(owner, kind, currency)] = [amount, day, False]
            else:
                s[0] += amount
                if day < s[1]:
                    s[2] = True
                else:
                    s[1] = day
        backdated = {k for k, s in state.items() if s[2]}
        fixed: dict[tuple[int, int], int] = {}
        if backdated:  # rare: those accounts' running balances in business-time order
            ordered = sorted(
                (m for m in self.moves if (m[3], m[2], m[4]) in backdated),
                key=lambda m: (m[3], m[2], m[4], m[6], m[0], m[1]),
            )
            run: dict[AccountKey, int] = {}
            for m in ordered:
                key = (m[3], m[2], m[4])
                run[key] = run.get(key, 0) + m[5]
                fixed[(m[0], m[1])] = run[key]
        running: dict[AccountKey, int] = {}
        rows = []
        for nid, seq, kind, owner, currency, amount, day, detail in self.moves:
            key = (owner, kind, currency)
            if key in backdated:
                after = fixed[(nid, seq)]
            else:
                after = running.get(key, 0) + amount
                running[key] = after
            rows.append((nid, seq, kind, owner, currency, amount, day, after, detail))
        balances = [(k[1], k[0], k[2], s[0], s[1]) for k, s in state.items()]
        return rows, balances
