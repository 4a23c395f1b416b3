"""W2 limit: one reimbursement-item approval as one stored-procedure call.

``bench_limit.approve_claim_item`` does, in one round trip and one durable commit, what an
approval does in the event store:

1. checks the idempotency key: the command record's event (``CommandRecord.create_id(key)``,
   version 1) — a replay returns the first command's record and writes nothing;
2. with ``p_lock``, takes the library's ``LOCK TABLE ... IN EXCLUSIVE MODE`` (commit order =
   notification order); both variants ``NOTIFY`` as the library does on every write;
3. reads the current version of the claim, the creator and the creator's account book (one
   index probe each) and inserts the same four events — ``ReimbursementClaim.ItemApproved``,
   ``Creator.ReimbursementBudgetUsed``, ``AccountBook.ReimbursementCredited`` and the
   ``CommandRecord.Recorded`` — at the next versions, so the primary key
   ``(originator_id, originator_version)`` is the optimistic-concurrency check: a client that
   loses a race gets a unique violation and calls again, as the ledger retries.

The events go into ``bench_limit.w2_events``, a copy of ``ledger_events`` (same columns and
indexes) filled with the ledger's own events first.  Payloads are JSON-encoded in the client
with the same fields as the ledger's events.  The domain decisions (item pending, budget left,
account open) are not re-derived: this is the event store's floor for the command.

The row comes in three variants (:data:`VARIANTS`), measured in the same rounds:

* ``sealed``, the target's limit: with the table lock, and every event sealed into a hash chain
  as the ledger seals its own (a copy of the ledger's sealing trigger and function, naming the
  copies: :func:`bench.scratch.seal_like_the_ledger`).  The seals came to the ledger after this
  limit was first written (migration 0007): a limit that skips them does less work than the
  ledger;
* ``lock``: with the table lock, unsealed (the limit as first written);
* ``nolock``: neither.

Clients are driven exactly as W2 drives the ledger (:func:`bench.workloads.clients_run`: the
same processes, warm-up, barrier and op count, on the same claims).
"""

from __future__ import annotations

import faulthandler
import hashlib
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg import sql

from bench import scratch, workloads
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.idempotency import CommandRecord
from creator_ledger.domain.ids import book_shard
from creator_ledger.domain.reimbursement import ReimbursementClaim

EVENTS = "w2_events"
MAX_ATTEMPTS = 8  # as the ledger's command retry
RETRY_BACKOFF_S = 0.005

FUNCTION = """
CREATE OR REPLACE FUNCTION bench_limit.approve_claim_item(
    p_lock boolean, p_command uuid, p_claim uuid, p_creator uuid, p_book uuid,
    p_states bytea[]
) RETURNS bytea
LANGUAGE plpgsql AS $body$
DECLARE
    v_record bytea;
    v_claim bigint;
    v_creator bigint;
    v_book bigint;
BEGIN
    SELECT state INTO v_record FROM bench_limit.w2_events
        WHERE originator_id = p_command AND originator_version = 1;
    IF FOUND THEN
        RETURN v_record;
    END IF;
    IF p_lock THEN
        PERFORM set_config('lock_timeout', '10s', true);
        LOCK TABLE bench_limit.w2_events IN EXCLUSIVE MODE;
    END IF;
    NOTIFY bench_limit_w2_events;
    SELECT COALESCE(MAX(originator_version), 0) INTO v_claim
        FROM bench_limit.w2_events WHERE originator_id = p_claim;
    SELECT COALESCE(MAX(originator_version), 0) INTO v_creator
        FROM bench_limit.w2_events WHERE originator_id = p_creator;
    SELECT COALESCE(MAX(originator_version), 0) INTO v_book
        FROM bench_limit.w2_events WHERE originator_id = p_book;
    INSERT INTO bench_limit.w2_events (originator_id, originator_version, topic, state) VALUES
        (p_claim, v_claim + 1,
         'creator-ledger/ReimbursementClaim.ItemApproved', p_states[1]),
        (p_creator, v_creator + 1,
         'creator-ledger/Creator.ReimbursementBudgetUsed', p_states[2]),
        (p_book, v_book + 1,
         'creator-ledger/AccountBook.ReimbursementCredited', p_states[3]),
        (p_command, 1, 'creator-ledger/CommandRecord.Recorded', p_states[4]);
    RETURN NULL;
END
$body$
"""

#: Variant -> (the table lock, the seals); see the module docstring.
VARIANTS: dict[str, tuple[bool, bool]] = {
    "sealed": (True, True),
    "lock": (True, False),
    "nolock": (False, False),
}

#: ``(command id, claim id, creator id, book id, key, claim key, item id, creator hex, amount)``
Item = tuple[UUID, UUID, UUID, UUID, str, str, str, str, int]


