"""Every query of the read models, each answering with the typed rows of :mod:`.rows`.

This is the one place where the database's raw values become Python values: dates and times
parsed from SQLite's text, integers from PostgreSQL's ``numeric`` sums, UUIDs from SQLite's
text, JSON parsed.  Code columns (currency, country) are ``text`` in both databases (migration
0004), so they come back as they were written.  Queries do not catch the read models up: the
ledger does that first.

Longer than ~400 lines on purpose: it is the one module where rows are built from the
database's values, so that no conversion is written twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from creator_ledger.adapters.readmodels.rows import (
    AgreementRow,
    BalanceRow,
    ClaimItemRow,
    CreatorGate,
    CreatorRow,
    FundRow,
    HoldRow,
    JournalCount,
    JournalLine,
    PayoutRow,
    PeriodFacts,
    StatementPosting,
    UnbalancedEntry,
)
from creator_ledger.adapters.sql import Database, as_date, as_datetime

#: Lookups by many keys go in chunks of this many parameters.
BATCH_QUERY_CHUNK = 5_000


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _date_or_none(value: Any) -> date | None:
    return None if value is None else as_date(value)


def _datetime_or_none(value: Any) -> datetime | None:
    return None if value is None else as_datetime(value)


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


_PAYOUT_COLUMNS = (
    "payout_id, run_id, creator_id, currency, amount_minor, destination, status, transfer_id,"
    " failure, reversed_minor, requested_at"
)


def _payout(r: tuple[Any, ...]) -> PayoutRow:
    pid, run, creator, currency, amount, destination, status, transfer, failure, rev, at = r
    return PayoutRow(
        payout_id=_uuid(pid),
        run_id=run,
        creator_id=creator,
        currency=currency,
        amount_minor=int(amount),
        destination=destination,
        status=status,
        transfer_id=transfer,
        failure=failure,
        reversed_minor=int(rev),
        requested_at=as_datetime(at),
    )


class ReadModelQueries:
    """The read models' queries (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- balances and the journal -------------------------------------------------------------

    def balance(self, kind: str, owner: str, currency: str) -> int:
        rows = self.db.query(
            "SELECT balance_minor FROM balances WHERE owner = %s AND kind = %s AND currency = %s",
            (owner, kind, currency),
        )
        return int(rows[0][0]) if rows else 0

    def balance_as_of(self, kind: str, owner: str, currency: str, on: date) -> int:
        """The account's balance at the end of business day ``on``."""
        rows = self.db.query(
            "SELECT balance_after FROM postings WHERE owner = %s AND kind = %s AND currency = %s"
            " AND effective_on <= %s ORDER BY effective_on DESC, entry_id DESC, seq DESC LIMIT 1",
            (owner, kind, currency, on),
        )
        return int(rows[0][0]) if rows else 0

    def owner_balances(self, owner: str) -> list[BalanceRow]:
        """Every account of ``owner``, by kind and currency."""
        rows = self.db.query(
            "SELECT kind, currency, balance_minor FROM balances WHERE owner = %s"
            " ORDER BY kind, currency",
            (owner,),
        )
        return [BalanceRow(k, owner, c, int(b)) for k, c, b in rows]

    def owner_balances_as_of(self, owner: str, on: date) -> list[BalanceRow]:
        """Every account of ``owner`` at the end of business day ``on``."""
        return [
            BalanceRow(r.kind, owner, r.currency, self.balance_as_of(r.kind, owner, r.currency, on))
            for r in self.owner_balances(owner)
        ]

    def all_balances(self) -> list[BalanceRow]:
        """Every account, by owner, kind and currency."""
        rows = self.db.query(
            "SELECT kind, owner, currency, balance_minor FROM balances"
            " ORDER BY owner, kind, currency"
        )
        return [BalanceRow(k, o, c, int(b)) for k, o, c, b in rows]

    def balances_of_kind(self, kind: str) -> list[BalanceRow]:
        """Every account of one kind (e.g. the in-transit clearing account per currency)."""
        rows = self.db.query(
            "SELECT owner, currency, balance_minor FROM balances WHERE kind = %s"
            " ORDER BY owner, currency",
            (kind,),
        )
        return [BalanceRow(kind, o, c, int(b)) for o, c, b in rows]

    def trial_balance(self) -> dict[str, dict[str, int]]:
        """currency -> account kind -> sum of balances (each currency sums to zero)."""
        rows = self.db.query(
            "SELECT currency, kind, SUM(balance_minor) FROM balances GROUP BY currency, kind"
            " ORDER BY currency, kind"
        )
        out: dict[str, dict[str, int]] = {}
        for currency, kind, total in rows:
            out.setdefault(currency, {})[kind] = int(total)
        return out

    def creator_balances(self, currency: str, kinds: Sequence[str]) -> dict[str, dict[str, int]]:
        """creator id -> kind -> balance, for creators with any of ``kinds`` in ``currency``
        (a fresh dict: the caller may change it)."""
        marks = ",".join(["%s"] * len(kinds))
        rows = self.db.query(
            f"SELECT owner, kind, balance_minor FROM balances WHERE currency = %s"
            f" AND kind IN ({marks}) AND balance_minor <> 0",
            (currency, *kinds),
        )
        out: dict[str, dict[str, int]] = {}
        for owner, kind, balance in rows:
            out.setdefault(owner, {})[kind] = int(balance)
        return out

    def creator_payables_as_of(self, currency: str, on: date) -> dict[str, int]:
        """creator id -> payable balance (debit-positive) at the end of business day ``on``."""
        rows = self.db.query(
            "SELECT owner, balance_after FROM (SELECT owner, balance_after, ROW_NUMBER() OVER"
            " (PARTITION BY owner ORDER BY effective_on DESC, entry_id DESC, seq DESC) AS rn"
            " FROM postings WHERE kind = 'creator:payable' AND currency = %s"
            " AND effective_on <= %s) t WHERE rn = 1",
            (currency, on),
        )
        return {owner: int(b) for owner, b in rows}

    def creator_payouts_after(self, currency: str, on: date) -> dict[str, int]:
        """creator id -> what payouts and receivable offsets took from the creator's payable
        balance after business day ``on`` (debit-positive; a failed payout gives its amount
        back), for creators with any."""
        rows = self.db.query(
            "SELECT p.owner, SUM(p.amount_minor) FROM postings p JOIN journal_entries e"
            " USING (entry_id) WHERE p.kind = 'creator:payable' AND p.currency = %s"
            " AND p.effective_on > %s"
            " AND e.kind IN ('PayoutsRequested', 'PayoutReturned', 'ReceivableOffset')"
            " GROUP BY p.owner",
            (currency, on),
        )
        return {owner: int(total) for owner, total in rows if int(total)}

    def journal_count(self) -> JournalCount:
        entries = self.db.query("SELECT COUNT(*) FROM journal_entries")[0][0]
        postings = self.db.query("SELECT COUNT(*) FROM postings")[0][0]
        return JournalCount(entries=int(entries), postings=int(postings))

    def postings_sum_by_account(self) -> list[BalanceRow]:
        """Every account's sum of postings (to check the balances table), by owner, kind and
        currency."""
        rows = self.db.query(
            "SELECT kind, owner, currency, SUM(amount_minor) FROM postings"
            " GROUP BY kind, owner, currency ORDER BY owner, kind, currency"
        )
        return [BalanceRow(k, o, c, int(s)) for k, o, c, s in rows]

    def unbalanced_entries(self, limit: int = 100) -> list[UnbalancedEntry]:
        rows = self.db.query(
            "SELECT entry_id, currency, SUM(amount_minor) FROM postings"
            " GROUP BY entry_id, currency HAVING SUM(amount_minor) <> 0 ORDER BY entry_id LIMIT %s",
            (limit,),
        )
        return [UnbalancedEntry(int(e), c, int(s)) for e, c, s in rows]

    def journal(
        self, *, since: date | None = None, until: date | None = None, limit: int = 10_000
    ) -> list[JournalLine]:
        """Journal lines for export, in business-date order, postings in entry order."""
        where, params = [], []
        if since is not None:
            where.append("p.effective_on >= %s")
            params.append(since)
        if until is not None:
            where.append("p.effective_on <= %s")
            params.append(until)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        rows = self.db.query(
            "SELECT p.entry_id, p.effective_on, e.kind, p.kind, p.owner, p.currency,"
            " p.amount_minor, e.description, e.actor FROM postings p JOIN journal_entries e"
            f" USING (entry_id) {clause} ORDER BY p.effective_on, p.entry_id, p.seq LIMIT %s",
            (*params, limit),
        )
        return [
            JournalLine(int(e), as_date(on), ek, ak, o, c, int(a), d, actor=who)
            for e, on, ek, ak, o, c, a, d, who in rows
        ]

    def creator_statement_postings(
        self, creator_id: str, since: date, until: date
    ) -> list[StatementPosting]:
        """A creator's postings in ``[since, until]``, in business-date order."""
        rows = self.db.query(
            "SELECT p.entry_id, p.effective_on, e.kind, p.kind, p.currency, p.amount_minor,"
            " p.detail, e.description, e.originator_id, e.originator_version, e.actor"
            " FROM postings p JOIN journal_entries e USING (entry_id)"
            " WHERE p.owner = %s AND p.effective_on >= %s AND p.effective_on <= %s"
            " ORDER BY p.effective_on, p.entry_id, p.seq",
            (creator_id, since, until),
        )
        out = []
        for row in rows:
            entry, on, entry_kind, kind, currency, amount, detail, text, origin, version, who = row
            out.append(
                StatementPosting(
                    entry_id=int(entry),
                    effective_on=as_date(on),
                    entry_kind=entry_kind,
                    account_kind=kind,
                    currency=currency,
                    amount_minor=int(amount),
                    detail=json.loads(detail) if detail else {},
                    description=text,
                    originator_id=_uuid(origin),
                    originator_version=int(version),
                    actor=who,
                )
            )
        return out

    # -- entities -----------------------------------------------------------------------------

    def fund(self, fund_id: str) -> FundRow | None:
        rows = self.db.query(
            "SELECT fund_id, fund_key, name, currency FROM funds WHERE fund_id = %s", (fund_id,)
        )
        return FundRow(_uuid(rows[0][0]), rows[0][1], rows[0][2], rows[0][3]) if rows else None

    def funds(self) -> list[FundRow]:
        rows = self.db.query(
            "SELECT fund_id, fund_key, name, currency FROM funds ORDER BY fund_key"
        )
        return [FundRow(_uuid(i), k, n, c) for i, k, n, c in rows]

    def creator(self, creator_id: str) -> CreatorRow | None:
        rows = self.db.query(
            "SELECT creator_ref, display_name, country, payout_account, account_status,"
            " kyc_status, tax_status FROM creators WHERE creator_id = %s",
            (creator_id,),
        )
        if not rows:
            return None
        ref, name, country, account, status, kyc, tax = rows[0]
        holds = self.db.query(
            "SELECT hold_id, kind, reason FROM creator_holds WHERE creator_id = %s"
            " ORDER BY hold_id",
            (creator_id,),
        )
        return CreatorRow(
            creator_id=creator_id,
            creator_ref=ref,
            display_name=name,
            country=country,
            payout_account=account,
            account_status=status,
            kyc_status=kyc,
            tax_status=tax,
            holds=tuple(HoldRow(h, k, r) for h, k, r in holds),
        )

    def creator_gates(self) -> dict[str, CreatorGate]:
        """creator id -> what a payout plan checks of the creator, for every creator."""
        holds: dict[str, list[str]] = {}
        for cid, hold_id, reason in self.db.query(
            "SELECT creator_id, hold_id, reason FROM creator_holds WHERE kind = 'payout'"
            " ORDER BY creator_id, hold_id"
        ):
            holds.setdefault(cid, []).append(f"{hold_id}: {reason}")
        return {
            cid: CreatorGate(
                cid,
                ref,
                account,
                status,
                kyc,
                tuple(holds.get(cid, ())),
                tax,
                _datetime_or_none(linked),
            )
            for cid, ref, account, status, kyc, tax, linked in self.db.query(
                "SELECT creator_id, creator_ref, payout_account, account_status, kyc_status,"
                " tax_status, payout_account_linked_at FROM creators"
            )
        }

    def paid_destinations(self, creator_ids: Iterable[str]) -> set[tuple[str, str]]:
        """(creator id, destination) of every payout paid (or paid and then reversed) to one
        of ``creator_ids``."""
        ids = sorted(set(creator_ids))
        found: set[tuple[str, str]] = set()
        for start in range(0, len(ids), BATCH_QUERY_CHUNK):
            chunk = ids[start : start + BATCH_QUERY_CHUNK]
            marks = ",".join(["%s"] * len(chunk))
            rows = self.db.query(
                "SELECT DISTINCT creator_id, destination FROM payouts"
                f" WHERE status IN ('paid', 'reversed') AND creator_id IN ({marks})",
                chunk,
            )
            found.update((str(c), str(d)) for c, d in rows)
        return found

    def creator_by_payout_account(self, account_ref: str) -> str | None:
        rows = self.db.query(
            "SELECT creator_id FROM creators WHERE payout_account = %s", (account_ref,)
        )
        return str(rows[0][0]) if rows else None

    def period_facts(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PeriodFacts]:
        """(program id, period key) -> the program period's figures."""
        out: dict[tuple[str, str], PeriodFacts] = {}
        for program_id, period_key in set(keys):
            rows = self.db.query(
                "SELECT pr.program_key, pr.name, pr.currency, pe.pool_minor,"
                " pe.total_qualified_views, pe.rule_version, pe.rule, pe.distributed_minor,"
                " pe.returned_minor, pe.scaled_from_minor, pe.status"
                " FROM periods pe JOIN programs pr ON pr.program_id = pe.program_id"
                " WHERE pe.program_id = %s AND pe.period_key = %s",
                (program_id, period_key),
            )
            for key, name, currency, pool, views, version, rule, dist, ret, scaled, st in rows:
                out[(program_id, period_key)] = PeriodFacts(
                    program_id=program_id,
                    period_key=period_key,
                    program_key=key,
                    program=name,
                    currency=currency,
                    pool_minor=int(pool),
                    total_qualified_views=_int_or_none(views),
                    rule_version=int(version),
                    rule=json.loads(rule),
                    distributed_minor=_int_or_none(dist),
                    returned_minor=_int_or_none(ret),
                    scaled_from_minor=_int_or_none(scaled),
                    status=st,
                )
        return out

    def creator_claim_items(self, creator_id: str, since: date, until: date) -> list[ClaimItemRow]:
        """Items of the creator's claims submitted or decided in ``[since, until]``."""
        rows = self.db.query(
            "SELECT claim_key, item_id, description, receipt_ref, currency, claimed_minor, status,"
            " approved_minor, reason, submitted_at, decided_at FROM claim_items"
            " WHERE creator_id = %s ORDER BY claim_key, item_id",
            (creator_id,),
        )
        items = []
        for key, item, text, receipt, currency, claimed, status, approved, why, at, dec in rows:
            items.append(
                ClaimItemRow(
                    claim_key=key,
                    item_id=item,
                    description=text,
                    receipt_ref=receipt,
                    currency=currency,
                    claimed_minor=int(claimed),
                    status=status,
                    approved_minor=int(approved),
                    reason=why,
                    submitted_at=as_datetime(at),
                    decided_at=_datetime_or_none(dec),
                )
            )
        return [
            i
            for i in items
            if since <= i.submitted_at.date() <= until
            or (i.decided_at is not None and since <= i.decided_at.date() <= until)
        ]

    def creator_agreements(self, creator_id: str) -> list[AgreementRow]:
        rows = self.db.query(
            "SELECT agreement_key, currency, total_minor, credited_minor, starts_on, ends_on,"
            " schedule, vesting, status, ended_on, forfeited_minor, clawback_minor"
            " FROM agreements WHERE creator_id = %s ORDER BY agreement_key",
            (creator_id,),
        )
        out = []
        for key, cur, total, cred, start, end, plan, vest, st, ended, lost, back in rows:
            out.append(
                AgreementRow(
                    agreement_key=key,
                    currency=cur,
                    total_minor=int(total),
                    credited_minor=int(cred),
                    starts_on=as_date(start),
                    ends_on=as_date(end),
                    schedule=plan,
                    vesting=vest,
                    status=st,
                    ended_on=_date_or_none(ended),
                    forfeited_minor=_int_or_none(lost),
                    clawback_minor=_int_or_none(back),
                )
            )
        return out

    # -- payouts ------------------------------------------------------------------------------

    def payouts(self, *, run_id: str | None = None) -> list[PayoutRow]:
        """A run's payouts by creator, or every payout in the order they were requested."""
        sql = f"SELECT {_PAYOUT_COLUMNS} FROM payouts"
        if run_id is not None:
            rows = self.db.query(sql + " WHERE run_id = %s ORDER BY creator_id", (run_id,))
        else:
            rows = self.db.query(sql + " ORDER BY requested_at, payout_id")
        return [_payout(r) for r in rows]

    def payouts_in_window(self, since: datetime, until: datetime) -> list[PayoutRow]:
        """Payouts requested in ``[since, until)``, by payout id."""
        rows = self.db.query(
            f"SELECT {_PAYOUT_COLUMNS} FROM payouts"
            " WHERE requested_at >= %s AND requested_at < %s ORDER BY payout_id",
            (since, until),
        )
        return [_payout(r) for r in rows]

    def payout_by_transfer(self, transfer_id: str) -> str | None:
        rows = self.db.query("SELECT payout_id FROM payouts WHERE transfer_id = %s", (transfer_id,))
        return str(rows[0][0]) if rows else None

    def payout_ids(self, payout_ids: Sequence[str]) -> set[str]:
        """Which of ``payout_ids`` the ledger knows (ids that are not UUIDs are not ours)."""
        payout_ids = [p for p in payout_ids if _is_uuid(p)]
        found: set[str] = set()
        for start in range(0, len(payout_ids), BATCH_QUERY_CHUNK):
            chunk = payout_ids[start : start + BATCH_QUERY_CHUNK]
            marks = ",".join(["%s"] * len(chunk))
            rows = self.db.query(
                f"SELECT payout_id FROM payouts WHERE payout_id IN ({marks})", chunk
            )
            found.update(str(r[0]) for r in rows)
        return found

    def payouts_in_transit(self) -> dict[str, int]:
        """currency -> total of payouts still waiting for an outcome."""
        rows = self.db.query(
            "SELECT currency, SUM(amount_minor) FROM payouts WHERE status = 'requested'"
            " GROUP BY currency"
        )
        return {c: int(s) for c, s in rows}
