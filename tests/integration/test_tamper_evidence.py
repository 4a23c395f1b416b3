"""Tamper evidence (issue 11, items 4 and 5): the hash chain over the stored events, sealed
snapshots, ``verify`` and reconciliation, on SQLite, PostgreSQL and (where it applies) memory.

Each attack is made as the database's owner would make it: on PostgreSQL with the triggers
off (``session_replication_role = replica``), on SQLite by writing the file directly (dropping
the sealing trigger where the attack needs it).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any
from uuid import UUID

import psycopg
import pytest
from yoyo import get_backend
from yoyo.migrations import MigrationList

from creator_ledger import CreatorLedger, Settings, UnreadableEventError
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.domain.accounts import CREATOR_PAYABLE
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.ids import book_shard
from creator_ledger.domain.seals import GENESIS, event_seal, snapshot_seal
from creator_ledger.ledger import migrate as migrate_module
from creator_ledger.ledger.migrate import migrate
from creator_ledger.ledger.verify import ChainHead
from tests import scenario as s
from tests.conftest import pg_admin, pg_url


def _ledger(cl: CreatorLedger, creators: int = 3) -> None:
    s.fund(cl)
    s.creators(cl, creators, payout_ready=True)


@contextmanager
def owner(url: str) -> Iterator[Callable[..., list[Any]]]:
    """Run SQL on the ledger's database as its owner, with every trigger off (PostgreSQL) or on
    the file itself (SQLite); committed at the end."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        # Whoever has the file can drop its triggers (the ledger puts them back when it opens
        # the file next): the chain is what catches them.
        conn.execute("DROP TRIGGER IF EXISTS stored_events_no_update")
        conn.execute("DROP TRIGGER IF EXISTS stored_events_no_delete")

        def run_sqlite(sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
            return conn.execute(sql, params).fetchall()

        try:
            yield run_sqlite
            conn.commit()
        finally:
            conn.close()
        return
    with psycopg.connect(url) as pg:
        pg.execute("SET session_replication_role = replica")

        def run_pg(sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
            cur = pg.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []

        yield run_pg


def _events(url: str) -> str:
    return "stored_events" if url.startswith("sqlite") else "ledger_events"


def _nid(url: str) -> str:
    return "rowid" if url.startswith("sqlite") else "notification_id"


def _kinds(cl: CreatorLedger) -> list[tuple[str, int]]:
    return [(b.kind, b.notification_id) for b in cl.verify().broken_links]


def _reopen(database_url: str) -> CreatorLedger:
    return CreatorLedger.open(Settings(database_url=database_url))


# -- a clean chain ------------------------------------------------------------------------------


def test_a_clean_ledger_verifies_and_every_event_has_a_seal(cl: CreatorLedger) -> None:
    _ledger(cl)
    result = cl.verify()
    assert result.clean
    assert result.events == result.seals == cl.events_recorded() > 0
    assert result.head.notification_id == cl.events_recorded()
    assert result.kinds() == {}
    with pytest.raises(Exception, match="frozen"):
        result.events = 0  # type: ignore[misc]
    report = cl.reconcile_internal()
    assert report.clean
    assert report.checks["chain"] == 0


def test_the_chain_is_the_documented_encoding(database_url: str) -> None:
    """The seals the database wrote are SHA-256(previous || documented bytes)."""
    with _reopen(database_url) as cl:
        _ledger(cl)
        rows = list(cl.parts.store.chain())
    previous = GENESIS
    for row in rows:
        assert row.event is not None
        e = row.event
        previous = event_seal(
            previous, row.notification_id, e.originator_id, e.version, e.topic, e.state
        )
        assert row.seal == previous


def test_the_in_memory_store_is_sealed_and_verifies() -> None:
    with CreatorLedger.open(Settings(database_url="memory://")) as cl:
        _ledger(cl)
        result = cl.verify()
        assert result.clean
        assert result.events == result.seals == cl.events_recorded() > 0
        head = result.head
        assert cl.verify(head=head).clean
        forged = ChainHead(notification_id=head.notification_id, seal="0" * 64)
        assert [b.kind for b in cl.verify(head=forged).broken_links] == ["head"]


# -- each attack on the chain, detected and named -----------------------------------------------


def test_an_edited_event_is_found_and_named_even_after_a_rebuild(database_url: str) -> None:
    with _reopen(database_url) as cl:
        _ledger(cl)
        n = cl.events_recorded()
    with owner(database_url) as sql:
        sql(
            f"UPDATE {_events(database_url)} SET state = CAST(state || ? AS BLOB)"
            f" WHERE {_nid(database_url)} = ?"
            if database_url.startswith("sqlite")
            else "UPDATE ledger_events SET state = state || ? WHERE notification_id = ?",
            (b" ", 5),
        )
    with _reopen(database_url) as cl:
        cl.rebuild_read_models()
        assert _kinds(cl) == [("edited", 5)]
        assert cl.events_recorded() == n
        report = cl.reconcile_internal()
        assert report.checks["chain"] == 1
        (d,) = [d for d in report.discrepancies if d.check == "chain"]
        assert d.subject == "notification 5"
        assert "edited" in d.message


def test_a_deleted_event_is_found_and_named(database_url: str) -> None:
    with _reopen(database_url) as cl:
        _ledger(cl)
    with owner(database_url) as sql:
        sql(f"DELETE FROM {_events(database_url)} WHERE {_nid(database_url)} = ?", (7,))
    with _reopen(database_url) as cl:
        assert _kinds(cl) == [("deleted", 7)]


def test_two_swapped_events_are_found_and_named_reordered(database_url: str) -> None:
    with _reopen(database_url) as cl:
        _ledger(cl)
    table, nid = _events(database_url), _nid(database_url)
    with owner(database_url) as sql:
        sql(f"UPDATE {table} SET {nid} = ? WHERE {nid} = ?", (1_000_000, 4))
        sql(f"UPDATE {table} SET {nid} = ? WHERE {nid} = ?", (4, 9))
        sql(f"UPDATE {table} SET {nid} = ? WHERE {nid} = ?", (9, 1_000_000))
    with _reopen(database_url) as cl:
        assert _kinds(cl) == [("reordered", 4), ("reordered", 9)]


def test_a_forged_event_inserted_without_a_seal_is_found_and_named(database_url: str) -> None:
    with _reopen(database_url) as cl:
        _ledger(cl)
        n = cl.events_recorded()
    table, nid = _events(database_url), _nid(database_url)
    with owner(database_url) as sql:
        if database_url.startswith("sqlite"):
            sql("DROP TRIGGER ledger_events_sealed")  # the owner writes with sealing off
        sql(
            f"INSERT INTO {table} (originator_id, originator_version, topic, state)"
            f" SELECT originator_id, originator_version + 1000, topic, state FROM {table}"
            f" WHERE {nid} = ?",
            (3,),
        )
    with _reopen(database_url) as cl:
        assert _kinds(cl) == [("inserted", n + 1)]
        assert not cl.verify().clean


def test_a_deleted_seal_is_found_and_named(database_url: str) -> None:
    with _reopen(database_url) as cl:
        _ledger(cl)
    with owner(database_url) as sql:
        if database_url.startswith("sqlite"):
            sql("DROP TRIGGER ledger_event_seals_no_delete")
        sql("DELETE FROM ledger_event_seals WHERE notification_id = ?", (6,))
    with _reopen(database_url) as cl:
        result = cl.verify()
        assert [(b.kind, b.notification_id) for b in result.broken_links] == [("seal_deleted", 6)]
        assert result.seals == result.events - 1


def test_events_deleted_with_their_seals_leave_a_gap(database_url: str) -> None:
    with _reopen(database_url) as cl:
        _ledger(cl)
    table, nid = _events(database_url), _nid(database_url)
    with owner(database_url) as sql:
        if database_url.startswith("sqlite"):
            sql("DROP TRIGGER ledger_event_seals_no_delete")
        sql(f"DELETE FROM {table} WHERE {nid} IN (?, ?)", (5, 6))
        sql("DELETE FROM ledger_event_seals WHERE notification_id IN (?, ?)", (5, 6))
    with _reopen(database_url) as cl:
        assert _kinds(cl) == [("gap", 7)]


def test_a_rewritten_chain_passes_alone_and_is_caught_by_the_exported_head(
    database_url: str,
) -> None:
    with _reopen(database_url) as cl:
        _ledger(cl)
        head = cl.verify().head
    table, nid = _events(database_url), _nid(database_url)
    sqlite = database_url.startswith("sqlite")
    with owner(database_url) as sql:
        # Edit one event, then recompute every seal from it on: a self-consistent chain.
        sql(
            f"UPDATE {table} SET state = CAST(state || ? AS BLOB) WHERE {nid} = ?"
            if sqlite
            else f"UPDATE {table} SET state = state || ? WHERE {nid} = ?",
            (b" ", 5),
        )
        if sqlite:
            sql("DROP TRIGGER ledger_event_seals_no_update")
        rows = sql(
            f"SELECT {nid}, originator_id, originator_version, topic, state FROM {table}"
            f" ORDER BY {nid}"
        )
        previous = GENESIS
        for n, oid, version, topic, state in rows:
            uuid = oid if isinstance(oid, UUID) else UUID(hex=oid)
            previous = event_seal(previous, n, uuid, version, topic, bytes(state))
            sql("UPDATE ledger_event_seals SET seal = ? WHERE notification_id = ?", (previous, n))
    with _reopen(database_url) as cl:
        assert cl.verify().clean  # what a chain alone cannot prove
        caught = cl.verify(head=head)
        assert [(b.kind, b.notification_id) for b in caught.broken_links] == [
            ("head", head.notification_id)
        ]
        assert not caught.clean


def test_events_removed_from_the_end_are_caught_by_the_exported_head(database_url: str) -> None:
    with _reopen(database_url) as cl:
        _ledger(cl)
        head = cl.verify().head
    table, nid = _events(database_url), _nid(database_url)
    with owner(database_url) as sql:
        if database_url.startswith("sqlite"):
            sql("DROP TRIGGER ledger_event_seals_no_delete")
        sql(f"DELETE FROM {table} WHERE {nid} >= ?", (head.notification_id - 1,))
        sql(
            "DELETE FROM ledger_event_seals WHERE notification_id >= ?",
            (head.notification_id - 1,),
        )
    with _reopen(database_url) as cl:
        assert cl.verify().clean
        assert [b.kind for b in cl.verify(head=head).broken_links] == ["head"]


# -- the seals and snapshots are immutable ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_event_seals SET seal = seal",
        "DELETE FROM ledger_event_seals",
        "TRUNCATE ledger_event_seals",
        "UPDATE ledger_snapshots SET state = state",
        "DELETE FROM ledger_snapshots",
        "TRUNCATE ledger_snapshots",
        "UPDATE ledger_snapshot_seals SET seal = seal",
        "DELETE FROM ledger_snapshot_seals",
        "TRUNCATE ledger_snapshot_seals",
    ],
)
def test_postgres_refuses_to_change_seals_or_snapshots(pg_database: str, statement: str) -> None:
    with _reopen(pg_database) as cl:
        _ledger(cl)
        _snapshot_of_a_book(cl)
    with psycopg.connect(pg_database) as conn, pytest.raises(psycopg.Error, match="immutable"):
        conn.execute(statement)


