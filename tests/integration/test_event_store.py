"""The event store adapter: its two fast paths agree with the library's own, on every store
(the library's in-memory POPO store, SQLite and PostgreSQL), for every aggregate type, cold,
cached and behind; on PostgreSQL a command's reads are one query; snapshots are only a
shortcut; stored topics are stable names, not module paths."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import pytest
from eventsourcing.domain import Aggregate, Snapshot

from creator_ledger import CreatorLedger
from creator_ledger.adapters.eventstore import EventStore, WriteConflictError
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.catalog import AGGREGATES, SNAPSHOT_INTERVALS
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import IdempotencyConflictError
from creator_ledger.domain.fund import CreatorFund
from creator_ledger.domain.idempotency import CommandRecord
from creator_ledger.domain.ids import NAMESPACE
from creator_ledger.domain.reimbursement import ReimbursementClaim
from creator_ledger.ledger.settings import Settings
from tests.scenario import ACTOR, DAY, at, close, creators, fund, pay, rate_program, usage

AT = datetime(2026, 1, 1, tzinfo=UTC)
CREATORS = [uuid5(NAMESPACE, f"c{i}").hex for i in range(5)]


@pytest.fixture(params=["popo", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "popo":
        return Settings(database_url="memory://").eventsourcing_env()
    if request.param == "sqlite":
        return Settings(database_url=f"sqlite:///{tmp_path / 'e.sqlite'}").eventsourcing_env()
    url: str = request.getfixturevalue("pg_database")
    return Settings(database_url=url).eventsourcing_env()


def open_store(env: dict[str, str], **extra: str) -> EventStore:
    return EventStore(
        {**env, **extra}, aggregates=AGGREGATES, snapshot_intervals=SNAPSHOT_INTERVALS
    )


@pytest.fixture
def store(env: dict[str, str]) -> Iterator[EventStore]:
    s = open_store(env)
    yield s
    s.close()


def busy_book(shard: int, events: int) -> AccountBook:
    """A book with ``events`` events (crossing its snapshot interval)."""
    book = AccountBook(shard=shard, effective_at=AT)
    book.open_accounts(CREATORS, effective_at=AT)
    for n in range(events - 2):
        book.credit_reimbursement(
            claim_id=uuid5(NAMESPACE, f"claim{n}"),
            claim_key=f"claim{n}",
            item_id="i",
            creator_id=CREATORS[n % len(CREATORS)],
            currency="USD",
            amount_minor=n + 1,
            effective_at=AT + timedelta(minutes=n),
        )
    return book


def state(aggregate: Aggregate) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def test_the_fast_save_stores_what_the_librarys_save_stores(store: EventStore) -> None:
    # Alike aggregates (same history, other ids): one through the fast save, one through the
    # library's Application.save.
    book_a, book_b = busy_book(1, 120), busy_book(2, 120)
    store.save(book_a)
    store.application.save(book_b)
    rows = store.stored_notifications(1, 1_000)
    a_rows = [(r.originator_version, r.topic) for r in rows if r.originator_id == book_a.id]
    b_rows = [(r.originator_version, r.topic) for r in rows if r.originator_id == book_b.id]
    assert a_rows == b_rows
    assert len(a_rows) == 120
    # Both snapshot when a save crosses the interval (50): the library at each crossed version
    # (reloading the aggregate there), the fast path once, from the aggregate in memory.  Each
    # snapshot is the aggregate's true state at its version.
    snaps = store.application.snapshots
    assert snaps is not None
    assert [s.originator_version for s in snaps.get(book_b.id)] == [50, 100]
    assert [s.originator_version for s in snaps.get(book_a.id)] == [120]
    for snap in [*snaps.get(book_a.id), *snaps.get(book_b.id)]:
        replayed = store.application.repository.get(
            snap.originator_id, version=snap.originator_version
        )
        assert state(snap.mutate(None)) == state(replayed)


def test_saved_one_event_at_a_time_both_snapshot_at_the_same_versions(store: EventStore) -> None:
    for shard, save in ((1, store.save), (2, store.application.save)):
        book = AccountBook(shard=shard, effective_at=AT)
        book.open_accounts(CREATORS, effective_at=AT)
        save(book)
        for n in range(110):
            book.credit_reimbursement(
                claim_id=uuid5(NAMESPACE, f"claim{n}"),
                claim_key=f"claim{n}",
                item_id="i",
                creator_id=CREATORS[n % len(CREATORS)],
                currency="USD",
                amount_minor=n + 1,
                effective_at=AT,
            )
            save(book)
    snaps = store.application.snapshots
    assert snaps is not None
    ours = list(snaps.get(AccountBook.create_id(1)))
    theirs = list(snaps.get(AccountBook.create_id(2)))
    assert [s.originator_version for s in ours] == [s.originator_version for s in theirs]
    assert [s.originator_version for s in ours] == [50, 100]
    assert [s.state["accounts"] for s in ours] == [s.state["accounts"] for s in theirs]


def test_get_many_agrees_with_the_librarys_repository(store: EventStore) -> None:
    books = [busy_book(s, events) for s, events in ((1, 3), (2, 51), (3, 120))]
    fund = CreatorFund.open(
        fund_key="f", name="F", currency="USD", budget_minor=10**6, effective_at=AT
    )
    store.save(*books, fund)
    ids = [b.id for b in books] + [fund.id, uuid5(NAMESPACE, "nobody")]
    store.forget(ids)  # loaded from the store, not this process's cache
    loaded = store.get_many(ids)
    assert set(loaded) == set(ids[:-1])  # what does not exist is left out
    for aggregate_id in ids[:-1]:
        assert state(loaded[aggregate_id]) == state(store.application.repository.get(aggregate_id))
    store.save(*loaded.values())  # nothing new: back in the cache as they are
    # Another writer (here: the library's own path) adds an event; the cached book catches up.
    other = store.application.repository.get(books[2].id)
    other.credit_reimbursement(
        claim_id=uuid5(NAMESPACE, "late"),
        claim_key="late",
        item_id="i",
        creator_id=CREATORS[0],
        currency="USD",
        amount_minor=7,
        effective_at=AT,
    )
    store.application.save(other)
    again = store.get_many(ids)
    assert again[books[2].id].version == 121
    assert state(again[books[2].id]) == state(store.application.repository.get(books[2].id))


def test_a_failed_save_leaves_nothing_changed_in_the_cache(store: EventStore) -> None:
    store.save(busy_book(1, 3))
    one = store.get(AccountBook.create_id(1))
    two = store.get(AccountBook.create_id(1))
    assert isinstance(one, AccountBook)
    assert isinstance(two, AccountBook)
    for book, amount in ((one, 5), (two, 9)):
        book.credit_reimbursement(
            claim_id=uuid5(NAMESPACE, f"x{amount}"),
            claim_key="x",
            item_id="i",
            creator_id=CREATORS[1],
            currency="USD",
            amount_minor=amount,
            effective_at=AT,
        )
    store.save(one)
    with pytest.raises(WriteConflictError):
        store.save(two)
    reloaded = store.get(AccountBook.create_id(1))
    assert isinstance(reloaded, AccountBook)
    assert reloaded.balance(CREATORS[1], "USD")[1] == 0
    assert reloaded.balance(CREATORS[1], "USD")[0] == 5  # the first write, not the second


def test_an_object_kept_after_its_save_and_changed_in_a_lost_race_is_not_loaded_again(
    store: EventStore,
) -> None:
    # A caller keeps the object it saved (so it is also in the cache), changes it again, and
    # loses the race for the next version to another writer: the next load is the store's
    # state, not the kept object with the change that was never stored.
    held = busy_book(5, 3)
    store.save(held)
    twin = copy.deepcopy(held)
    for book, amount in ((twin, 5), (held, 9)):
        book.credit_reimbursement(
            claim_id=uuid5(NAMESPACE, f"race{amount}"),
            claim_key="race",
            item_id="i",
            creator_id=CREATORS[1],
            currency="USD",
            amount_minor=amount,
            effective_at=AT,
        )
    store.application.events.put(twin.collect_events())  # the other writer, past the cache
    with pytest.raises(WriteConflictError):
        store.save(held)
    reloaded = store.get(AccountBook.create_id(5))
    assert isinstance(reloaded, AccountBook)
    assert reloaded.version == twin.version
    assert reloaded.balance(CREATORS[1], "USD") == twin.balance(CREATORS[1], "USD")


def test_a_snapshot_that_claims_a_version_never_reached_is_not_trusted(store: EventStore) -> None:
    book = busy_book(4, 10)
    store.save(book)
    # A forged snapshot ahead of the events (version 99 of a 10-event book), claiming a balance.
    forged = Snapshot.take(book)
    forged = dataclasses.replace(copy.deepcopy(forged), originator_version=99)
    forged.state["accounts"][CREATORS[0]]["USD"][0] = 10**12
    snaps = store.application.snapshots
    assert snaps is not None
    snaps.put([forged])
    store.forget([book.id])
    loaded = store.get(book.id)
    assert isinstance(loaded, AccountBook)
    assert loaded.version == 10
    assert loaded.balance(CREATORS[0], "USD") == book.balance(CREATORS[0], "USD")


def test_stored_topics_are_stable_names_not_module_paths(store: EventStore) -> None:
    creator = Creator.enrol(
        creator_ref="alice", display_name="Alice", country="US", effective_at=AT
    )
    store.save(creator, busy_book(1, 4))
    topics = {n.topic for n in store.stored_notifications(1, 100)}
    assert topics == {
        "creator-ledger/Creator.Enrolled",
        "creator-ledger/AccountBook.Opened",
        "creator-ledger/AccountBook.AccountsOpened",
        "creator-ledger/AccountBook.ReimbursementCredited",
    }


def test_every_aggregate_and_event_class_declares_a_unique_stable_topic() -> None:
    seen: dict[str, type] = {}
    for aggregate in AGGREGATES:
        classes = [aggregate] + [
            v for v in vars(aggregate).values() if isinstance(v, type) and hasattr(v, "TOPIC")
        ]
        for cls in classes:
            topic = cls.TOPIC  # type: ignore[attr-defined]
            assert topic.startswith("creator-ledger/")
            assert "creator_ledger." not in topic
            assert ":" not in topic
            assert seen.setdefault(topic, cls) is cls, topic
    assert len(seen) > 60


def test_a_class_that_moves_to_another_module_still_reads_its_stored_events(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = busy_book(5, 4)
    store.save(book)
    # A move changes the module a class lives in; its stored topic does not name the module.
    for cls in (AccountBook, AccountBook.Opened, AccountBook.ReimbursementCredited):
        monkeypatch.setattr(cls, "__module__", "creator_ledger.domain.somewhere_else")
    store.forget([book.id])
    loaded = store.get(book.id)
    assert isinstance(loaded, AccountBook)
    assert state(loaded) == state(book)


def test_ids_are_uuids(store: EventStore) -> None:
    store.save(busy_book(6, 3))
    assert all(isinstance(n.originator_id, UUID) for n in store.stored_notifications(1, 10))


# -- the one-query load: every aggregate type, cold, cached and behind, and per command -------


def every_kind_of_aggregate(cl: CreatorLedger) -> None:
    """A small ledger with at least one aggregate of every type in the catalog."""
    fund(cl)
    refs = creators(cl, 3, payout_ready=True)
    period = rate_program(cl)
    usage(cl, "rate", period, [(r, "v", 10_000 * (i + 1)) for i, r in enumerate(refs)])
    close(cl, "rate", period)
    cl.agree_exclusivity(
        agreement_key="x",
        creator_ref=refs[0],
        fund_key="fund",
        total_minor=50_000,
        starts_on=DAY,
        ends_on=date(2026, 6, 30),
        schedule="upfront",
        effective_at=at(),
        idempotency_key="x",
        actor=ACTOR,
    )
    cl.sign_contract(
        creator_ref=refs[1],
        contract_id="nda",
        kind="nda",
        signed_on=DAY,
        reimbursement_currency="USD",
        reimbursement_budget_minor=10_000,
        effective_at=at(),
        idempotency_key="nda",
        actor=ACTOR,
    )
    cl.submit_claim(
        claim_key="claim",
        creator_ref=refs[1],
        currency="USD",
        items=[("i0", "camera", 1_000, "r0"), ("i1", "lights", 2_000, "r1")],
        effective_at=at(),
        idempotency_key="claim",
        actor=ACTOR,
    )
    cl.approve_claim_item(claim_key="claim", item_id="i0", idempotency_key="a0", actor=ACTOR)
    pay(cl, InMemoryProvider())


def all_ids(store: EventStore) -> list[UUID]:
    return list(dict.fromkeys(n.originator_id for n in store.stored_notifications(1, 100_000)))


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'l.sqlite'}"
    url: str = request.getfixturevalue("pg_database")
    return url


def count_pg_queries(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL of every read the event store sends (PostgreSQL)."""
    sent: list[str] = []
    query = store._pg_query

    def counted(sql: str, params: Any) -> list[Any]:
        sent.append(sql)
        return query(sql, params)

    monkeypatch.setattr(store, "_pg_query", counted)
    return sent


