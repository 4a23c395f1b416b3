"""Queries: a creator's balances (now, or as of a business date), the trial balance, and the
creator statement that explains every line."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from creator_ledger.adapters.readmodels import (
    BalanceRow,
    JournalLine,
    PeriodFacts,
    StatementPosting,
)
from creator_ledger.adapters.readmodels.rows import AgreementRow
from creator_ledger.domain.accounts import (
    CREATOR_HELD,
    CREATOR_KINDS,
    CREATOR_PAYABLE,
    CREATOR_RECEIVABLE,
    normal_balance,
)
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import InvalidInputError, NotFoundError
from creator_ledger.domain.vesting import vested_through
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.projections import Projector
from creator_ledger.ledger.results import (
    CreatorBalances,
    CreatorOwed,
    CurrencyBalance,
    Owed,
    ReimbursementLine,
    Statement,
    StatementLine,
    TrialBalance,
    VestingLine,
)
from creator_ledger.ledger.validation import Currency, Day, Key, command

_ACCOUNT_NAMES = {
    CREATOR_PAYABLE: "payable",
    CREATOR_HELD: "held",
    CREATOR_RECEIVABLE: "receivable",
}


def _balances_from_rows(rows: Iterable[BalanceRow]) -> list[CurrencyBalance]:
    per: dict[str, dict[str, int]] = defaultdict(dict)
    for r in rows:
        if r.kind in CREATOR_KINDS:
            per[r.currency][r.kind] = normal_balance(r.kind, r.balance_minor)
    return [
        CurrencyBalance(
            currency=c,
            payable_minor=k.get(CREATOR_PAYABLE, 0),
            held_minor=k.get(CREATOR_HELD, 0),
            receivable_minor=k.get(CREATOR_RECEIVABLE, 0),
        )
        for c, k in sorted(per.items())
    ]


def _explain_share(views: int, facts: PeriodFacts) -> dict[str, Any]:
    total = facts.total_qualified_views or 0
    out: dict[str, Any] = {
        "program": facts.program,
        "rule_kind": facts.rule["kind"],
        "rule_version": facts.rule_version,
        "qualified_views": views,
        "total_qualified_views": total,
    }
    if facts.rule["kind"] == "pool_share":
        out["pool_minor"] = facts.pool_minor
        if total:
            share = Fraction(views, total)
            out["share"] = f"{share.numerator}/{share.denominator}"
            out["share_pct"] = f"{float(share * 100):.6f}"
    else:
        out["rate_micros_per_mille"] = facts.rule["rate_micros_per_mille"]
        if facts.scaled_from_minor:
            out["scaled_down_from_minor"] = facts.scaled_from_minor
            out["period_cap_minor"] = facts.rule.get("period_cap_minor")
    out["creator_cap_minor"] = facts.rule.get("creator_cap_minor")
    return out


def _vesting_line(a: AgreementRow, until: date) -> VestingLine:
    """An agreement as it stood at the end of ``until`` (that day counts).

    Vesting stops on the day an agreement ended: one that ended by ``until`` shows its final
    figures, where what was credited is either vested or clawed back, and the rest of the total
    was forfeited (vested + clawed back + forfeited = total).  A good leaver keeps what was
    credited: it counts as vested.  An agreement still running at ``until`` (or ended after it)
    shows what its schedule had vested by then.
    """
    status: str = a.status
    forfeited_minor: int | None
    clawback_minor: int | None
    if a.ended_on is not None and a.ended_on <= until:
        clawback_minor = a.clawback_minor or 0
        vested = a.credited_minor - clawback_minor
        forfeited_minor = a.forfeited_minor or 0
    else:
        vested = vested_through(
            a.total_minor, starts_on=a.starts_on, ends_on=a.ends_on, day=until, rule=a.vesting
        )
        status, forfeited_minor, clawback_minor = "active", None, None
    return VestingLine(
        agreement_key=a.agreement_key,
        currency=a.currency,
        total_minor=a.total_minor,
        credited_minor=a.credited_minor,
        vested_minor=vested,
        vesting=a.vesting,
        starts_on=a.starts_on,
        ends_on=a.ends_on,
        status=status,
        forfeited_minor=forfeited_minor,
        clawback_minor=clawback_minor,
    )


class Queries:
    """Balances, the trial balance and statements, from the read models (caught up first, so a
    caller reads its own writes)."""

    def __init__(self, aggregates: Aggregates, projector: Projector) -> None:
        self.aggregates = aggregates
        self.projector = projector
        self.read_models = projector.read_models

    @command
    def balances(self, creator_ref: Key, *, as_of: Day | None = None) -> CreatorBalances:
        """A creator's payable, held and receivable balances per currency, now or at the end
        of business day ``as_of``, from the journal (brought up to date with every event
        recorded so far first: a caller reads its own writes)."""
        creator_id = Creator.create_id(creator_ref)
        self.projector.catch_up()
        rm = self.read_models
        rows = (
            rm.owner_balances(creator_id.hex)
            if as_of is None
            else rm.owner_balances_as_of(creator_id.hex, as_of)
        )
        if not rows and rm.creator(creator_id.hex) is None:
            raise NotFoundError(f"unknown creator {creator_ref!r}", creator_ref=creator_ref)
        balances = _balances_from_rows(rows)
        return CreatorBalances(
            creator_ref=creator_ref, creator_id=creator_id.hex, as_of=as_of, balances=balances
        )

    def _view_earnings(
        self, owner: str, rows: list[StatementPosting]
    ) -> dict[int, tuple[str, str, list[Any]]]:
        """entry id -> (program id, period key, the creator's line) of each view-earnings entry
        in ``rows``, read from the account-book event that posted it."""
        out: dict[int, tuple[str, str, list[Any]]] = {}
        for row in rows:
            if row.entry_kind != "ViewEarningsCredited" or row.entry_id in out:
                continue
            version = row.originator_version
            [event] = self.aggregates.store.events(row.originator_id, gt=version - 1, lte=version)
            assert isinstance(event, AccountBook.ViewEarningsCredited)
            line = next(ln for ln in event.lines if ln[0] == owner)
            out[row.entry_id] = (str(event.program_id), event.period_key, line)
        return out

    def _holds(self, creator: Creator) -> list[dict[str, str]]:
        """The creator's active holds, by id: payout holds (the creator's) and accrual holds
        (its account book's)."""
        book = self.aggregates.book(creator.id, creator_ref=creator.creator_ref)
        holds = {h: ("payout", r) for h, (_k, r) in creator.holds.items()}
        holds |= {h: ("accrual", r) for h, r in book.accrual_hold_reasons(creator.id.hex).items()}
        return [{"hold_id": h, "kind": k, "reason": r} for h, (k, r) in sorted(holds.items())]

    def trial_balance(self) -> TrialBalance:
        """The sum of every account's balance per currency and kind; each currency sums to 0."""
        self.projector.catch_up()
        by_currency = self.read_models.trial_balance()
        imbalance = {c: s for c, kinds in by_currency.items() if (s := sum(kinds.values()))}
        return TrialBalance(by_currency=by_currency, imbalance=imbalance)

    @command
    def owed(self, currency: Currency, *, top: int = 10) -> Owed:
        """How many creators are owed money in ``currency`` (payable), the total, and the
        ``top`` creators owed the most (ties: creator id, descending)."""
        self.projector.catch_up()
        rm = self.read_models
        payable = rm.creator_balances(currency, [CREATOR_PAYABLE])
        ranked = sorted(
            (
                (normal_balance(CREATOR_PAYABLE, b[CREATOR_PAYABLE]), owner)
                for owner, b in payable.items()
            ),
            reverse=True,
        )
        refs = {cid: g.creator_ref for cid, g in rm.creator_gates().items()}
        return Owed(
            currency=currency,
            creators=len(ranked),
            total_minor=sum(a for a, _ in ranked),
            largest=[
                CreatorOwed(creator_ref=refs[owner], creator_id=owner, payable_minor=amount)
                for amount, owner in ranked[:top]
            ],
        )

    def journal_lines(
        self, *, since: date | None = None, until: date | None = None, limit: int = 100_000
    ) -> list[JournalLine]:
        """Journal lines for the general ledger (entry id, business date, entry kind, account
        kind, owner, currency, amount, description), in business-date order."""
        self.projector.catch_up()
        return self.read_models.journal(since=since, until=until, limit=limit)

    @command
    def statement(self, creator_ref: Key, *, since: Day, until: Day) -> Statement:
        """Every line of a creator's money in ``[since, until]``, each explained: pool size,
        the creator's qualified views, total views, share, rule version and cap for view
        earnings; instalment and vesting for bonuses; each reimbursement item's decision."""
        if since > until:
            msg = f"a statement's since ({since}) must not be after its until ({until})"
            raise InvalidInputError(msg, since=str(since), until=str(until))
        creator = self.aggregates.creator(creator_ref)
        self.projector.catch_up()
        rm = self.read_models
        owner = creator.id.hex
        rows = rm.creator_statement_postings(owner, since, until)
        shares = self._view_earnings(owner, rows)
        facts = rm.period_facts((program, period) for program, period, _ in shares.values())
        lines = []
        for row in rows:
            explanation: dict[str, Any] = dict(row.detail)
            if row.entry_id in shares:
                program, period, line = shares[row.entry_id]
                _, views, _, to_held, capped = line
                explanation = {"period": period, "views": views, "capped": bool(capped)}
                if (program, period) in facts:
                    explanation = _explain_share(views, facts[(program, period)]) | explanation
                if to_held:
                    explanation["held"] = "credited to held: an accrual hold was active"
            lines.append(
                StatementLine(
                    effective_on=row.effective_on,
                    kind=row.entry_kind,
                    description=row.description,
                    account=_ACCOUNT_NAMES[row.account_kind],
                    currency=row.currency,
                    amount_minor=normal_balance(row.account_kind, row.amount_minor),
                    explanation=explanation,
                    actor=row.actor,
                )
            )
        bonuses = [_vesting_line(row, until) for row in rm.creator_agreements(owner)]
        reimbursements = [
            ReimbursementLine(
                claim_key=i.claim_key,
                item_id=i.item_id,
                description=i.description,
                receipt_ref=i.receipt_ref,
                currency=i.currency,
                claimed_minor=i.claimed_minor,
                status=i.status,
                approved_minor=i.approved_minor,
                reason=i.reason,
            )
            for i in rm.creator_claim_items(owner, since, until)
        ]
        return Statement(
            creator_ref=creator_ref,
            creator_id=owner,
            since=since,
            until=until,
            opening=_balances_from_rows(rm.owner_balances_as_of(owner, since - timedelta(days=1))),
            closing=_balances_from_rows(rm.owner_balances_as_of(owner, until)),
            lines=lines,
            bonuses=bonuses,
            reimbursements=reimbursements,
            holds=self._holds(creator),
        )