def test_sqlite_refuses_to_change_events_seals_or_snapshots(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    with _reopen(url) as cl:
        _ledger(cl)
        _snapshot_of_a_book(cl)
    conn = sqlite3.connect(tmp_path / "l.sqlite")
    for statement in (
        "UPDATE stored_events SET state = state",
        "DELETE FROM stored_events",
        "UPDATE ledger_event_seals SET seal = seal",
        "DELETE FROM ledger_event_seals",
        "UPDATE stored_snapshots SET state = state",
        "DELETE FROM stored_snapshots",
        "UPDATE ledger_snapshot_seals SET seal = seal",
        "DELETE FROM ledger_snapshot_seals",
    ):
        with pytest.raises(sqlite3.DatabaseError, match="immutable"):
            conn.execute(statement)
    conn.close()


# -- snapshots are never trusted over the events ------------------------------------------------


def _snapshot_of_a_book(cl: CreatorLedger, creator_ref: str = "c0") -> UUID:
    """Snapshot the account book of ``creator_ref`` now (as the interval would)."""
    creator = cl.parts.aggregates.creator(creator_ref)
    book_id = AccountBook.create_id(book_shard(creator.id))
    cl.parts.store.application.take_snapshot(book_id)
    return book_id


def _owed_60_000(cl: CreatorLedger) -> None:
    s.fund(cl)
    s.creators(cl, 1, payout_ready=True)
    (period,) = s.pool_program(cl, pool_minor=60_000)
    s.usage(cl, "pool", period, [("c0", "v1", 1_000)])
    s.close(cl, "pool", period)
    cl.catch_up()


def _tamper_book_snapshot(url: str, book_id: UUID, creator_hex: str, payable: int) -> None:
    """Raise the creator's payable in the book's snapshot, and in the balances read model."""
    snapshots = "stored_snapshots" if url.startswith("sqlite") else "ledger_snapshots"
    key = book_id.hex if url.startswith("sqlite") else book_id
    with owner(url) as sql:
        if url.startswith("sqlite"):
            sql("DROP TRIGGER stored_snapshots_no_update")
        ((state,),) = sql(f"SELECT state FROM {snapshots} WHERE originator_id = ?", (key,))
        data = json.loads(bytes(state))
        accounts = data["state"]["accounts"] if "state" in data else data["accounts"]
        accounts[creator_hex]["USD"][0] = payable
        sql(
            f"UPDATE {snapshots} SET state = ? WHERE originator_id = ?",
            (json.dumps(data, separators=(",", ":")).encode(), key),
        )
        sql(
            "UPDATE balances SET balance_minor = ? WHERE owner = ? AND kind = ?",
            (-payable, creator_hex, CREATOR_PAYABLE),
        )


def test_a_tampered_snapshot_is_ignored_and_the_payout_pays_what_the_events_say(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's attack: the book's snapshot and the balances read model edited to owe a
    creator 4,060,000; the events owe 60,000."""
    with _reopen(database_url) as cl:
        _owed_60_000(cl)
        creator = cl.parts.aggregates.creator("c0")
        book_id = _snapshot_of_a_book(cl)
    _tamper_book_snapshot(database_url, book_id, creator.id.hex, 4_060_000)
    provider = InMemoryProvider()
    with _reopen(database_url) as cl, caplog.at_level(logging.WARNING):
        result = cl.verify()
        assert [(p.kind, p.originator_id) for p in result.bad_snapshots] == [
            ("seal_mismatch", str(book_id))
        ]
        assert result.broken_links == ()  # the events themselves are intact
        book = cl.parts.aggregates.book(creator.id, creator_ref="c0")
        assert book.accounts[creator.id.hex]["USD"][0] == 60_000  # from the events
        assert "snapshot of" in caplog.text
        assert "ignored" in caplog.text
        tricked = s.pay(cl, provider)  # the edited read model plans 4,060,000 ...
        assert tricked.planned == 1
        assert tricked.paid_minor == 0  # ... the book, from its events, refuses it
        assert [k.reason for k in tricked.skipped] == ["balance changed since the run was proposed"]
        assert provider.transfers() == []
        cl.rebuild_read_models()  # the read model from the events: what is owed
        assert not cl.reconcile_internal().discrepancies
        paid = s.pay(cl, provider)
        assert paid.paid_minor == 60_000
    assert [t.amount_minor for t in provider.transfers()] == [60_000]


def test_a_snapshot_resealed_by_its_owner_is_reported_by_verify_as_differing(
    database_url: str,
) -> None:
    """An owner who also recomputes the snapshot's seal gets it loaded; ``verify`` rebuilds the
    aggregate from its events and reports that the snapshot differs."""
    with _reopen(database_url) as cl:
        _owed_60_000(cl)
        creator = cl.parts.aggregates.creator("c0")
        book_id = _snapshot_of_a_book(cl)
        assert cl.verify().clean
    _tamper_book_snapshot(database_url, book_id, creator.id.hex, 4_060_000)
    sqlite = database_url.startswith("sqlite")
    with owner(database_url) as sql:
        key = book_id.hex if sqlite else book_id
        if sqlite:
            sql("DROP TRIGGER ledger_snapshot_seals_no_update")
        ((version, topic, state),) = sql(
            "SELECT originator_version, topic, state FROM "
            + ("stored_snapshots" if sqlite else "ledger_snapshots")
            + " WHERE originator_id = ?",
            (key,),
        )
        seal = snapshot_seal(book_id, version, topic, bytes(state))
        sql("UPDATE ledger_snapshot_seals SET seal = ? WHERE originator_id = ?", (seal, key))
    with _reopen(database_url) as cl:
        result = cl.verify()
        assert [(p.kind, p.originator_id, p.version) for p in result.bad_snapshots] == [
            ("differs", str(book_id), version)
        ]
        assert result.kinds() == {"snapshot_differs": 1}
        assert not cl.verify(snapshots=False).bad_snapshots


def test_a_snapshot_without_a_seal_is_not_loaded(database_url: str) -> None:
    with _reopen(database_url) as cl:
        _owed_60_000(cl)
        creator = cl.parts.aggregates.creator("c0")
        book_id = _snapshot_of_a_book(cl)
    _tamper_book_snapshot(database_url, book_id, creator.id.hex, 4_060_000)
    with owner(database_url) as sql:
        if database_url.startswith("sqlite"):
            sql("DROP TRIGGER ledger_snapshot_seals_no_delete")
        sql("DELETE FROM ledger_snapshot_seals")
    with _reopen(database_url) as cl:
        book = cl.parts.aggregates.book(creator.id, creator_ref="c0")
        assert book.accounts[creator.id.hex]["USD"][0] == 60_000
        assert [p.kind for p in cl.verify().bad_snapshots] == ["unsealed"]


# -- stores made before the seals are sealed when they get them ---------------------------------


def test_a_sqlite_file_made_before_the_seals_is_sealed_when_opened(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    with _reopen(url) as cl:
        _owed_60_000(cl)
        _snapshot_of_a_book(cl)
        sealed = [r.seal for r in cl.parts.store.chain()]
    conn = sqlite3.connect(tmp_path / "l.sqlite")
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        " AND (name LIKE 'ledger_%' OR name LIKE 'stored_snapshots_%')"
    ).fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("DROP TABLE ledger_event_seals")
    conn.execute("DROP TABLE ledger_snapshot_seals")
    conn.commit()
    conn.close()
    with _reopen(url) as cl:
        result = cl.verify()
        assert result.clean
        assert result.seals == result.events == len(sealed)
        assert [r.seal for r in cl.parts.store.chain()] == sealed
        s.creators(cl, 2, prefix="late")  # and sealed from then on
        assert cl.verify().clean


#: The migrations that seal the events: 0007 (the chain, its trigger, the backfill) and 0012 (the
#: trigger again, faster).
SEALING = ("0007_tamper_evidence", "0012_faster_event_seals")


@pytest.mark.postgres
def test_migrate_seals_the_events_of_an_existing_postgres_database(pg_template: str) -> None:
    """A database migrated before 0007, with events and snapshots: ``migrate`` applies 0007,
    whose backfill seals them as the trigger would have, and 0012 (its faster trigger, which
    needs 0007's); verify is clean, also after events sealed by 0012's trigger."""
    source, target = f"{pg_template}_seal_src", f"{pg_template}_seal_dst"
    with pg_admin() as admin:
        for name in (source, target):
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{source}" TEMPLATE "{pg_template}"')
        admin.execute(f'CREATE DATABASE "{target}"')
    try:
        with _reopen(pg_url(source)) as cl:
            _owed_60_000(cl)
            _snapshot_of_a_book(cl)
            sealed = [(r.notification_id, r.seal) for r in cl.parts.store.chain()]
        settings = Settings(database_url=pg_url(target))
        backend = get_backend(migrate_module._yoyo_url(settings))
        with resources.as_file(resources.files("creator_ledger.migrations")) as folder:
            before = MigrationList(
                [m for m in migrate_module._migrations(str(folder)) if m.id not in SEALING]
            )
            with backend.lock():
                backend.apply_migrations(backend.to_apply(before))
        backend.connection.close()
        with psycopg.connect(pg_url(source)) as src, psycopg.connect(pg_url(target)) as dst:
            for table, columns in (
                (
                    "ledger_events",
                    "originator_id, originator_version, topic, state, notification_id",
                ),
                ("ledger_snapshots", "originator_id, originator_version, topic, state"),
            ):
                rows = src.execute(f"SELECT {columns} FROM {table}").fetchall()
                marks = ", ".join(["%s"] * len(columns.split(",")))
                with dst.cursor() as cur:
                    cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            dst.execute(
                "SELECT setval('ledger_events_notification_id_seq', max(notification_id))"
                " FROM ledger_events"
            )
        assert migrate(settings) == sorted(SEALING)
        with _reopen(pg_url(target)) as cl:
            result = cl.verify()
            assert result.clean
            assert result.events == result.seals == len(sealed)
            assert [(r.notification_id, r.seal) for r in cl.parts.store.chain()] == sealed
            s.creators(cl, 2, prefix="late")
            assert cl.verify().clean
    finally:
        with pg_admin() as admin:
            for name in (source, target):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- an event changed so that it no longer decodes --------------------------------------------

#: Ways an owner can change a stored event so it no longer reads back as its event: not JSON,
#: JSON that is not an object, a transcoded value that does not parse, an unknown topic.
UNDECODABLE = {
    "not json": ("state", b"not json{"),
    "not an object": ("state", b"[1, 2]"),
    "bad transcoded value": (
        "state",
        b'{"timestamp":{"_type_":"datetime_iso","_data_":"not a time"},"accounts":[]}',
    ),
    "unknown topic": ("topic", "creator-ledger/AccountBook.NoSuchEvent\x1b[31m"),
}


@pytest.mark.parametrize("change", sorted(UNDECODABLE))
def test_an_event_that_no_longer_decodes_is_a_clear_error_and_verify_names_it(
    database_url: str, change: str
) -> None:
    """Every read that decodes it raises ``UnreadableEventError`` naming the event and pointing
    at ``verify`` (never a library error or a crash), nothing is written, and ``verify`` itself
    still runs: the link is ``edited`` and the snapshot after it ``unchecked``."""
    with _reopen(database_url) as cl:
        _owed_60_000(cl)
        creator = cl.parts.aggregates.creator("c0")
        book_id = _snapshot_of_a_book(cl)
        n = cl.events_recorded()
    sqlite = database_url.startswith("sqlite")
    column, value = UNDECODABLE[change]
    with owner(database_url) as sql:
        # The book's last event: the one its snapshot is at, read by the rebuild (it credits
        # the creator) and replayed by verify's check of the snapshot; and the creator's last
        # event, read by every load of the creator (it has no snapshot).
        changed = {}
        for aggregate_id in (book_id, creator.id):
            ((nid, version),) = sql(
                f"SELECT {_nid(database_url)}, originator_version FROM {_events(database_url)}"
                " WHERE originator_id = ? ORDER BY originator_version DESC LIMIT 1",
                (aggregate_id.hex if sqlite else aggregate_id,),
            )
            sql(
                f"UPDATE {_events(database_url)} SET {column} = ? WHERE {_nid(database_url)} = ?",
                (value, nid),
            )
            changed[aggregate_id] = (nid, version)
    with _reopen(database_url) as cl:
        result = cl.verify()
        assert sorted(_kinds(cl)) == sorted(("edited", nid) for nid, _ in changed.values())
        assert [(p.kind, p.originator_id) for p in result.bad_snapshots] == [
            ("unchecked", str(book_id))
        ]
        reads: list[tuple[set[UUID], Callable[[], object]]] = [
            (set(changed), cl.rebuild_read_models),  # the first of them in the log
            ({creator.id}, lambda: cl.parts.aggregates.creator("c0")),
        ]
        for named, read in reads:
            with pytest.raises(UnreadableEventError) as raised:
                read()
            error = raised.value
            aggregate_id = UUID(error.fields["originator_id"])
            assert aggregate_id in named
            assert error.fields["version"] == changed[aggregate_id][1]
            assert "cannot be read" in error.message
            assert "creator-ledger verify" in error.message
            assert "\x1b" not in error.message  # the stored text is quoted, not echoed raw
        assert cl.events_recorded() == n
