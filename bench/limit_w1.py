"""W1 limit: a period close done the most direct way, measured on the same data as W1.

For the same creators and the same usage as W1, in one transaction and one commit, with the
cyclic garbage collector paused:

1. the same pool split (:func:`creator_ledger.domain.allocation.split_pool`, the period's cap
   and tie-break salt ``"<program id>/<period key>"``);
2. the same events, JSON-encoded as the library stores them, written by binary ``COPY`` into a
   copy of ``ledger_events`` (same columns and indexes, pre-filled with the ledger's events so
   its indexes have the same size), each event sealed as the ledger seals its own (a copy of
   the ledger's sealing trigger: :func:`bench.scratch.seal_like_the_ledger`), under the
   library's ``LOCK TABLE ... IN EXCLUSIVE MODE``:
   one ``AccountBook.ViewEarningsCredited`` per account book touched (creators grouped by
   their book shard, lines ``[creator, views, amount, to_held, capped]``), the period's
   ``Closed``, the program's ``PeriodClosed``, the fund's ``CommitmentSpent`` (and
   ``CommitmentReleased`` when some of the pool went unused) and the command record;
3. the journal read model for them, by binary ``COPY`` into copies of ``journal_entries``,
   ``postings`` (``balance_after`` computed in Python from the accounts' current balances,
   read in one query) and ``balances`` (new accounts copied in, existing ones updated from a
   copied batch);
4. the audit read model for them (the ledger projects every read model after a close): the
   command's row, its events by kind and the creators they name, by binary ``COPY`` into
   copies of ``audit_entries``, ``audit_effects`` and ``audit_creators``.

It decides nothing the ledger decides beyond the split (no accrual holds exist in the bench,
so every line is payable).  :func:`verify` checks afterwards that the creators' postings and
balances are the very rows the ledger wrote.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from bench import scratch
from bench.measure import gc_paused, timed
from bench.workloads import ACTOR
from creator_ledger.domain.accounts import (
    CREATOR_PAYABLE,
    EXPENSE_CREATOR_FUND,
    FUND_AVAILABLE,
    FUND_COMMITTED,
    FUND_SPENT,
)
from creator_ledger.domain.allocation import split_pool
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.fund import CreatorFund
from creator_ledger.domain.idempotency import CommandRecord
from creator_ledger.domain.ids import book_shard_hex, stable_id
from creator_ledger.domain.period import ProgramPeriod
from creator_ledger.domain.program import ViewProgram

BOOK_TOPIC = AccountBook.ViewEarningsCredited.TOPIC
PERIOD_CLOSED_TOPIC = ProgramPeriod.Closed.TOPIC
PROGRAM_CLOSED_TOPIC = ViewProgram.PeriodClosed.TOPIC
SPENT_TOPIC = CreatorFund.CommitmentSpent.TOPIC
RELEASED_TOPIC = CreatorFund.CommitmentReleased.TOPIC
RECORD_TOPIC = CommandRecord.Recorded.TOPIC

EVENTS, ENTRIES, POSTINGS, BALANCES = (
    "w1_events",
    "w1_journal_entries",
    "w1_postings",
    "w1_balances",
)
AUDIT_ENTRIES, AUDIT_EFFECTS, AUDIT_CREATORS = (
    "w1_audit_entries",
    "w1_audit_effects",
    "w1_audit_creators",
)
_TABLES = {
    EVENTS: "ledger_events",
    ENTRIES: "journal_entries",
    POSTINGS: "postings",
    BALANCES: "balances",
    AUDIT_ENTRIES: "audit_entries",
    AUDIT_EFFECTS: "audit_effects",
    AUDIT_CREATORS: "audit_creators",
}

AccountKey = tuple[str, str, str]  # (owner, kind, currency)


def prepare(conninfo: str, program_key: str, period_key: str) -> dict[str, Any]:
    """Scratch copies of the tables W1 writes, in their state before the close (not timed), and
    what the close needs to know about the period (read from the read models)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        scratch.create_schema(conn)
        for target, source in _TABLES.items():
            scratch.like_table(conn, source, target, with_indexes=True)
            conn.execute(
                sql.SQL("INSERT INTO {} SELECT * FROM {}").format(
                    scratch.qualified(target), sql.Identifier("public", source)
                )
            )
        conn.execute(
            "SELECT setval(%s, (SELECT COALESCE(MAX(notification_id), 0) + 1 FROM ledger_events),"
            " false)",
            (f"{scratch.SCHEMA}.{EVENTS}_notification_id_seq",),
        )
        conn.execute(sql.SQL("ANALYZE {}").format(scratch.qualified(EVENTS)))
        scratch.seal_like_the_ledger(conn, EVENTS)  # as the ledger seals its events
        scratch.set_sealing(conn, EVENTS, on=True)
        row = conn.execute(
            "SELECT pr.program_id, pe.period_id, pe.pool_minor, pe.rule, pr.fund_id, pr.currency"
            " FROM programs pr JOIN periods pe USING (program_id)"
            " WHERE pr.program_key = %s AND pe.period_key = %s",
            (program_key, period_key),
        ).fetchone()
        assert row is not None, "W1 limit: the period must be open and projected"
        types = {target: scratch.column_types(conn, source) for target, source in _TABLES.items()}
        creators: dict[str, str] = dict(
            conn.execute("SELECT creator_ref, creator_id FROM creators").fetchall()
        )
    program_id, period_id, pool_minor, rule, fund_id, currency = row
    return {
        "program_key": program_key,
        "period_key": period_key,
        "program_id": UUID(str(program_id)),
        "period_id": UUID(str(period_id)),
        "fund_id": UUID(str(fund_id)),
        "currency": str(currency).strip(),
        "pool_minor": int(pool_minor),
        "cap_minor": json.loads(rule).get("creator_cap_minor"),
        "creator_ids": creators,
        "column_types": types,
    }


