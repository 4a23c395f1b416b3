"""Reference rows measured in the same run: the machine's limit (raw binary ``COPY`` of
journal-shaped rows) and the naive way to do W1 (one event per creator through the library's
``save()`` in batches of 1,000, read models fed one event per transaction)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid5

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.measure import timed
from creator_ledger.domain.allocation import split_pool
from creator_ledger.domain.ids import NAMESPACE

SAVE_BATCH = 1_000


def copy_rate(conninfo: str, rows: int) -> float:
    """Rows per second of a binary ``COPY`` of ``rows`` posting-shaped rows (one commit)."""
    day = date(2026, 1, 2)
    data = [
        (
            10**9 + i,
            0,
            "creator:payable",
            uuid5(NAMESPACE, str(i)).hex,
            "USD",
            -(i % 9_999 + 1),
            day,
            -(i % 9_999 + 1),
            None,
        )
        for i in range(rows)
    ]
    with psycopg.connect(conninfo) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy_postings")
        conn.execute("CREATE TABLE bench_copy_postings (LIKE postings INCLUDING DEFAULTS)")
        conn.commit()
        with timed() as t:
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY bench_copy_postings (entry_id, seq, kind, owner, currency, amount_minor,"
                    " effective_on, balance_after, detail) FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.set_types(
                    ["int8", "int4", "text", "text", "text", "int8", "date", "int8", "text"]
                )
                for row in data:
                    copy.write_row(row)
            conn.commit()
        conn.execute("DROP TABLE bench_copy_postings")
        conn.commit()
    return rows / t.seconds


class NaiveEarning(Aggregate):
    """One aggregate (one event) per creator per period: the naive model of a period close."""

    class Credited(Aggregate.Created):
        creator_id: str
        period: str
        amount_minor: int

    @staticmethod
    def create_id(creator_id: str, period: str) -> UUID:
        return uuid5(NAMESPACE, f"naive/{creator_id}/{period}")

    @event(Credited)
    def __init__(self, creator_id: str, period: str, amount_minor: int) -> None:
        self.creator_id = creator_id
        self.period = period
        self.amount_minor = amount_minor


class NaiveLedger(Application[UUID]):
    name = "NaiveBench"


def naive_close(pg: dict[str, str], conninfo: str, creators: int) -> dict[str, Any]:
    """W1 the naive way for ``creators`` creators; returns rates of its two halves and the whole."""
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": pg["dbname"],
        "POSTGRES_HOST": pg["host"],
        "POSTGRES_PORT": pg["port"],
        "POSTGRES_USER": pg["user"],
        "POSTGRES_PASSWORD": pg["password"],
        "CREATE_TABLE": "y",
    }
    rng = random.Random(1)
    views = {uuid5(NAMESPACE, f"c{i}").hex: rng.randint(1, 100_000) for i in range(creators)}
    with psycopg.connect(conninfo) as conn:
        conn.execute("DROP TABLE IF EXISTS naive_postings, naive_balances, naive_tracking")
        conn.execute(
            "CREATE TABLE naive_postings (entry_id bigint, seq int, owner text, kind text,"
            " currency char(3), amount_minor bigint, effective_on date,"
            " PRIMARY KEY (entry_id, seq))"
        )
        conn.execute(
            "CREATE TABLE naive_balances (owner text, kind text, currency char(3),"
            " balance_minor bigint, PRIMARY KEY (owner, kind, currency))"
        )
        conn.execute("CREATE TABLE naive_tracking (name text PRIMARY KEY, notification_id bigint)")
        conn.execute("INSERT INTO naive_tracking VALUES ('naive', 0)")
        conn.commit()
    app = NaiveLedger(env=env)
    try:
        with timed() as write:
            split = split_pool(10**9, views, salt="naive")
            batch: list[NaiveEarning] = []
            for creator, amount in split.amounts.items():
                batch.append(NaiveEarning(creator_id=creator, period="d1", amount_minor=amount))
                if len(batch) == SAVE_BATCH:
                    app.save(*batch)
                    batch = []
            if batch:
                app.save(*batch)
        with timed() as project, psycopg.connect(conninfo) as conn:
            position = 0
            day = datetime(2026, 1, 2, tzinfo=UTC).date()
            while True:
                notes = app.recorder.select_notifications(start=position + 1, limit=SAVE_BATCH)
                if not notes:
                    break
                for n in notes:
                    e = app.mapper.to_domain_event(n)
                    assert isinstance(e, NaiveEarning.Credited)
                    with conn.transaction():
                        conn.execute(
                            "INSERT INTO naive_postings"
                            " VALUES (%s, 0, %s, 'creator:payable', 'USD', %s, %s)",
                            (n.id, e.creator_id, -e.amount_minor, day),
                        )
                        conn.execute(
                            "INSERT INTO naive_balances VALUES (%s, 'creator:payable', 'USD', %s)"
                            " ON CONFLICT (owner, kind, currency) DO UPDATE"
                            " SET balance_minor"
                            " = naive_balances.balance_minor + excluded.balance_minor",
                            (e.creator_id, -e.amount_minor),
                        )
                        conn.execute(
                            "UPDATE naive_tracking SET notification_id = %s WHERE name = 'naive'",
                            (n.id,),
                        )
                    position = n.id
    finally:
        app.close()
    total = write.seconds + project.seconds
    return {
        "creators": creators,
        "events_per_s_write": creators / write.seconds,
        "events_per_s_project": creators / project.seconds,
        "creators_per_s": creators / total,
        "seconds": total,
    }
