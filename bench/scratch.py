"""Scratch tables for the limit rows: copies of the ledger's own tables (same columns, same
indexes, same storage options) in a schema of their own, written by binary ``COPY``; and the
stored-event JSON format the library writes, so limit rows store comparable payloads.

Nothing here touches the ledger's tables: they are only read (their definitions, and rows
copied into the scratch schema so indexes have a comparable size).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

SCHEMA = "bench_limit"

_BPCHAR = frozenset({"bpchar", "character"})
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def create_schema(conn: psycopg.Connection[Any]) -> None:
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))


def drop_schema(conn: psycopg.Connection[Any]) -> None:
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))


def qualified(table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table))


def like_table(
    conn: psycopg.Connection[Any], source: str, target: str, *, with_indexes: bool
) -> list[sql.Composed]:
    """``CREATE TABLE bench_limit.<target> (LIKE public.<source> ...)`` with the source's storage
    options and its own sequences.  With ``with_indexes`` the indexes come with it; without,
    the statements that build exactly the source's indexes on the target are returned (to run
    after a load)."""
    including = "INCLUDING ALL" if with_indexes else "INCLUDING DEFAULTS"
    conn.execute(
        sql.SQL("DROP TABLE IF EXISTS {}").format(qualified(target)),
    )
    conn.execute(
        sql.SQL("CREATE TABLE {} (LIKE {} " + including + ")").format(
            qualified(target), sql.Identifier("public", source)
        )
    )
    row = conn.execute(
        "SELECT reloptions FROM pg_class WHERE oid = %s::regclass", (f"public.{source}",)
    ).fetchone()
    if row and row[0]:
        conn.execute(
            sql.SQL("ALTER TABLE {} SET (" + ", ".join(row[0]) + ")").format(qualified(target))
        )
    # A bigserial's default names the source's sequence: give the copy a sequence of its own,
    # so nothing written here moves the ledger's notification ids.
    for (column,) in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name = %s AND column_default LIKE 'nextval(%%'",
        (source,),
    ).fetchall():
        seq = f"{target}_{column}_seq"
        conn.execute(sql.SQL("CREATE SEQUENCE {}").format(qualified(seq)))
        conn.execute(
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT nextval({})").format(
                qualified(target), sql.Identifier(column), sql.Literal(f"{SCHEMA}.{seq}")
            )
        )
    if with_indexes:
        return []
    return index_statements(conn, source, target)


def index_statements(conn: psycopg.Connection[Any], source: str, target: str) -> list[sql.Composed]:
    """Statements that build ``public.<source>``'s indexes (primary key and unique constraints
    as constraints, the others as indexes) on ``bench_limit.<target>``."""
    out: list[sql.Composed] = []
    rows = conn.execute(
        "SELECT pg_get_indexdef(i.indexrelid), c.contype, pg_get_constraintdef(c.oid)"
        " FROM pg_index i LEFT JOIN pg_constraint c"
        "  ON c.conindid = i.indexrelid AND c.contype IN ('p', 'u')"
        " WHERE i.indrelid = %s::regclass ORDER BY i.indexrelid",
        (f"public.{source}",),
    ).fetchall()
    for indexdef, contype, condef in rows:
        if contype is not None:
            out.append(sql.SQL("ALTER TABLE {} ADD " + condef).format(qualified(target)))
            continue
        match = re.match(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+ (.*)$", indexdef)
        assert match, indexdef
        out.append(
            sql.SQL("CREATE " + (match.group(1) or "") + "INDEX ON {} " + match.group(2)).format(
                qualified(target)
            )
        )
    return out


def copy_events(conn: psycopg.Connection[Any], target: str) -> None:
    """``bench_limit.<target>``: a copy of ``ledger_events`` (its columns, indexes and storage
    options) holding the ledger's events in notification order, numbered by its own sequence."""
    like_table(conn, "ledger_events", target, with_indexes=True)
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (originator_id, originator_version, topic, state)"
            " SELECT originator_id, originator_version, topic, state FROM ledger_events"
            " ORDER BY notification_id"
        ).format(qualified(target))
    )


#: The ledger's sealing trigger on ``ledger_events`` and the tables it names (migration 0007).
LEDGER_SEAL_TRIGGER = "ledger_events_sealed"
_SEAL_NAMES = ("ledger_seal_events", "ledger_event_seals", "ledger_events")