def test_the_one_query_load_agrees_with_the_librarys_repository_for_every_aggregate_type(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with CreatorLedger.open(Settings(database_url=ledger_url)) as cl:
        every_kind_of_aggregate(cl)
        store = cl.parts.store
        ids = all_ids(store)
        library = store.application.repository
        expected = {i: state(library.get(i)) for i in ids}
        assert {type(library.get(i)) for i in ids} == set(AGGREGATES)
        sent = count_pg_queries(store, monkeypatch)
        # Cold: nothing cached, everything (snapshots included) read together.
        store.forget(ids)
        cold = store.get_many([*ids, uuid5(NAMESPACE, "nobody")])
        assert {i: state(a) for i, a in cold.items()} == expected
        # Cached and behind: half of them kept in memory, then another writer (the library's
        # own save) adds events to some of those and to some that are not cached.
        store.keep(a for i, a in cold.items() if ids.index(i) % 2)
        books = [library.get(i) for i in ids if isinstance(cold[i], AccountBook)]
        for book in books:
            book.credit_reimbursement(
                claim_id=uuid5(NAMESPACE, "late"),
                claim_key="late",
                item_id=f"i{book.shard}",
                creator_id=next(iter(book.accounts)),
                currency="USD",
                amount_minor=7,
                effective_at=AT,
            )
        store.application.save(*books)
        assert len(books) >= 2
        sent.clear()
        mixed = store.get_many(ids)
        assert {i: state(a) for i, a in mixed.items()} == {i: state(library.get(i)) for i in ids}
        assert any(mixed[b.id].version == b.version for b in books)
        if store.kind == "postgres":
            assert len(sent) == 1  # snapshots, events and the fast-forward: one query


def test_a_warm_command_reads_nothing_and_its_replay_reads_once(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with CreatorLedger.open(Settings(database_url=ledger_url)) as cl:
        every_kind_of_aggregate(cl)
        store = cl.parts.store
        sent = count_pg_queries(store, monkeypatch)
        reads: list[Any] = []
        get_many = store.get_many
        monkeypatch.setattr(store, "get_many", lambda ids: reads.append(list(ids)) or get_many(ids))
        claim_id = ReimbursementClaim.create_id("claim")
        cl.approve_claim_item(claim_key="claim", item_id="i1", idempotency_key="a1", actor=ACTOR)
        # The claim, its creator and the book are in memory from the first approval: this one
        # is decided on them with no read at all, the write being the check (see
        # CommandRunner: tests/integration/test_in_memory_commands.py).
        assert reads == []
        assert sent == []
        claim = store.get(claim_id)
        assert isinstance(claim, ReimbursementClaim)
        assert claim.items["i1"][3] == "approved"
        store.keep([claim])  # get handed it over: back in the cache, as it was
        # A replay is refused in memory (the item is approved), gives the unchanged aggregates
        # back, and is decided the checked way: one read loads the idempotency record with
        # the three warm aggregates (all four ids together); it writes nothing, and returns the
        # first result; unused aggregates went back to the cache.
        before = cl.events_recorded()
        reads.clear()
        again = cl.approve_claim_item(
            claim_key="claim", item_id="i1", idempotency_key="a1", actor=ACTOR
        )
        assert again.approved_minor == 2_000
        assert cl.events_recorded() == before
        assert len(reads) == 1
        assert len(reads[0]) == 4
        assert cl.parts.aggregates.peek(ReimbursementClaim, claim_id) is not None
        with pytest.raises(IdempotencyConflictError):
            cl.approve_claim_item(
                claim_key="claim", item_id="i0", idempotency_key="a1", actor=ACTOR
            )
    if ledger_url == "memory://":
        return
    # A replay in a process that has nothing in memory reads the record and the claim only
    # (the book, up to a snapshot interval of events, is not needed to answer a replay).
    with CreatorLedger.open(Settings(database_url=ledger_url)) as fresh:
        store = fresh.parts.store
        reads.clear()
        get_many = store.get_many
        monkeypatch.setattr(store, "get_many", lambda ids: reads.append(list(ids)) or get_many(ids))
        again = fresh.approve_claim_item(
            claim_key="claim", item_id="i1", idempotency_key="a1", actor=ACTOR
        )
        assert again.approved_minor == 2_000
        assert reads == [[CommandRecord.create_id("a1"), claim_id]]


def test_aggregates_prefetched_in_a_unit_of_work_are_handed_out_once() -> None:
    with CreatorLedger.open(Settings(database_url="memory://")) as cl:
        fund(cl)
        aggregates = cl.parts.aggregates
        fund_id = CreatorFund.create_id("fund")
        nobody = uuid5(NAMESPACE, "nobody")
        with aggregates.unit_of_work():
            aggregates.prefetch([fund_id, nobody])
            first = aggregates.find(CreatorFund, fund_id)
            second = aggregates.find(CreatorFund, fund_id)  # asked again: a fresh load
            assert first is not None
            assert second is not None
            assert first is not second
            assert aggregates.find(CreatorFund, nobody) is None
        with aggregates.unit_of_work():
            aggregates.prefetch([fund_id])
        # Prefetched, never handed out: back in the cache, unchanged.
        assert aggregates.peek(CreatorFund, fund_id) is not None
