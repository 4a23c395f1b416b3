"""The general ledger's queries: journal pages of whole entries, daily totals per account kind,
and what operations read (payouts by status, a round trip to the database).

A page holds whole entries, never part of one, so every page balances: entries are chosen (by
the filters, after the cursor, in entry-id order: the order they were recorded) and then every
posting of each chosen entry is returned.  The cursor is the last entry id of a page; entries
recorded later always come after it, even when their business date is earlier, so a reader
that pages on from a cursor never misses an entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from creator_ledger.adapters.readmodels.rows import JournalLine
from creator_ledger.adapters.sql import as_date, as_datetime

if TYPE_CHECKING:
    from creator_ledger.adapters.sql import Database


@dataclass(frozen=True, slots=True)
class JournalFilter:
    """Which entries a journal query chooses (every field optional)."""

    since: date | None = None  # business date, inclusive
    until: date | None = None  # business date, inclusive
    recorded_since: datetime | None = None  # recorded at or after (timezone-aware)
    account_kind: str | None = None  # entries with a posting to an account of this kind
    owner: str | None = None  # entries with a posting to an account of this owner

    def where(self, alias: str = "e") -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.since is not None:
            clauses.append(f"{alias}.effective_on >= %s")
            params.append(self.since)
        if self.until is not None:
            clauses.append(f"{alias}.effective_on <= %s")
            params.append(self.until)
        if self.recorded_since is not None:
            clauses.append(f"{alias}.recorded_at >= %s")
            params.append(self.recorded_since)
        touches = []
        if self.account_kind is not None:
            touches.append("q.kind = %s")
            params.append(self.account_kind)
        if self.owner is not None:
            touches.append("q.owner = %s")
            params.append(self.owner)
        if touches:
            clauses.append(
                f"EXISTS (SELECT 1 FROM postings q WHERE q.entry_id = {alias}.entry_id AND "
                + " AND ".join(touches)
                + ")"
            )
        return " AND ".join(clauses) or "TRUE", params


@dataclass(frozen=True, slots=True)
class DailyTotal:
    """The postings of one business day to one account kind in one currency."""

    effective_on: date
    account_kind: str
    currency: str
    debit_minor: int  # the sum of the positive postings
    credit_minor: int  # the sum of the negative postings, as a positive number
    lines: int
    entries: int


@dataclass(frozen=True, slots=True)
class PayoutCount:
    status: str
    currency: str
    count: int
    amount_minor: int


class JournalQueries:
    """Mixed into :class:`~.store.ReadModels` (which provides ``db``)."""

    db: Database

    def journal_page(
        self, filters: JournalFilter, *, after: int = 0, limit: int = 1_000
    ) -> tuple[list[JournalLine], bool]:
        """Every posting of the first ``limit`` entries after entry id ``after`` that
        ``filters`` choose, in entry then posting order; and whether more entries follow."""
        where, params = filters.where("e")
        ids = [
            int(r[0])
            for r in self.db.query(
                f"SELECT e.entry_id FROM journal_entries e WHERE e.entry_id > %s AND {where}"
                " ORDER BY e.entry_id LIMIT %s",
                (after, *params, limit + 1),
            )
        ]
        more = len(ids) > limit
        ids = ids[:limit]
        if not ids:
            return [], False
        rows = self.db.query(
            "SELECT p.entry_id, p.seq, p.effective_on, e.kind, p.kind, p.owner, p.currency,"
            " p.amount_minor, e.description, c.creator_ref, e.originator_id,"
            " e.originator_version, e.recorded_at, e.actor"
            " FROM postings p JOIN journal_entries e ON e.entry_id = p.entry_id"
            " LEFT JOIN creators c ON c.creator_id = p.owner AND p.kind LIKE 'creator:%%'"
            " WHERE p.entry_id >= %s AND p.entry_id <= %s AND e.entry_id > %s AND"
            f" {where} ORDER BY p.entry_id, p.seq",
            (ids[0], ids[-1], after, *params),
        )
        chosen = set(ids)
        lines = []
        for row in rows:
            entry, seq, on, entry_kind, kind, owner, currency, amount, text, ref = row[:10]
            origin, version, recorded, actor = row[10:]
            if int(entry) not in chosen:
                continue
            lines.append(
                JournalLine(
                    entry_id=int(entry),
                    effective_on=as_date(on),
                    entry_kind=entry_kind,
                    account_kind=kind,
                    owner=owner,
                    currency=currency,
                    amount_minor=int(amount),
                    description=text,
                    seq=int(seq),
                    creator_ref=ref,
                    event_id=f"{origin}/{int(version)}",
                    recorded_at=as_datetime(recorded),
                    actor=actor,
                )
            )
        return lines, more

    def journal_daily_totals(self, filters: JournalFilter) -> list[DailyTotal]:
        """Per business day, account kind and currency: debits, credits, lines and entries of
        the entries ``filters`` choose (whole entries, as :meth:`journal_page`)."""
        where, params = filters.where("e")
        rows = self.db.query(
            "SELECT p.effective_on, p.kind, p.currency,"
            " SUM(CASE WHEN p.amount_minor > 0 THEN p.amount_minor ELSE 0 END),"
            " SUM(CASE WHEN p.amount_minor < 0 THEN -p.amount_minor ELSE 0 END),"
            " COUNT(*), COUNT(DISTINCT p.entry_id)"
            " FROM postings p JOIN journal_entries e ON e.entry_id = p.entry_id"
            f" WHERE {where} GROUP BY p.effective_on, p.kind, p.currency"
            " ORDER BY p.effective_on, p.kind, p.currency",
            params,
        )
        return [
            DailyTotal(as_date(on), kind, cur, int(dr), int(cr), int(n), int(k))
            for on, kind, cur, dr, cr, n, k in rows
        ]

    def creator_ids(self, creator_refs: Sequence[str]) -> dict[str, str]:
        """creator ref -> creator id (hex) of the known ones among ``creator_refs``."""
        if not creator_refs:
            return {}
        marks = ",".join(["%s"] * len(creator_refs))
        rows = self.db.query(
            f"SELECT creator_ref, creator_id FROM creators WHERE creator_ref IN ({marks})",
            list(creator_refs),
        )
        return {str(ref): str(cid) for ref, cid in rows}

    # -- operations ---------------------------------------------------------------------------

    def payout_counts(self) -> list[PayoutCount]:
        rows = self.db.query(
            "SELECT status, currency, COUNT(*), SUM(amount_minor) FROM payouts"
            " GROUP BY status, currency ORDER BY status, currency"
        )
        return [PayoutCount(s, c, int(n), int(a or 0)) for s, c, n, a in rows]

    def ping(self) -> None:
        """One round trip to the read models' database (raises if it cannot be reached)."""
        self.db.query("SELECT 1")

    def agreements_with_credit_due(self) -> list[str]:
        """Keys of active agreements with part of their total not yet credited (the ones the
        daily instalment duty looks at), in key order."""
        rows = self.db.query(
            "SELECT agreement_key FROM agreements WHERE status = 'active'"
            " AND credited_minor < total_minor ORDER BY agreement_key"
        )
        return [str(r[0]) for r in rows]
