"""The bench's limit rows seal their events as the ledger seals its own (issue 9): a copy of
the ledger's sealing trigger, naming the limit's copies, that never writes into the ledger's
chain."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from bench import scratch
from creator_ledger import CreatorLedger, Settings
from creator_ledger.domain.seals import event_seal
from tests import scenario as s

pytestmark = pytest.mark.postgres

EVENTS = "t_events"


def _count(conn: psycopg.Connection[Any], table: sql.Composable) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
    assert row is not None
    return int(row[0])


def _insert(conn: psycopg.Connection[Any], rows: list[tuple[UUID, int, str, bytes]]) -> None:
    """One statement (the trigger is per statement, as the ledger's inserts are)."""
    marks = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (originator_id, originator_version, topic, state) VALUES " + marks
        ).format(scratch.qualified(EVENTS)),
        [v for row in rows for v in row],
    )


def test_a_limit_copy_is_sealed_like_the_ledger_and_the_ledger_chain_is_untouched(
    pg_database: str,
) -> None:
    with CreatorLedger.open(Settings(database_url=pg_database)) as cl:
        s.fund(cl)
        s.creators(cl, 3, payout_ready=True)
    conninfo = Settings(database_url=pg_database).postgres_conninfo()
    ledger_seals = sql.Identifier("public", "ledger_event_seals")
    copy_seals = scratch.qualified(f"{EVENTS}_seals")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        scratch.create_schema(conn)
        scratch.copy_events(conn, EVENTS)
        assert scratch.seal_like_the_ledger(conn, EVENTS) == f"{EVENTS}_sealed"
        ledger_before = _count(conn, ledger_seals)
        copied = scratch.seals_written(conn, EVENTS)
        assert 0 < copied <= ledger_before  # the ledger's seals, up to the copy's last id

        # Created off: an insert then writes no seal.
        one = UUID(int=1)
        _insert(conn, [(one, 1, "creator-ledger/Test.Unsealed", b'{"n":0}')])
        assert scratch.seals_written(conn, EVENTS) == copied

        # On: each event of a statement gets its seal, chained after the copy's last one,
        # computed as the ledger computes its own.
        scratch.set_sealing(conn, EVENTS, on=True)
        row = conn.execute(
            sql.SQL("SELECT seal FROM {} ORDER BY notification_id DESC LIMIT 1").format(copy_seals)
        ).fetchone()
        assert row is not None
        previous = bytes(row[0])
        _insert(
            conn,
            [
                (one, 2, "creator-ledger/Test.Sealed", b'{"n":1}'),
                (one, 3, "creator-ledger/Test.Sealed", b'{"n":2}'),
            ],
        )
        assert scratch.seals_written(conn, EVENTS) == copied + 2
        stored = conn.execute(
            sql.SQL(
                "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic,"
                " e.state, z.seal FROM {} e JOIN {} z USING (notification_id)"
                " WHERE e.originator_id = %s ORDER BY e.notification_id"
            ).format(scratch.qualified(EVENTS), copy_seals),
            (one,),
        ).fetchall()
        assert [r[2] for r in stored] == [2, 3]
        for nid, oid, version, topic, state, seal in stored:
            previous = event_seal(previous, nid, oid, version, topic, bytes(state))
            assert bytes(seal) == previous

        scratch.set_sealing(conn, EVENTS, on=False)
        _insert(conn, [(one, 4, "creator-ledger/Test.Unsealed", b'{"n":3}')])
        assert scratch.seals_written(conn, EVENTS) == copied + 2
        # Not one seal went into the ledger's chain.
        assert _count(conn, ledger_seals) == ledger_before
        scratch.drop_schema(conn)

    with CreatorLedger.open(Settings(database_url=pg_database)) as cl:
        s.creators(cl, 2, "d", payout_ready=True)  # the ledger's own trigger still seals
        result = cl.verify()
    assert result.clean
    with psycopg.connect(conninfo, autocommit=True) as conn:
        assert _count(conn, ledger_seals) > ledger_before
