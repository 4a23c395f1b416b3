"""Payout plans: the dry run.

A plan says, for one currency, who would be paid what and why everyone else is left out.  It
is computed from the read models (balances and creator gates) and writes nothing.  It is
deterministic: the same ledger state gives the same plan, the same ``inputs_hash`` and so the
same ``run_id`` — executing it twice is one run.  Saved as JSON, it carries a ``content_hash``
so an edited file is refused.

Rules, per creator with a balance in the currency:

* a receivable (clawed-back money the creator owes) is first recovered from the payable
  balance: an **offset line** ``min(payable, receivable)``;
* what is left is paid if the creator passes every gate and it reaches the currency's
  threshold; otherwise the creator is **excluded** with every reason that applies:
  ``negative_balance``, ``payout_hold``, ``no_payout_account``, ``payout_account_not_active``,
  ``kyc_incomplete``, ``below_threshold`` (the balance rolls over to the next run).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict

from creator_ledger.adapters.readmodels import CreatorGate
from creator_ledger.domain.accounts import CREATOR_PAYABLE, CREATOR_RECEIVABLE, normal_balance
from creator_ledger.domain.errors import InvalidInputError
from creator_ledger.domain.money import check_currency

PLAN_FORMAT = "creator-ledger/payout-plan/v1"


class PlanLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    creator_ref: str
    creator_id: str
    destination: str
    payable_minor: int  # before any offset
    offset_minor: int
    amount_minor: int  # what the transfer pays


class OffsetLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    creator_ref: str
    creator_id: str
    receivable_minor: int
    amount_minor: int  # recovered from payable


class Exclusion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    creator_ref: str
    creator_id: str
    payable_minor: int
    reasons: list[str]
    detail: str


class PayoutPlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    format: str = PLAN_FORMAT
    run_id: str
    currency: str
    as_of: date | None
    threshold_minor: int
    lines: list[PlanLine]
    offsets: list[OffsetLine]
    excluded: list[Exclusion]
    total_minor: int
    offset_total_minor: int
    excluded_total_minor: int
    inputs_hash: str  # what execute compares: the balances and gates the plan was computed from
    read_model_position: int  # the last event the read models had applied (not hashed)
    content_hash: str = ""  # of the whole file, set by :meth:`sealed`

    def _content_digest(self) -> str:
        return hashlib.sha256(self.model_dump_json(exclude={"content_hash"}).encode()).hexdigest()

    def sealed(self) -> Self:
        return self.model_copy(update={"content_hash": self._content_digest()})

    def verify(self) -> None:
        if self.format != PLAN_FORMAT:
            raise InvalidInputError(f"not a payout plan ({self.format!r}); expected {PLAN_FORMAT}")
        if self.content_hash != self._content_digest():
            msg = "the plan's content does not match its content_hash: it was edited or damaged"
            raise InvalidInputError(msg, run_id=self.run_id)

    def save(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> PayoutPlan:
        try:
            plan = cls.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InvalidInputError(f"cannot read payout plan {path}: {e}") from None
        plan.verify()
        return plan


def compute_plan(
    *,
    currency: str,
    as_of: date | None,
    threshold_minor: int,
    balances: dict[str, dict[str, int]],
    gates: Mapping[str, CreatorGate],
    read_model_position: int,
) -> PayoutPlan:
    """The plan for ``balances`` (creator id -> account kind -> balance, debit-positive) and
    ``gates`` (creator id -> what the plan checks of the creator besides the balance).

    Lines are gathered as plain rows and validated into the plan in one go (pydantic's core
    validates 100,000 lines in a fraction of what building them one by one costs)."""
    check_currency(currency)
    lines: list[tuple[str, str, str, int, int, int]] = []
    offsets: list[tuple[str, str, int, int]] = []
    excluded: list[tuple[str, str, int, list[str], str]] = []
    rows = []
    for creator_id, kinds in balances.items():
        g = gates[creator_id]
        payable = normal_balance(CREATOR_PAYABLE, kinds.get(CREATOR_PAYABLE, 0))
        receivable = normal_balance(CREATOR_RECEIVABLE, kinds.get(CREATOR_RECEIVABLE, 0))
        rows.append(
            (
                g.creator_ref,
                creator_id,
                g.payout_account,
                g.account_status,
                g.kyc_status,
                g.payout_holds,
                payable,
                receivable,
            )
        )
    for ref, creator_id, account, status, kyc, holds, payable, receivable in sorted(rows):
        if payable < 0:
            excluded.append((ref, creator_id, payable, ["negative_balance"], "payable is negative"))
            continue
        if payable == 0:
            continue  # nothing to pay, nothing to offset against
        offset = min(payable, receivable) if receivable > 0 else 0
        if offset:
            offsets.append((ref, creator_id, receivable, offset))
        amount = payable - offset
        if amount == 0:
            continue
        reasons, details = _gates(amount, account, status, kyc, holds, threshold_minor)
        if reasons:
            excluded.append((ref, creator_id, amount, reasons, "; ".join(details)))
            continue
        assert account is not None
        lines.append((ref, creator_id, account, payable, offset, amount))
    # What execute compares: everything paid and left out, in a compact canonical form.
    body = [
        currency,
        as_of.isoformat() if as_of else None,
        threshold_minor,
        [x[1:] for x in lines],
        [x[1:] for x in offsets],
        [x[1:] for x in excluded],
    ]
    inputs_hash = hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()
    day = as_of.isoformat() if as_of else "now"
    plan = PayoutPlan.model_validate(
        {
            "run_id": f"{currency.lower()}-{day}-{inputs_hash[:16]}",
            "currency": currency,
            "as_of": as_of,
            "threshold_minor": threshold_minor,
            "lines": [dict(zip(_LINE_FIELDS, x, strict=True)) for x in lines],
            "offsets": [dict(zip(_OFFSET_FIELDS, x, strict=True)) for x in offsets],
            "excluded": [dict(zip(_EXCLUDED_FIELDS, x, strict=True)) for x in excluded],
            "total_minor": sum(x[5] for x in lines),
            "offset_total_minor": sum(x[3] for x in offsets),
            "excluded_total_minor": sum(x[2] for x in excluded),
            "inputs_hash": inputs_hash,
            "read_model_position": read_model_position,
        }
    )
    return plan.sealed()


_LINE_FIELDS = (
    "creator_ref",
    "creator_id",
    "destination",
    "payable_minor",
    "offset_minor",
    "amount_minor",
)
_OFFSET_FIELDS = ("creator_ref", "creator_id", "receivable_minor", "amount_minor")
_EXCLUDED_FIELDS = ("creator_ref", "creator_id", "payable_minor", "reasons", "detail")


def _gates(
    amount: int,
    account: str | None,
    status: str,
    kyc: str,
    holds: Sequence[str],
    threshold: int,
) -> tuple[list[str], list[str]]:
    reasons: list[str] = []
    details: list[str] = []
    if holds:
        reasons.append("payout_hold")
        details.append("hold " + ", ".join(holds))
    if account is None:
        reasons.append("no_payout_account")
        details.append("no payout account linked")
    elif status != "active":
        reasons.append("payout_account_not_active")
        details.append(f"payout account is {status}")
    if kyc != "verified":
        reasons.append("kyc_incomplete")
        details.append(f"KYC is {kyc}")
    if amount < threshold:
        reasons.append("below_threshold")
        details.append(f"below the threshold of {threshold} minor units: rolls over")
    return reasons, details


def plan_summary(plan: PayoutPlan) -> dict[str, Any]:
    reasons: dict[str, int] = {}
    for x in plan.excluded:
        for r in x.reasons:
            reasons[r] = reasons.get(r, 0) + 1
    return {
        "run_id": plan.run_id,
        "currency": plan.currency,
        "payouts": len(plan.lines),
        "total_minor": plan.total_minor,
        "offsets": len(plan.offsets),
        "offset_total_minor": plan.offset_total_minor,
        "excluded": len(plan.excluded),
        "excluded_total_minor": plan.excluded_total_minor,
        "excluded_by_reason": dict(sorted(reasons.items())),
    }


def staleness(plan: PayoutPlan, current: PayoutPlan) -> str:
    """Why ``plan`` no longer matches what the ledger gives now (``current``)."""
    before = {x.creator_id: x.amount_minor for x in plan.lines}
    now = {x.creator_id: x.amount_minor for x in current.lines}
    changed = sorted(c for c in before.keys() | now.keys() if before.get(c) != now.get(c))
    excl_before = {x.creator_id: x.reasons for x in plan.excluded}
    excl_now = {x.creator_id: x.reasons for x in current.excluded}
    changed_excl = sorted(
        c for c in excl_before.keys() | excl_now.keys() if excl_before.get(c) != excl_now.get(c)
    )
    parts = [f"the balances or gates plan {plan.run_id} was computed from have changed"]
    if changed:
        parts.append(f"{len(changed)} payout line(s) differ (e.g. creator {changed[0]})")
    if changed_excl:
        parts.append(f"{len(changed_excl)} exclusion(s) differ")
    if plan.offsets != current.offsets:
        parts.append("receivable offsets differ")
    parts.append("make a new plan")
    return "; ".join(parts)