def run(
    conninfo: str,
    period: dict[str, Any],
    usage: Sequence[tuple[str, str, int]],
    *,
    effective_at: datetime,
) -> dict[str, Any]:
    """The limit row: ``usage`` rows ``(creator_ref, content_id, views)`` as W1 reports them."""
    ids: dict[str, str] = period["creator_ids"]
    rows = [(ids[r], v) for r, _, v in usage]  # the id mapping happens at report time in W1
    with psycopg.connect(conninfo, autocommit=True) as counting:
        sealed_before = scratch.seals_written(counting, EVENTS)
        with (
            psycopg.connect(conninfo) as conn,
            gc_paused(),
            timed() as t,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            counts = _close(cur, period, rows, effective_at)
        sealed = scratch.seals_written(counting, EVENTS) - sealed_before
    assert sealed == counts["events"], f"W1 limit: {sealed} seals for {counts['events']} events"
    return {
        "creators": len(rows),
        "seconds": t.seconds,
        "creators_per_s": len(rows) / t.seconds,
        **counts,
    }


#: (originator id, topic, fields, fund move or None); a fund move is (debit, credit, amount,
#: description) of the fund's memo accounts.
Pending = tuple[UUID, str, dict[str, Any], tuple[str, str, int, str] | None]


def _close(
    cur: psycopg.Cursor[Any],
    p: dict[str, Any],
    rows: Sequence[tuple[str, int]],
    at: datetime,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    with timed() as split:
        pending = _pending_events(p, rows, at, now)
    cur.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(scratch.qualified(EVENTS)))
    cur.execute(
        sql.SQL(
            "SELECT originator_id, MAX(originator_version) FROM {}"
            " WHERE originator_id = ANY(%s) GROUP BY originator_id"
        ).format(scratch.qualified(EVENTS)),
        (list({e[0] for e in pending}),),
    )
    version = {UUID(str(i)): int(v) for i, v in cur.fetchall()}
    cur.execute(
        "SELECT nextval(%s) FROM generate_series(1, %s)",
        (f"{scratch.SCHEMA}.{EVENTS}_notification_id_seq", len(pending)),
    )
    notification_ids = [int(r[0]) for r in cur.fetchall()]
    with timed() as build:
        events, entries, moves = _rows(p, pending, version, notification_ids, at, now)
        postings, new, changed = _running_balances(cur, moves, p["currency"], at.date())
    types = p["column_types"]
    with timed() as copy:
        n_events = scratch.copy_binary(cur, EVENTS, types[EVENTS], events)
        n_entries = scratch.copy_binary(cur, ENTRIES, types[ENTRIES], entries)
        n_postings = scratch.copy_binary(cur, POSTINGS, types[POSTINGS], postings)
        scratch.copy_binary(cur, BALANCES, types[BALANCES], new)
        if changed:
            _update_balances(cur, changed)
        audit_entry, effects, links = _audit(p, pending, events, now)
        scratch.copy_binary(cur, AUDIT_ENTRIES, types[AUDIT_ENTRIES], [audit_entry])
        scratch.copy_binary(cur, AUDIT_EFFECTS, types[AUDIT_EFFECTS], effects)
        n_links = scratch.copy_binary(cur, AUDIT_CREATORS, types[AUDIT_CREATORS], links)
    return {
        "split_and_events_s": split.seconds,
        "rows_and_balance_lookup_s": build.seconds,
        "copy_s": copy.seconds,
        "events": n_events,
        "journal_entries": n_entries,
        "postings": n_postings,
        "balances_inserted": len(new),
        "balances_updated": len(changed),
        "audit_creators": n_links,
    }


def _audit(
    p: dict[str, Any], pending: list[Pending], events: list[tuple[Any, ...]], now: datetime
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The close's audit rows, as the ledger's audit projection writes them: one command row,
    its events by kind, and the creators they name (every creator credited)."""
    key = f"limit-close/{p['program_key']}/{p['period_key']}"
    audit_id = hashlib.sha256(f"{key}\x00close_period\x00{ACTOR}".encode()).hexdigest()[:32]
    kinds: dict[str, int] = {}
    creators: set[str] = set()
    result = None
    for _, topic, fields, _ in pending:
        kind = topic.rpartition("/")[2]
        kinds[kind] = kinds.get(kind, 0) + 1
        if topic == BOOK_TOPIC:
            creators.update(line[0] for line in fields["lines"])
        elif topic == RECORD_TOPIC:
            result = json.dumps(fields["result"], sort_keys=True)
    first, last = events[0][4], events[-1][4]
    entry = (audit_id, first, last, now, now, ACTOR, "close_period", key, None, len(events), result)
    effects = [(audit_id, kind, n) for kind, n in kinds.items()]
    return entry, effects, [(c, audit_id) for c in creators]


def _pending_events(
    p: dict[str, Any], rows: Sequence[tuple[str, int]], at: datetime, now: datetime
) -> list[Pending]:
    """The split, and the events of the close in the order the ledger saves them."""
    currency: str = p["currency"]
    views: dict[str, int] = {}
    for creator, v in rows:
        views[creator] = views.get(creator, 0) + v
    views = {c: v for c, v in views.items() if v > 0}
    split = split_pool(
        p["pool_minor"],
        views,
        salt=f"{p['program_id']}/{p['period_key']}",
        cap_minor=p["cap_minor"],
    )
    by_shard: dict[int, list[list[Any]]] = defaultdict(list)
    for creator in sorted(split.amounts):
        by_shard[book_shard_hex(creator)].append(
            [creator, views[creator], split.amounts[creator], 0, int(creator in split.capped)]
        )
    fund_id: UUID = p["fund_id"]
    reference = f"{p['program_key']}/{p['period_key']}"
    commitment = f"program/{p['program_key']}/{p['period_key']}"
    pending: list[Pending] = [
        (
            stable_id("book", shard),
            BOOK_TOPIC,
            {
                "timestamp": now,
                "program_id": p["program_id"],
                "period_id": p["period_id"],
                "period_key": p["period_key"],
                "fund_id": fund_id,
                "currency": currency,
                "lines": lines,
                "effective_at": at,
            },
            None,
        )
        for shard, lines in by_shard.items()
    ]
    figures = {
        "total_qualified_views": sum(views.values()),
        "pool_minor": split.pool_minor,
        "distributed_minor": split.distributed_minor,
        "returned_minor": split.returned_minor,
        "scaled_from_minor": split.scaled_from_minor,
        "creators": sum(1 for a in split.amounts.values() if a > 0),
        "capped": len(split.capped),
    }
    pending.append(
        (
            p["period_id"],
            PERIOD_CLOSED_TOPIC,
            {"timestamp": now, **figures, "effective_at": at},
            None,
        )
    )
    pending.append(
        (
            p["program_id"],
            PROGRAM_CLOSED_TOPIC,
            {"timestamp": now, "period_key": p["period_key"], "effective_at": at},
            None,
        )
    )
    fund = {"timestamp": now, "currency": currency, "commitment_id": commitment}
    if split.distributed_minor:
        amount = split.distributed_minor
        pending.append(
            (
                fund_id,
                SPENT_TOPIC,
                fund | {"amount_minor": amount, "reference": reference, "effective_at": at},
                (FUND_SPENT, FUND_COMMITTED, amount, f"spent: {reference}"),
            )
        )
    if split.returned_minor:
        amount, reason = split.returned_minor, f"{reference} closed"
        pending.append(
            (
                fund_id,
                RELEASED_TOPIC,
                fund | {"amount_minor": amount, "reason": reason, "effective_at": at},
                (FUND_AVAILABLE, FUND_COMMITTED, amount, f"released: {reason}"),
            )
        )
    result = {
        "program_key": p["program_key"],
        "period_key": p["period_key"],
        "status": "final",
        "currency": currency,
        "rule_version": 1,
        **figures,
    }
    key = f"limit-close/{reference}"
    pending.append(
        (
            stable_id("command", key),
            RECORD_TOPIC,
            {
                "timestamp": now,
                "originator_topic": CommandRecord.TOPIC,
                "key": key,
                "command": "close_period",
                "fingerprint": hashlib.sha256(repr(result).encode()).hexdigest(),
                "result": result,
                "effective_at": now,
            },
            None,
        )
    )
    return pending


#: (entry_id, seq, account kind, owner, amount_minor): a posting before its running balance.
Move = tuple[int, int, str, str, int]


def _rows(
    p: dict[str, Any],
    pending: list[Pending],
    version: dict[UUID, int],
    notification_ids: list[int],
    at: datetime,
    now: datetime,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[Move]]:
    """Event rows (at each aggregate's next version), journal entries and their postings."""
    events: list[tuple[Any, ...]] = []
    entries: list[tuple[Any, ...]] = []
    moves: list[Move] = []
    day = at.date()
    fund_hex = p["fund_id"].hex
    # Who issued the close, stored with every event as the ledger stores it (``issued``), and
    # the actor on each journal entry.
    issued = {
        "actor": ACTOR,
        "command": "close_period",
        "idempotency_key": f"limit-close/{p['program_key']}/{p['period_key']}",
    }
    for nid, (originator, topic, fields, fund_move) in zip(notification_ids, pending, strict=True):
        v = version.get(originator, 0) + 1
        version[originator] = v
        events.append(
            (originator, v, topic, scratch.event_state({**fields, "issued": issued}), nid)
        )
        if topic == BOOK_TOPIC:
            total = seq = 0
            for creator, _, amount, _, _ in fields["lines"]:
                if amount:
                    moves.append((nid, seq, CREATOR_PAYABLE, creator, -amount))
                    total += amount
                    seq += 1
            if total:
                moves.append((nid, seq, EXPENSE_CREATOR_FUND, fund_hex, total))
                text = f"view earnings, period {p['period_key']}"
                entries.append(
                    (nid, "ViewEarningsCredited", originator, v, at, day, now, text, ACTOR)
                )
        elif fund_move is not None:
            debit, credit, amount, text = fund_move
            moves.append((nid, 0, debit, fund_hex, amount))
            moves.append((nid, 1, credit, fund_hex, -amount))
            entries.append(
                (nid, topic.rpartition(".")[2], originator, v, at, day, now, text, ACTOR)
            )
    return events, entries, moves


def _running_balances(
    cur: psycopg.Cursor[Any], moves: list[Move], currency: str, day: date
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Postings with ``balance_after`` from the accounts' current balances (one query), and
    the balance rows to insert and to update."""
    keys = list(dict.fromkeys((owner, kind, currency) for _, _, kind, owner, _ in moves))
    current = _current_balances(cur, keys)
    running = {k: b for k, (b, _) in current.items()}
    postings = []
    for nid, seq, kind, owner, amount in moves:
        key = (owner, kind, currency)
        after = running.get(key, 0) + amount
        running[key] = after
        postings.append((nid, seq, kind, owner, currency, amount, day, after, None))
    new = [(k[1], k[0], k[2], b, day) for k, b in running.items() if k not in current]
    changed = [
        (k[1], k[0], k[2], b, max(day, current[k][1])) for k, b in running.items() if k in current
    ]
    return postings, new, changed


def _update_balances(cur: psycopg.Cursor[Any], changed: list[tuple[Any, ...]]) -> None:
    cur.execute(
        "CREATE TEMP TABLE w1_changed (kind text, owner text, currency char(3),"
        " balance_minor bigint, last_effective_on date) ON COMMIT DROP"
    )
    with cur.copy(
        "COPY w1_changed (kind, owner, currency, balance_minor, last_effective_on)"
        " FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["text", "text", "text", "int8", "date"])
        for row in changed:
            copy.write_row(row)
    cur.execute(
        sql.SQL(
            "UPDATE {} b SET balance_minor = c.balance_minor,"
            " last_effective_on = c.last_effective_on FROM w1_changed c"
            " WHERE b.owner = c.owner AND b.kind = c.kind AND b.currency = c.currency"
        ).format(scratch.qualified(BALANCES))
    )


def _current_balances(
    cur: psycopg.Cursor[Any], keys: Sequence[AccountKey]
) -> dict[AccountKey, tuple[int, date]]:
    cur.execute(
        sql.SQL(
            "SELECT b.owner, b.kind, b.currency, b.balance_minor, b.last_effective_on FROM {} b"
            " JOIN unnest(%s::text[], %s::text[], %s::text[]) AS k(owner, kind, currency)"
            " ON b.owner = k.owner AND b.kind = k.kind AND b.currency = k.currency"
        ).format(scratch.qualified(BALANCES)),
        ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]),
    )
    return {(str(o), str(k), str(c).strip()): (int(b), last) for o, k, c, b, last in cur.fetchall()}


def verify(conninfo: str) -> dict[str, Any]:
    """After W1: are the limit's creator postings and balances the ledger's very rows?  Then
    drop the scratch tables."""
    checks = {
        "postings": "SELECT kind, owner, currency, amount_minor, effective_on, balance_after"
        " FROM {} WHERE kind LIKE 'creator:%%'",
        "balances": "SELECT kind, owner, currency, balance_minor FROM {}"
        " WHERE kind LIKE 'creator:%%'",
    }
    out: dict[str, Any] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for name, query in checks.items():
            ours = sql.SQL(query).format(sql.Identifier("public", name))
            limit = sql.SQL(query).format(scratch.qualified(f"w1_{name}"))
            missing = conn.execute(
                sql.SQL("SELECT COUNT(*) FROM ({} EXCEPT ALL {}) d").format(ours, limit)
            ).fetchone()
            extra = conn.execute(
                sql.SQL("SELECT COUNT(*) FROM ({} EXCEPT ALL {}) d").format(limit, ours)
            ).fetchone()
            assert missing is not None
            assert extra is not None
            out[f"{name}_differing"] = int(missing[0]) + int(extra[0])
        for target in _TABLES:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(scratch.qualified(target)))
        scratch.drop_sealing(conn, EVENTS)
    out["same_rows"] = not any(out.values())
    return out
