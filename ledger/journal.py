"""The journal for the general ledger: pages of whole entries with a cursor, and per-period
totals per account kind with stable line ids.

Ids, one format per kind, the same in Python, the CLI's CSV and JSON, and the summary:

* ``entry_id``: an integer, the position in the event log of the event that posted the entry
  (entries are numbered in the order they were recorded); a page's cursor is its last one;
* ``line_id``: ``"L<entry_id>-<seq>"``, one posting of an entry (a letter first, so that no
  spreadsheet reads it as a number or a date);
* ``event_id``: ``"<aggregate id>/<version>"``, the stored event the entry came from;
* ``creator_ref``: the creator's own reference (``owner`` keeps the account's owner id);
* a summary line: ``"<period>/<account kind>/<currency>"``, e.g. ``2026-01/creator:payable/USD``
  (periods: ``2026-01-31`` day, ``2026-01`` month, ``2026-Q1`` quarter, ``2026`` year).

Amounts are signed as posted: debit positive, credit negative; every entry, so every page and
every period of a summary, sums to zero per currency.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from creator_ledger.adapters.readmodels.journal_queries import JournalFilter
from creator_ledger.domain.accounts import KINDS
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import InvalidInputError, NotFoundError
from creator_ledger.ledger.projections import Projector
from creator_ledger.ledger.validation import Key, command

JOURNAL_FORMAT: Final = "creator-ledger/journal/v1"
SUMMARY_FORMAT: Final = "creator-ledger/journal-summary/v1"
MAX_PAGE_ENTRIES = 100_000
Period = Literal["day", "month", "quarter", "year"]
Cursor = Annotated[str, Field(pattern=r"^[0-9]{1,19}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class JournalExportLine(_Frozen):
    """One posting of a journal entry (the CSV's columns, in order)."""

    entry_id: int
    effective_on: date
    entry_kind: str
    account_kind: str
    owner: str
    currency: str
    amount_minor: int
    description: str
    line_id: str
    creator_ref: str | None
    recorded_at: datetime | None
    event_id: str
    #: who issued the command that posted the entry (empty: recorded before actors were kept)
    actor: str | None


class JournalPage(_Frozen):
    """Whole journal entries (every posting of each), and the cursor to the next page."""

    format: Literal["creator-ledger/journal/v1"] = JOURNAL_FORMAT
    entries: int
    lines: list[JournalExportLine]
    #: pass it as ``after`` for the next page; None when this page is the last
    next_cursor: str | None


class SummaryLine(_Frozen):
    line_id: str
    period: str
    account_kind: str
    currency: str
    debit_minor: int
    credit_minor: int
    net_minor: int
    lines: int
    entries: int


class JournalSummary(_Frozen):
    """Totals per period, account kind and currency: what a general-ledger import wants."""

    format: Literal["creator-ledger/journal-summary/v1"] = SUMMARY_FORMAT
    period: Period
    lines: list[SummaryLine]
    #: currency -> net of every line (zero: the journal balances)
    net_by_currency: dict[str, int]


def period_key(day: date, period: Period) -> str:
    if period == "day":
        return day.isoformat()
    if period == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year:04d}"


class Journal:
    """The journal's queries (the read models caught up first)."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector
        self.read_models = projector.read_models

    def _filters(
        self,
        since: date | None,
        until: date | None,
        recorded_since: datetime | None,
        account_kind: str | None,
        creator_ref: str | None,
    ) -> JournalFilter:
        if since is not None and until is not None and until < since:
            raise InvalidInputError("until must not be before since (both inclusive)")
        if recorded_since is not None and recorded_since.tzinfo is None:
            raise InvalidInputError("recorded_since must be timezone-aware (e.g. UTC)")
        if account_kind is not None and account_kind not in KINDS:
            msg = f"unknown account kind {account_kind!r}; expected one of {sorted(KINDS)}"
            raise InvalidInputError(msg, account_kind=account_kind)
        owner = None
        if creator_ref is not None:
            owner = Creator.create_id(creator_ref).hex
            if self.read_models.creator(owner) is None:
                raise NotFoundError(f"unknown creator {creator_ref!r}", creator_ref=creator_ref)
        return JournalFilter(since, until, recorded_since, account_kind, owner)

    @command
    def journal(
        self,
        *,
        since: date | None = None,
        until: date | None = None,
        recorded_since: datetime | None = None,
        account_kind: str | None = None,
        creator_ref: Key | None = None,
        after: Cursor | None = None,
        limit: Annotated[int, Field(ge=1, le=MAX_PAGE_ENTRIES)] = 1_000,
    ) -> JournalPage:
        """Up to ``limit`` whole entries after the cursor ``after``, in the order they were
        recorded, chosen by business date (``since``/``until``, inclusive), by when they were
        recorded (``recorded_since``), by an account kind or a creator they post to; each with
        every one of its postings, so a page always balances."""
        filters = self._filters(since, until, recorded_since, account_kind, creator_ref)
        self.projector.catch_up()
        rows, more = self.read_models.journal_page(filters, after=int(after or 0), limit=limit)
        lines = [
            JournalExportLine(
                entry_id=r.entry_id,
                effective_on=r.effective_on,
                entry_kind=r.entry_kind,
                account_kind=r.account_kind,
                owner=r.owner,
                currency=r.currency,
                amount_minor=r.amount_minor,
                description=r.description,
                line_id=f"L{r.entry_id}-{r.seq}",
                creator_ref=r.creator_ref,
                recorded_at=r.recorded_at,
                actor=r.actor,
                event_id=r.event_id,
            )
            for r in rows
        ]
        entries = len({ln.entry_id for ln in lines})
        cursor = str(lines[-1].entry_id) if lines and more else None
        return JournalPage(entries=entries, lines=lines, next_cursor=cursor)

    @command
    def journal_summary(
        self,
        *,
        period: Period = "month",
        since: date | None = None,
        until: date | None = None,
        recorded_since: datetime | None = None,
        account_kind: str | None = None,
        creator_ref: Key | None = None,
    ) -> JournalSummary:
        """Debits, credits and net per ``period`` × account kind × currency of the entries the
        filters choose (as :meth:`journal`), each line with a stable id."""
        filters = self._filters(since, until, recorded_since, account_kind, creator_ref)
        self.projector.catch_up()
        totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for d in self.read_models.journal_daily_totals(filters):
            t = totals[(period_key(d.effective_on, period), d.account_kind, d.currency)]
            t[0] += d.debit_minor
            t[1] += d.credit_minor
            t[2] += d.lines
            t[3] += d.entries
        lines = [
            SummaryLine(
                line_id=f"{key}/{kind}/{currency}",
                period=key,
                account_kind=kind,
                currency=currency,
                debit_minor=dr,
                credit_minor=cr,
                net_minor=dr - cr,
                lines=n,
                entries=k,
            )
            for (key, kind, currency), (dr, cr, n, k) in sorted(totals.items())
        ]
        net: dict[str, int] = defaultdict(int)
        for ln in lines:
            net[ln.currency] += ln.net_minor
        return JournalSummary(period=period, lines=lines, net_by_currency=dict(net))
