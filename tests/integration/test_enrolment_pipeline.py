"""A bulk enrolment is written in chunks of ``ENROL_CHUNK`` creators, each in a transaction of
its own, each decided and encoded while the one before is being stored (on PostgreSQL, in the
store's writer thread; on SQLite each is written as it is ready).  These tests shrink the chunk
so that a few dozen creators make many chunks, with books shared by neighbouring chunks, and
make a write conflict, fail or run slowly at each point of that pipeline: every creator ends up
enrolled exactly once, the counts are right, nothing of a chunk thrown away is written, no
write goes on after the command returns, and the chain of seals verifies."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from creator_ledger import CreatorLedger
from creator_ledger.adapters.eventstore import EventStore, PreparedSave
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import DatabaseBusyError
from creator_ledger.domain.ids import BOOK_SHARDS, book_shard
from creator_ledger.ledger import creators as creators_module
from creator_ledger.ledger import enrolment
from tests.conftest import event_count
from tests.scenario import ACTOR

CHUNK = 3


def _refs_in_shards(shards: dict[int, int]) -> list[str]:
    """Creator refs that fall in the given books, so many to each: neighbouring chunks of a
    bulk enrolment (written in book order) then share books."""
    wanted, out, n = dict(shards), [], 0
    while any(wanted.values()):
        ref = f"pipe-{n}"
        shard = book_shard(Creator.create_id(ref))
        if wanted.get(shard, 0) > 0:
            wanted[shard] -= 1
            out.append(ref)
        n += 1
    return out


#: 25 creators in 3 books, then 5 in books of their own: 10 chunks, 6 of them sharing a book.
REFS = _refs_in_shards({11: 10, 12: 8, 13: 7}) + [f"solo-{n}" for n in range(5)]


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(creators_module, "ENROL_CHUNK", CHUNK)


def _enrol(cl: CreatorLedger, refs: list[str], key: str = "bulk") -> Any:
    return cl.enrol_creators(
        creators=[(r, r.upper(), "US") for r in refs], idempotency_key=key, actor=ACTOR
    )


def _assert_each_enrolled_once(cl: CreatorLedger, refs: list[str]) -> None:
    books = cl.parts.aggregates.books(range(BOOK_SHARDS))
    accounts = [c for b in books.values() for c in b.accounts]
    assert sorted(accounts) == sorted(Creator.create_id(r).hex for r in refs)
    for ref in refs:
        creator = cl.parts.aggregates.creator(ref)
        assert (creator.creator_ref, creator.version) == (ref, 1)
    assert cl.reconcile_internal().clean
    assert cl.verify().clean


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of events of each write the store makes, in order (wrapping its one
    writing method, which the writer thread runs too)."""
    sizes: list[int] = []
    put = EventStore._put

    def counted(self: EventStore, events: list[Any], params: Any) -> None:
        put(self, events, params)
        sizes.append(len(events))

    monkeypatch.setattr(EventStore, "_put", counted)
    return sizes


