"""Payout plans: the dry run, and the view of a proposed run.

A plan says, for one currency, who would be paid what and why everyone else is left out.  It
is computed from the read models (balances and creator gates) and the payout settings, and
writes nothing.  It is deterministic: the same ledger state, settings and planning time give
the same plan, the same ``inputs_hash`` and so the same ``run_id``.  ``propose`` records it in
the ledger as a payout run; the JSON file (``payouts plan --out``, ``payouts propose --out``) is
only a view of it, which ``execute`` compares line by line with the run it names.

Rules, per creator with a balance in the currency:

* a receivable (clawed-back money the creator owes) is first recovered from the payable
  balance: an **offset line** ``min(payable, receivable)``;
* what is left is paid if the creator passes every gate and it reaches the currency's
  threshold; otherwise the creator is **excluded** with every reason that applies (the
  balance stays payable for a later run):

  ``negative_balance``, ``payout_hold``, ``no_payout_account``,
  ``payout_account_not_active``, ``payout_account_changed_recently`` (the account was linked
  less than ``LEDGER_NEW_ACCOUNT_HOLD_DAYS`` days before the plan, and the creator has never
  been paid to it), ``kyc_incomplete``, ``tax_info_missing`` (tax information missing, or
  submitted but not verified), ``over_line_limit`` (more than ``LEDGER_PAYOUT_LINE_LIMITS``
  allows to one creator in one run), ``below_threshold`` (rolls over to the next run).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict

from creator_ledger.adapters.readmodels import CreatorGate
from creator_ledger.domain.accounts import CREATOR_PAYABLE, CREATOR_RECEIVABLE, normal_balance
from creator_ledger.domain.errors import InvalidInputError
from creator_ledger.domain.money import check_currency, format_minor

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

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    def save(self, path: Path, *, overwrite: bool = False) -> None:
        """Write the plan to ``path``; an existing file is refused unless ``overwrite``
        (the CLI also refuses the ledger's own database: see ``cli_files``)."""
        try:
            with path.open("w" if overwrite else "x", encoding="utf-8") as f:
                f.write(self.to_json())
        except FileExistsError:
            msg = f"{path} exists already: choose another file, or --force to replace it"
            raise InvalidInputError(msg, path=str(path)) from None
        except OSError as e:
            raise InvalidInputError(f"cannot write {path}: {e.strerror or e}") from None

    @classmethod
    def load(cls, path: Path) -> PayoutPlan:
        try:
            plan = cls.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InvalidInputError(f"cannot read payout plan {path}: {e}") from None
        plan.verify()
        return plan


@dataclass(frozen=True, slots=True)
class PayoutControls:
    """What the settings add to the gates of a plan: the line limit, the new-account wait, and
    the time the plan is made at (the wait is counted to it)."""

    planned_at: datetime
    line_limit_minor: int | None = None
    new_account_wait: timedelta = timedelta(0)
    #: (creator id, destination) of every creator the wait applies to who has been paid to
    #: that destination before: their payouts to it do not wait
    paid_destinations: Set[tuple[str, str]] = frozenset()

    def waits_until(self, gate: CreatorGate) -> datetime | None:
        """When the creator's first payout to their current account may leave, if that is
        after the plan; None if it need not wait."""
        linked = gate.payout_account_linked_at
        if not self.new_account_wait or linked is None or gate.payout_account is None:
            return None
        until = linked + self.new_account_wait
        if until <= self.planned_at:
            return None
        if (gate.creator_id, gate.payout_account) in self.paid_destinations:
            return None
        return until


def compute_plan(
    *,
    currency: str,
    as_of: date | None,
    threshold_minor: int,
    balances: dict[str, dict[str, int]],
    gates: Mapping[str, CreatorGate],
    read_model_position: int,
    controls: PayoutControls,
) -> PayoutPlan:
    """The plan for ``balances`` (creator id -> account kind -> balance, debit-positive) and
    ``gates`` (creator id -> what the plan checks of the creator besides the balance), under
    ``controls`` (the line limit and the new-account wait).

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
        rows.append((g.creator_ref, creator_id, payable, receivable, g))
    for ref, creator_id, payable, receivable, g in sorted(rows, key=lambda r: r[:4]):
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
        reasons, details = _gates(amount, g, threshold_minor, controls, currency)
        if reasons:
            excluded.append((ref, creator_id, amount, reasons, "; ".join(details)))
            continue
        assert g.payout_account is not None
        lines.append((ref, creator_id, g.payout_account, payable, offset, amount))
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
    return plan_of(
        run_id=f"{currency.lower()}-{day}-{inputs_hash[:16]}",
        currency=currency,
        as_of=as_of,
        threshold_minor=threshold_minor,
        lines=lines,
        offsets=offsets,
        excluded=excluded,
        inputs_hash=inputs_hash,
        read_model_position=read_model_position,
    )


def plan_of(
    *,
    run_id: str,
    currency: str,
    as_of: date | None,
    threshold_minor: int,
    lines: Sequence[Sequence[Any]],
    offsets: Sequence[Sequence[Any]],
    excluded: Sequence[Sequence[Any]],
    inputs_hash: str,
    read_model_position: int,
) -> PayoutPlan:
    """A sealed plan from its rows (as :func:`compute_plan` makes them and a payout run records
    them: see :mod:`creator_ledger.domain.payout_run`)."""
    plan = PayoutPlan.model_validate(
        {
            "run_id": run_id,
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


def plan_rows(plan: PayoutPlan) -> tuple[list[list[Any]], list[list[Any]], list[list[Any]]]:
    """The plan's lines, offsets and exclusions as the compact rows a payout run records."""
    return (
        [[getattr(x, f) for f in _LINE_FIELDS] for x in plan.lines],
        [[getattr(x, f) for f in _OFFSET_FIELDS] for x in plan.offsets],
        [[getattr(x, f) for f in _EXCLUDED_FIELDS] for x in plan.excluded],
    )


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


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _gates(
    amount: int, g: CreatorGate, threshold: int, controls: PayoutControls, currency: str
) -> tuple[list[str], list[str]]:
    reasons: list[str] = []
    details: list[str] = []
    if g.payout_holds:
        reasons.append("payout_hold")
        details.append("hold " + ", ".join(g.payout_holds))
    if g.payout_account is None:
        reasons.append("no_payout_account")
        details.append("no payout account linked")
    elif g.account_status != "active":
        reasons.append("payout_account_not_active")
        details.append(f"payout account is {g.account_status}")
    else:
        until = controls.waits_until(g)
        if until is not None:
            assert g.payout_account_linked_at is not None
            reasons.append("payout_account_changed_recently")
            details.append(
                f"payout account {g.payout_account} linked {_when(g.payout_account_linked_at)}:"
                f" the first payout to it waits until {_when(until)}"
            )
    if g.kyc_status != "verified":
        reasons.append("kyc_incomplete")
        details.append(f"KYC is {g.kyc_status}")
    if g.tax_status != "verified":
        reasons.append("tax_info_missing")
        details.append(f"tax information is {g.tax_status}")
    limit = controls.line_limit_minor
    if limit is not None and amount > limit:
        reasons.append("over_line_limit")
        details.append(
            f"{format_minor(amount, currency)} is over the line limit of"
            f" {format_minor(limit, currency)}: stays payable"
        )
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
