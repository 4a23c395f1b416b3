"""W5 limit: the read models rebuilt from the events the most direct way.

Every stored event of the bench database is read as a plain tuple (``SELECT ... FROM
ledger_events ORDER BY notification_id``, binary, through a server-side cursor), its JSON state
decoded with ``orjson`` when it is installed (``json`` otherwise), and folded in Python into the
same rows the ledger's projection writes: journal entries and postings (the posting rules of
``domain/posting.py``, written out for the event types this limit knows), running balances
(``balance_after``, in business-time order) and balances, and the entity tables (funds,
programs, periods, creators, contracts, holds, claim items, payouts).  The rows are binary
``COPY``-ed into scratch copies of the read-model tables with no index, and the tables' indexes
(the very definitions of the ledger's) are built after the load, all in one transaction.

An event type the limit does not know fails loudly rather than being skipped, and
:func:`verify` compares every scratch table with the ledger's rebuilt one, row for row.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from bench import scratch
from bench.measure import timed
from bench.rebuild_entities import EntityRows
from bench.rebuild_journal import Event, JournalRules, Move


def _decoder() -> tuple[str, Callable[[bytes], Any]]:
    """``orjson`` when it is installed (the project does not depend on it), else ``json``."""
    try:
        module = importlib.import_module("orjson")
    except ImportError:
        decode = json.JSONDecoder().decode  # json.loads would sniff each state's encoding

        def loads(state: bytes) -> Any:
            return decode(str(state, "utf-8"))

        return "json", loads
    return "orjson", module.loads


DECODER, loads = _decoder()

#: Read-model tables rebuilt here (all of them).
TABLES = (
    "journal_entries",
    "postings",
    "balances",
    "funds",
    "programs",
    "periods",
    "creators",
    "creator_holds",
    "creator_contracts",
    "agreements",
    "claim_items",
    "payouts",
)
FETCH_ROWS = 5_000

#: Events that change no read-model row.
NO_ROWS = frozenset(
    {
        "AccountBook.Opened",
        "AccountBook.AccountsOpened",
        "AccountBook.AccrualHoldPlaced",
        "Creator.ReimbursementBudgetUsed",
        "Creator.BankPayoutReported",
        "CommandRecord.Recorded",
        "MoneySupply.Opened",  # the supply bound of each currency: no read-model rows
        "MoneySupply.Created",
        "MoneySupply.Increased",
        "PayoutRun.Started",
        "PayoutRun.Proposed",  # the run's controls: rows of the audit read model only, which
        "PayoutRun.Approved",  # this limit does not build (nor did it before they existed)
        "PayoutRun.Rejected",
        "PayoutRun.ExecutionStarted",
        "PayoutRun.BatchRequested",
        "PayoutRun.Finished",
        "ViewProgram.PeriodOpened",
        "ViewProgram.PeriodClosed",
    }
)


def _unseen(ev: Event) -> None:
    raise AssertionError(ev)  # a marker, never called


_UNSEEN = _unseen


class Rebuild(JournalRules, EntityRows):
    """Folds decoded events into read-model rows, in notification order.  Events of a type it
    does not know (exclusivity agreements, clawbacks, accrual-hold releases, reversals: none
    in the bench) raise :class:`NotImplementedError`."""

    def __init__(self) -> None:
        self.entries: list[tuple[Any, ...]] = []
        self.moves: list[Move] = []
        self.rows: dict[str, dict[Any, dict[str, Any]]] = {t: {} for t in TABLES[3:]}
        self.events = 0
        self._by_topic: dict[str, Callable[[Event], None] | None] = {}
        self._handlers: dict[str, Callable[[Event], None]] = {
            "CreatorFund.Created": self._both(self._fund_row, self._fund_created),
            "CreatorFund.BudgetToppedUp": self._fund("budget top-up {reference}", "topup"),
            "CreatorFund.BudgetCommitted": self._fund("committed to {purpose}", "commit"),
            "CreatorFund.CommitmentSpent": self._fund("spent: {reference}", "spend"),
            "CreatorFund.CommitmentReleased": self._fund("released: {reason}", "release"),
            "CreatorFund.SpendReturned": self._fund("returned: {reason}", "return"),
            "ViewProgram.Created": self._program_created,
            "ViewProgram.RuleChanged": self._rule_changed,
            "ProgramPeriod.Opened": self._period_opened,
            "ProgramPeriod.UsageReported": self._usage("reported_views"),
            "ProgramPeriod.InvalidTrafficDeducted": self._usage("invalid_views"),
            "ProgramPeriod.Closed": self._period_closed,
            "Creator.Enrolled": self._creator_enrolled,
            "Creator.PayoutAccountLinked": self._account_linked,
            "Creator.PayoutAccountStatusChanged": self._account_status,
            "Creator.KycStatusChanged": self._kyc,
            "Creator.ContractSigned": self._contract,
            "Creator.HoldPlaced": self._hold_placed,
            "Creator.HoldReleased": self._hold_released,
            "ReimbursementClaim.Submitted": self._claim_submitted,
            "ReimbursementClaim.ItemApproved": self._item_approved,
            "ReimbursementClaim.ItemRejected": self._item_rejected,
            "Payout.Requested": self._payout_requested,
            "Payout.Paid": self._both(self._payout_paid_row, self._payout_paid),
            "Payout.Failed": self._payout_failed,
            "AccountBook.ViewEarningsCredited": self._view_earnings,
            "AccountBook.BonusCredited": self._bonus,
            "AccountBook.ReimbursementCredited": self._reimbursement,
            "AccountBook.ReceivableOffset": self._offset,
            "AccountBook.PayoutsRequested": self._payouts_requested,
            "AccountBook.PayoutReturned": self._payout_returned,
        }

    @staticmethod
    def _both(
        first: Callable[[Event], None], second: Callable[[Event], None]
    ) -> Callable[[Event], None]:
        def handle(ev: Event) -> None:
            first(ev)
            second(ev)

        return handle

    def apply(self, nid: int, oid: UUID, version: int, topic: str, state: bytes) -> None:
        self.events += 1
        handler = self._by_topic.get(topic, _UNSEEN)
        if handler is _UNSEEN:
            handler = self._by_topic[topic] = self._handler(topic, nid)
        if handler is not None:
            handler(Event(nid, oid, version, loads(state)))

    def _handler(self, topic: str, nid: int) -> Callable[[Event], None] | None:
        name = topic.rpartition("/")[2]  # creator-ledger/<Aggregate>.<Event>
        handler = self._handlers.get(name)
        if handler is None and name not in NO_ROWS:
            msg = f"the W5 limit does not know how to project {topic} (notification {nid})"
            raise NotImplementedError(msg)
        return handler


def _scratch_name(table: str) -> str:
    return f"w5_{table}"


def run(conninfo: str) -> dict[str, Any]:
    """The limit row: events/s over every stored event, load and index build included."""
    with psycopg.connect(conninfo) as conn:
        conn.autocommit = True
        scratch.create_schema(conn)
        builds: list[sql.Composed] = []
        types: dict[str, list[tuple[str, str]]] = {}
        for table in TABLES:
            builds += scratch.like_table(conn, table, _scratch_name(table), with_indexes=False)
            types[table] = scratch.column_types(conn, table)
        conn.autocommit = False
        rebuild = Rebuild()
        # The timer stops after the commit (contexts exit in reverse order).
        with timed() as t, conn.transaction():
            phases = _rebuild(conn, rebuild, types, builds)
    counts: dict[str, int] = phases.pop("rows")
    return {
        "events": rebuild.events,
        "postings": counts["postings"],
        "rows": counts,
        "decoder": DECODER,
        "seconds": t.seconds,
        "events_per_s": rebuild.events / t.seconds,
        "read_decode_fold_s": t.seconds - phases["copy_s"] - phases["index_s"],
        **phases,
    }


def _rebuild(
    conn: psycopg.Connection[Any],
    rebuild: Rebuild,
    types: dict[str, list[tuple[str, str]]],
    builds: list[sql.Composed],
) -> dict[str, Any]:
    with conn.cursor("w5_events", binary=True) as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM ledger_events ORDER BY notification_id"
        )
        apply = rebuild.apply
        for nid, oid, version, topic, state in cur:
            apply(nid, oid, version, topic, state)
    with timed() as running:
        postings, balances = rebuild.postings()
    counts: dict[str, int] = {}
    with conn.cursor() as cur, timed() as load:
        for table, rows in (
            ("journal_entries", rebuild.entries),
            ("postings", postings),
            ("balances", balances),
        ):
            counts[table] = scratch.copy_binary(cur, _scratch_name(table), types[table], rows)
        for table, entities in rebuild.rows.items():
            columns = types[table]
            counts[table] = scratch.copy_binary(
                cur,
                _scratch_name(table),
                columns,
                ([r.get(c) for c, _ in columns] for r in entities.values()),
            )
    with conn.cursor() as cur, timed() as index:
        for statement in builds:
            cur.execute(statement)
    return {
        "rows": counts,
        "running_balances_s": running.seconds,
        "copy_s": load.seconds,
        "index_s": index.seconds,
    }


def verify(conninfo: str) -> dict[str, Any]:
    """After W5: is every scratch table the ledger's rebuilt table, row for row?  Then drop
    them."""
    differing: dict[str, int] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table in TABLES:
            ours = sql.SQL("SELECT * FROM {}").format(sql.Identifier("public", table))
            limit = sql.SQL("SELECT * FROM {}").format(scratch.qualified(_scratch_name(table)))
            n = 0
            for a, b in ((ours, limit), (limit, ours)):
                row = conn.execute(
                    sql.SQL("SELECT COUNT(*) FROM ({} EXCEPT ALL {}) d").format(a, b)
                ).fetchone()
                assert row is not None
                n += int(row[0])
            if n:
                differing[table] = n
        for table in TABLES:
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(scratch.qualified(_scratch_name(table)))
            )
    return {"same_rows": not differing, "differing_rows": differing}