def prepare(conninfo: str) -> None:
    """``bench_limit.w2_events`` as a copy of the ledger's events, and the function (not timed)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        scratch.create_schema(conn)
        scratch.copy_events(conn, EVENTS)
        conn.execute(sql.SQL("ANALYZE {}").format(scratch.qualified(EVENTS)))
        scratch.seal_like_the_ledger(conn, EVENTS)
        conn.execute(FUNCTION)


def cleanup(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(scratch.qualified(EVENTS)))
        scratch.drop_sealing(conn, EVENTS)
        conn.execute("DROP FUNCTION IF EXISTS bench_limit.approve_claim_item")


def items_for(claim_items: list[tuple[str, str]], variant: str) -> list[Item]:
    """The limit's commands for W2's ``(claim_key, item_id)`` items, under keys of their own."""
    out: list[Item] = []
    for claim, item in claim_items:
        creator_ref, amount = workloads.w2_item(claim, item)
        creator = Creator.create_id(creator_ref)
        key = f"limit-{variant}/approve/{claim}/{item}"
        out.append(
            (
                CommandRecord.create_id(key),
                ReimbursementClaim.create_id(claim),
                creator,
                AccountBook.create_id(book_shard(creator)),
                key,
                claim,
                item,
                creator.hex,
                amount,
            )
        )
    return out


def _states(item: Item) -> list[bytes]:
    """The four events' JSON, with the ledger's fields."""
    _, claim_id, _, _, key, claim, item_id, creator_hex, amount = item
    now = datetime.now(UTC)
    result = {
        "claim_key": claim,
        "item_id": item_id,
        "status": "approved",
        "approved_minor": amount,
        "reason": "",
    }
    args = {"claim_key": claim, "item_id": item_id, "amount_minor": None, "note": ""}
    fingerprint = (
        "v2:"
        + hashlib.sha256(
            orjson.dumps(["approve_claim_item", args], option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
    )
    return [
        scratch.event_state(
            {
                "timestamp": now,
                "item_id": item_id,
                "amount_minor": amount,
                "note": "",
                "effective_at": now,
            }
        ),
        scratch.event_state(
            {
                "timestamp": now,
                "claim_id": claim_id,
                "item_id": item_id,
                "currency": "USD",
                "amount_minor": amount,
                "effective_at": now,
            }
        ),
        scratch.event_state(
            {
                "timestamp": now,
                "claim_id": claim_id,
                "claim_key": claim,
                "item_id": item_id,
                "creator_id": creator_hex,
                "currency": "USD",
                "amount_minor": amount,
                "to_held": False,
                "effective_at": now,
            }
        ),
        scratch.event_state(
            {
                "timestamp": now,
                "originator_topic": CommandRecord.TOPIC,
                "key": key,
                "command": "approve_claim_item",
                "fingerprint": fingerprint,
                "result": result,
                "effective_at": now,
            }
        ),
    ]


def _call(cur: psycopg.Cursor[Any], lock: bool, item: Item, counts: dict[str, int]) -> None:
    for attempt in range(MAX_ATTEMPTS):
        try:
            cur.execute(
                "SELECT bench_limit.approve_claim_item(%s, %s, %s, %s, %s, %s)",
                (lock, item[0], item[1], item[2], item[3], _states(item)),
                prepare=True,
            )
            first = cur.fetchone()
        except psycopg.errors.UniqueViolation:
            counts["retries"] += 1
            time.sleep(RETRY_BACKOFF_S * (attempt + 1))
            continue
        if first is not None and first[0] is not None:
            counts["replays"] += 1
        return
    msg = f"limit approval {item[4]} lost {MAX_ATTEMPTS} races"
    raise RuntimeError(msg)


def worker(
    conninfo: str, lock: bool, items: list[Item], barrier: Any, out: Any, timeout_s: float
) -> None:
    faulthandler.dump_traceback_later(workloads.child_timeout_s(timeout_s), exit=True)
    counts = {"retries": 0, "replays": 0}
    latencies = []
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
        for item in items[: workloads.WARMUP_OPS]:
            _call(cur, lock, item, counts)
        barrier.wait()
        start = time.perf_counter()
        for item in items[workloads.WARMUP_OPS :]:
            t0 = time.perf_counter()
            _call(cur, lock, item, counts)
            latencies.append(time.perf_counter() - t0)
        out.put((latencies, time.perf_counter() - start, counts))


def run(
    conninfo: str,
    claim_items: list[tuple[str, str]],
    clients: int,
    ops_per_client: int,
    *,
    variant: str,
    timeout_s: float,
) -> workloads.ClientsRun:
    """One round of the limit row ``variant`` (:data:`VARIANTS`) for ``clients`` clients
    (:func:`bench.workloads.summary` makes the row of its rounds); ``extra["seals"]`` says how
    many seals the round wrote, checked against the events it wrote."""
    lock, seal = VARIANTS[variant]
    items = items_for(claim_items, variant)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        scratch.set_sealing(conn, EVENTS, on=seal)
        before = scratch.seals_written(conn, EVENTS)
        try:
            done = workloads.clients_run(
                worker, items, clients, ops_per_client, (conninfo, lock), timeout_s=timeout_s
            )
        finally:
            scratch.set_sealing(conn, EVENTS, on=False)
        sealed = scratch.seals_written(conn, EVENTS) - before
    # Every call that was not a replay wrote four events; sealed, each got its seal.
    expected = 4 * (len(items) - done.extra.get("replays", 0)) if seal else 0
    assert sealed == expected, f"limit {variant}: {sealed} seals written, expected {expected}"
    return done._replace(extra={**done.extra, "seals": sealed})