def seal_like_the_ledger(conn: psycopg.Connection[Any], events: str) -> str:
    """Seal the events inserted into ``bench_limit.<events>`` as the ledger seals its own: a
    copy of the ledger's sealing trigger and of its function, as the database has them now
    (``pg_get_triggerdef``, ``pg_get_functiondef``), naming the copies instead of the ledger's
    tables.  ``bench_limit.<events>`` must be filled first: ``bench_limit.<events>_seals`` is
    filled with the ledger's seals up to the copy's last notification id, so its index has
    about the same size and the ids the copy gives next are free.  The trigger is created
    disabled (:func:`set_sealing`); its name.

    Every name of the ledger's tables and function is replaced, word for word, and checked
    gone afterwards: a limit row must never write into the ledger's own chain."""
    seals = f"{events}_seals"
    like_table(conn, "ledger_event_seals", seals, with_indexes=True)
    conn.execute(
        sql.SQL(
            "INSERT INTO {} SELECT * FROM public.ledger_event_seals WHERE notification_id <="
            " (SELECT coalesce(max(notification_id), 0) FROM {})"
        ).format(qualified(seals), qualified(events))
    )
    row = conn.execute(
        "SELECT pg_get_triggerdef(t.oid), pg_get_functiondef(t.tgfoid) FROM pg_trigger t"
        " WHERE t.tgrelid = 'public.ledger_events'::regclass AND t.tgname = %s",
        (LEDGER_SEAL_TRIGGER,),
    ).fetchone()
    assert row is not None, "the ledger's events have no sealing trigger (migration 0007)"
    trigger_name = f"{events}_sealed"
    names = {
        LEDGER_SEAL_TRIGGER: trigger_name,
        "ledger_seal_events": f"{SCHEMA}.{events}_seal",
        "ledger_event_seals": f"{SCHEMA}.{seals}",
        "ledger_events": f"{SCHEMA}.{events}",
    }
    trigger, function = renamed([str(row[0]), str(row[1])], names)
    conn.execute(function.encode())
    conn.execute(trigger.encode())
    set_sealing(conn, events, on=False)
    return trigger_name


def renamed(definitions: list[str], names: dict[str, str]) -> list[str]:
    """``definitions`` with each ledger name in ``names`` (schema-qualified or not) replaced;
    every name must be found in one of them, and none of the ledger's names may be left."""
    out = list(definitions)
    for old, new in names.items():
        found = 0
        for i, text in enumerate(out):
            out[i], n = re.subn(rf"(?<![\w.])(?:public\.)?{old}\b", new, text)
            found += n
        assert found, f"{old} is not in the ledger's definitions"
    for text in out:
        left = [name for name in _SEAL_NAMES if re.search(rf"(?<![\w.]){name}\b", text)]
        assert not left, f"the copy still names the ledger's {left}: {text[:400]}"
    return out


def drop_sealing(conn: psycopg.Connection[Any], events: str) -> None:
    """Drop what :func:`seal_like_the_ledger` made beside ``bench_limit.<events>``: the seals'
    table and the trigger's function (the trigger goes with the events' table)."""
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(qualified(f"{events}_seals")))
    conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}()").format(qualified(f"{events}_seal")))


def set_trigger(
    conn: psycopg.Connection[Any], table: sql.Composable, trigger: str, *, on: bool
) -> None:
    """Turn ``trigger`` of ``table`` on or off (as the table's owner, as the bench is)."""
    conn.execute(
        sql.SQL("ALTER TABLE {} " + ("ENABLE" if on else "DISABLE") + " TRIGGER {}").format(
            table, sql.Identifier(trigger)
        )
    )


def set_sealing(conn: psycopg.Connection[Any], events: str, *, on: bool) -> None:
    """Turn the seal trigger of :func:`seal_like_the_ledger` on or off."""
    set_trigger(conn, qualified(events), f"{events}_sealed", on=on)


def seals_written(conn: psycopg.Connection[Any], events: str) -> int:
    """How many seals ``bench_limit.<events>_seals`` holds (compare before and after)."""
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(qualified(f"{events}_seals"))
    ).fetchone()
    assert row is not None
    return int(row[0])


def column_types(conn: psycopg.Connection[Any], source: str) -> list[tuple[str, str]]:
    """``(column, type name)`` of ``public.<source>`` in column order (for binary COPY)."""
    rows = conn.execute(
        "SELECT attname, atttypid::regtype::text FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (f"public.{source}",),
    ).fetchall()
    return [(str(a), str(t)) for a, t in rows]


def copy_binary(
    cur: psycopg.Cursor[Any],
    target: str,
    columns: Sequence[tuple[str, str]],
    rows: Iterable[Sequence[Any]],
) -> int:
    """Binary ``COPY`` of ``rows`` into ``bench_limit.<target>``; returns how many."""
    n = 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        qualified(target), sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns)
    )
    with cur.copy(statement) as copy:
        # char(n) has the text type's binary format (psycopg has no binary dumper for it).
        copy.set_types(["text" if t in _BPCHAR else t for _, t in columns])
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


# -- the library's stored-event JSON --------------------------------------------------------


def _transcoded(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"_type_": "datetime_iso", "_data_": value.isoformat()}
    if isinstance(value, date):
        return {"_type_": "date_iso", "_data_": value.isoformat()}
    if isinstance(value, UUID):
        return {"_type_": "uuid_hex", "_data_": value.hex}
    return value


def event_state(fields: dict[str, Any]) -> bytes:
    """An event's stored state as the library's JSON transcoder writes it (top-level datetimes,
    dates and UUIDs wrapped; compact separators)."""
    return _JSON.encode({k: _transcoded(v) for k, v in fields.items()}).encode()