def test_many_chunks_sharing_books_enrol_each_creator_once(
    cl: CreatorLedger, writes: list[int]
) -> None:
    before = event_count(cl)
    done = _enrol(cl, REFS)
    assert (done.enrolled, done.already_enrolled) == (len(REFS), 0)
    chunks = -(-len(REFS) // CHUNK)
    assert len(writes) == chunks  # one transaction per chunk
    # Each creator's event; per chunk one AccountsOpened per book it touches (plus the
    # AccountBookOpened of a new book); the command record.
    assert event_count(cl) == before + sum(writes)
    _assert_each_enrolled_once(cl, REFS)
    # A book shared by chunks got one event per chunk, in order: its versions have no gap.
    book = cl.parts.aggregates.books([11])[11]
    assert book.version == len(cl.parts.store.events(book.id))
    # The same again: all counted as enrolled already, nothing written.
    written = event_count(cl)
    assert _enrol(cl, REFS, key="again").already_enrolled == len(REFS)
    assert event_count(cl) == written + 1  # only the new key's record


@pytest.mark.parametrize("racing_chunk", [1, 4, 9])
def test_a_chunk_that_loses_a_race_resumes_there_and_counts_the_winner(
    open_ledger: Callable[[], CreatorLedger],
    monkeypatch: pytest.MonkeyPatch,
    writes: list[int],
    racing_chunk: int,
) -> None:
    cl, other = open_ledger(), open_ledger()
    order = sorted(REFS, key=lambda r: book_shard(Creator.create_id(r)))
    # Just before the racing chunk is written, another process enrols one of its creators:
    # the chunk's book moved on, so its write conflicts (while the next chunk is being
    # prepared, on PostgreSQL).
    rival = order[racing_chunk * CHUNK]
    start = PreparedSave.start
    started: list[int] = []

    def racing_start(prepared: Any) -> None:
        if prepared._store is other.parts.store:  # the rival's own write
            start(prepared)
            return
        if len(started) == racing_chunk:
            _enrol(other, [rival], key="rival")
        started.append(1)
        start(prepared)

    monkeypatch.setattr(PreparedSave, "start", racing_start)
    done = _enrol(cl, REFS)
    assert (done.enrolled, done.already_enrolled) == (len(REFS) - 1, 1)
    # The racing chunk was decided twice; the chunk prepared behind it was thrown away and
    # prepared again, never written twice.
    assert len(started) == -(-len(REFS) // CHUNK) + 1
    _assert_each_enrolled_once(cl, REFS)
    assert _enrol(cl, REFS).enrolled == len(REFS) - 1  # replayed: the first result


def test_a_failure_while_a_write_is_in_flight_waits_for_it_and_a_rerun_finishes(
    cl: CreatorLedger, monkeypatch: pytest.MonkeyPatch, writes: list[int]
) -> None:
    order = sorted(REFS, key=lambda r: book_shard(Creator.create_id(r)))
    bad = order[2 * CHUNK]  # in the third chunk: decided while the second is written
    put = EventStore._put

    def slow_put(self: EventStore, events: list[Any], params: Any) -> None:
        time.sleep(0.2)
        put(self, events, params)

    monkeypatch.setattr(EventStore, "_put", slow_put)
    imported = enrolment.import_creator

    def failing(r: Any, creator_id: Any, at: Any) -> Creator:
        if r.creator_ref == bad:
            raise RuntimeError("the process dies here")
        return imported(r, creator_id, at)

    monkeypatch.setattr(enrolment, "import_creator", failing)
    before = event_count(cl)
    with pytest.raises(RuntimeError, match="dies"):
        _enrol(cl, REFS)
    # The first two chunks are stored, the second one before the error came out; nothing is
    # being written any more.
    assert len(writes) == 2
    after = event_count(cl)
    assert after == before + sum(writes)
    time.sleep(0.3)
    assert event_count(cl) == after
    monkeypatch.setattr(enrolment, "import_creator", imported)
    done = _enrol(cl, REFS)  # the same key: finishes the job
    assert (done.enrolled, done.already_enrolled) == (len(REFS) - 2 * CHUNK, 2 * CHUNK)
    _assert_each_enrolled_once(cl, REFS)


def test_a_busy_store_in_the_middle_stops_the_job_and_a_rerun_finishes_it(
    cl: CreatorLedger, monkeypatch: pytest.MonkeyPatch, writes: list[int]
) -> None:
    put = EventStore._put
    calls: list[int] = []

    def busy_once(self: EventStore, events: list[Any], params: Any) -> None:
        calls.append(1)
        if len(calls) == 4:
            raise DatabaseBusyError("the event store is busy", bound="lock_timeout")
        put(self, events, params)

    monkeypatch.setattr(EventStore, "_put", busy_once)
    before = event_count(cl)
    with pytest.raises(DatabaseBusyError):
        _enrol(cl, REFS)
    assert len(writes) == 3  # the three chunks before the busy one, and no other
    assert event_count(cl) == before + sum(writes)
    done = _enrol(cl, REFS)
    assert (done.enrolled, done.already_enrolled) == (len(REFS) - 3 * CHUNK, 3 * CHUNK)
    _assert_each_enrolled_once(cl, REFS)


def test_the_writer_thread_serves_bulk_writes_only_and_ends_with_the_ledger(
    open_ledger: Callable[[], CreatorLedger],
) -> None:
    def writers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("ledger-writer")]

    assert writers() == []
    cl = open_ledger()
    cl.enrol_creator(
        creator_ref="one", display_name="One", country="US", idempotency_key="one", actor=ACTOR
    )
    assert writers() == []  # a single command writes in its own thread
    _enrol(cl, REFS)
    if cl.parts.store.kind == "postgres":
        assert len(writers()) == 1
    cl.close()
    assert writers() == []
