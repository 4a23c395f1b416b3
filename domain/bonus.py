"""The money of an exclusivity agreement: its fund's commitment and the creator's account book.

* Crediting an instalment (a due scheduled one, or a milestone reached) spends it from the
  agreement's commitment and credits it on the creator's book (to held while an accrual hold is
  active).
* A **breach** returns what was never credited to the fund and claws the credited-but-unvested
  part back from the creator: payable first, then held, and what was already paid out becomes a
  receivable (recovered from future earnings); the clawback returns to the fund.
* A **good-leaver termination** returns what was never credited; nothing is clawed back.

The vesting and schedule rules are :mod:`creator_ledger.domain.exclusivity`'s and
:mod:`creator_ledger.domain.vesting`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.exclusivity import ExclusivityAgreement
from creator_ledger.domain.fund import CreatorFund


@dataclass(frozen=True, slots=True)
class Clawback:
    """What a breach took back: forfeited (never credited), clawed back (credited but
    unvested), and where the clawback came from."""

    forfeited_minor: int
    clawback_minor: int
    from_payable_minor: int = 0
    from_held_minor: int = 0
    to_receivable_minor: int = 0


def credit_instalments(
    agreement: ExclusivityAgreement,
    fund: CreatorFund,
    book: AccountBook,
    instalment_ids: Sequence[str],
    *,
    on: date,
    effective_at: datetime,
) -> None:
    """Credit each instalment (a due scheduled one, or a milestone reached) to the creator:
    spent from the agreement's commitment, credited on the creator's book (to held while an
    accrual hold is active)."""
    for instalment_id in instalment_ids:
        amount = agreement.credit_instalment(instalment_id, on=on, effective_at=effective_at)
        fund.spend(
            agreement.commitment_id,
            amount,
            reference=f"{agreement.agreement_key}/{instalment_id}",
            effective_at=effective_at,
        )
        book.credit_bonus(
            agreement_id=agreement.id,
            agreement_key=agreement.agreement_key,
            instalment_id=instalment_id,
            fund_id=fund.id,
            creator_id=agreement.creator_id.hex,
            currency=agreement.currency,
            amount_minor=amount,
            effective_at=effective_at,
        )


def breach(
    agreement: ExclusivityAgreement,
    fund: CreatorFund,
    book: AccountBook,
    *,
    on: date,
    reason: str,
    effective_at: datetime,
) -> Clawback:
    """End an agreement for breach: what was never credited goes back to the fund; the
    credited-but-unvested part is clawed back from the creator (payable, then held, then a
    receivable) and returned to the fund."""
    forfeited, clawback = agreement.breach(on=on, reason=reason, effective_at=effective_at)
    key = agreement.agreement_key
    fund.release(agreement.commitment_id, reason=f"{key} breached", effective_at=effective_at)
    if not clawback:
        return Clawback(forfeited_minor=forfeited, clawback_minor=0)
    from_payable, from_held, to_receivable = book.claw_back_bonus(
        agreement_id=agreement.id,
        agreement_key=key,
        fund_id=fund.id,
        creator_id=agreement.creator_id.hex,
        currency=agreement.currency,
        amount_minor=clawback,
        effective_at=effective_at,
    )
    fund.return_spend(
        agreement.commitment_id, clawback, reason=f"{key} clawback", effective_at=effective_at
    )
    return Clawback(forfeited, clawback, from_payable, from_held, to_receivable)


def terminate(
    agreement: ExclusivityAgreement,
    fund: CreatorFund,
    *,
    on: date,
    reason: str,
    effective_at: datetime,
) -> int:
    """Good-leaver termination: no clawback; what was never credited goes back to the fund.
    Returns it."""
    cancelled = agreement.terminate(on=on, reason=reason, effective_at=effective_at)
    fund.release(
        agreement.commitment_id,
        reason=f"{agreement.agreement_key} terminated",
        effective_at=effective_at,
    )
    return cancelled
