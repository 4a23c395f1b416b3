"""The projector's reader: stored rows read as plain tuples and decoded by the event store's
own decoder (orjson, top-level values transcoded) give the very events the library's
``select_notifications`` and mapper give, on SQLite and PostgreSQL; states it cannot take the
fast way (transcoded values nested deeper, integers beyond 64 bits) go the library's way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import JSONTranscoder, StoredEvent

from creator_ledger import CreatorLedger, UnreadableEventError
from creator_ledger.adapters import eventstore
from creator_ledger.adapters.event_codec import LedgerTranscoder
from creator_ledger.adapters.eventstore import EventStore
from tests.integration.test_projection import build_history


def _library(store: EventStore, start: int, limit: int) -> list[tuple[int, Any]]:
    app = store.application
    return [
        (n.id, app.mapper.to_domain_event(n))
        for n in app.recorder.select_notifications(start=start, limit=limit)
    ]


def _same(ours: list[tuple[int, Any]], theirs: list[tuple[int, Any]]) -> None:
    assert [n for n, _ in ours] == [n for n, _ in theirs]
    for (_, a), (_, b) in zip(ours, theirs, strict=True):
        assert type(a) is type(b)
        assert vars(a) == vars(b)
        assert [type(v) for v in vars(a).values()] == [type(v) for v in vars(b).values()]


def test_the_fast_reader_gives_the_librarys_events(cl: CreatorLedger) -> None:
    build_history(cl)
    store = cl.parts.store
    total = store.max_notification_id()
    assert total > 100
    _same(store.notifications(1, total + 10), _library(store, 1, total + 10))
    _same(store.notifications(37, 50), _library(store, 37, 50))  # a page from the middle
    rows = list(store.stored_rows(1))  # no limit: every event
    assert [r[0] for r in rows] == list(range(1, total + 1))
    _same(store.decode_rows(rows), _library(store, 1, total))
    assert store.notifications(total + 1, 10) == []


def test_states_the_fast_decoder_cannot_take_go_the_librarys_way(cl: CreatorLedger) -> None:
    build_history(cl)
    store = cl.parts.store
    mapper = store.application.mapper
    _, first = store.notifications(1, 1)[0]
    topic = type(first).TOPIC
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    fields = dict(vars(first))
    originator_id, version = fields.pop("originator_id"), fields.pop("originator_version")
    odd_states = [
        {**fields, "nested": {"at": stamp, "days": [stamp.date()]}},  # transcoded deeper
        {**fields, "huge": 2**80},  # beyond orjson's 64-bit integers
        {**fields, "plain": {"_type_": "not a transcoding", "x": 1}},  # three keys: a dict
    ]
    decoded = []
    for extra in odd_states:
        state = mapper.transcoder.encode(extra)
        stored = StoredEvent(
            originator_id=originator_id,
            originator_version=version,
            topic=topic,
            state=state,
        )
        ours = store.decode_rows([(1, topic, state, originator_id, version)])[0][1]
        theirs = mapper.to_domain_event(stored)
        assert vars(ours) == vars(theirs)
        decoded.append(vars(ours))
    assert decoded[0]["nested"] == {"at": stamp, "days": [stamp.date()]}
    assert decoded[1]["huge"] == 2**80
    assert decoded[2]["plain"] == {"_type_": "not a transcoding", "x": 1}


def test_every_snapshot_decodes_fast_to_the_librarys_snapshot(
    cl: CreatorLedger, monkeypatch: Any
) -> None:
    """Snapshots keep transcoded values one level down (the aggregate's timestamps in
    ``state``): they are found there, never by the library's hook on every dict, and the
    snapshot is the library's, value for value and type for type."""
    build_history(cl)
    store = cl.parts.store
    app = store.application
    for aggregate_id in {e.originator_id for _, e in store.notifications(1, 10_000)}:
        app.take_snapshot(aggregate_id)
    assert app.snapshots is not None
    snapshots = [
        s
        for aggregate_id in {e.originator_id for _, e in store.notifications(1, 10_000)}
        for s in app.snapshots.recorder.select_events(aggregate_id)  # as stored
    ]
    assert len(snapshots) > 10
    mapper = app.mapper
    theirs = [mapper.to_domain_event(s) for s in snapshots]
    slow: list[str] = []
    library_way = mapper.to_domain_event
    monkeypatch.setattr(mapper, "to_domain_event", lambda s: slow.append(s.topic) or library_way(s))
    ours = store.decode_rows(
        [(1, s.topic, s.state, s.originator_id, s.originator_version) for s in snapshots]
    )
    assert slow == []  # none took the library's way
    _same(ours, [(1, t) for t in theirs])


def test_a_nested_state_the_walk_cannot_finish_goes_the_librarys_way(cl: CreatorLedger) -> None:
    """A transcoded value inside another one's data (the library decodes the inner first) or
    more nested containers than the walk looks in: the library's way, the same result."""
    build_history(cl)
    store = cl.parts.store
    mapper = store.application.mapper
    _, first = store.notifications(1, 1)[0]
    topic = type(first).TOPIC
    fields = dict(vars(first))
    originator_id, version = fields.pop("originator_id"), fields.pop("originator_version")
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    deep: Any = {"at": stamp}
    for _ in range(eventstore._NESTED_LIMIT + 5):
        deep = [deep]
    wide = {f"k{i}": {"x": [i]} for i in range(eventstore._NESTED_LIMIT + 5)} | {"at": stamp}
    for extra in ({"deep": deep}, {"wide": {"inner": wide}}):
        state = mapper.transcoder.encode({**fields, **extra})
        ours = store.decode_rows([(1, topic, state, originator_id, version)])[0][1]
        theirs = mapper.to_domain_event(
            StoredEvent(
                originator_id=originator_id, originator_version=version, topic=topic, state=state
            )
        )
        assert vars(ours) == vars(theirs)


def test_the_reader_pages_through_the_log(cl: CreatorLedger, monkeypatch: Any) -> None:
    build_history(cl)
    store = cl.parts.store
    total = store.max_notification_id()
    monkeypatch.setattr(eventstore, "READ_CHUNK", 7)  # many pages, the last one short
    assert [r[0] for r in store.stored_rows(1)] == list(range(1, total + 1))
    assert [r[0] for r in store.stored_rows(5, 20)] == list(range(5, 25))
    assert [r[0] for r in store.stored_rows(total - 2, 100)] == [total - 2, total - 1, total]
    _same(store.notifications(3, 30), _library(store, 3, 30))


def test_every_stored_state_is_what_the_librarys_encoder_writes(cl: CreatorLedger) -> None:
    """The ledger's transcoder (orjson, :mod:`~creator_ledger.adapters.event_codec`) wrote
    every event of a history: each stored state is byte for byte what the library's own
    ``JSONTranscoder`` writes for the event it decodes to."""
    build_history(cl)
    store = cl.parts.store
    transcoder = store.application.mapper.transcoder
    assert type(transcoder) is LedgerTranscoder
    library = JSONTranscoder()
    for transcoding in transcoder.types.values():
        library.register(transcoding)
    total = store.max_notification_id()
    notifications = store.stored_notifications(1, total)
    assert len(notifications) == total > 100
    for n in notifications:
        state = library.decode(n.state)
        assert library.encode(state) == n.state, n.topic
        assert transcoder.encode(state) == n.state, n.topic


def test_a_state_that_is_no_json_object_fails_as_an_unreadable_event_from_the_librarys_error(
    cl: CreatorLedger,
) -> None:
    """A damaged state (not JSON, or JSON but not an object) is decoded the library's way by
    the reader and by loads; what fails is raised as :class:`UnreadableEventError` naming the
    event, with the library's error as its cause (never the library's error alone)."""
    build_history(cl)
    store = cl.parts.store
    mapper = store.application.mapper
    _, first = store.notifications(1, 1)[0]
    topic, originator_id = type(first).TOPIC, first.originator_id
    for state in (b"not json", b"[1, 2]", b'"text"', b"\xff\xfe"):
        stored = StoredEvent(
            originator_id=originator_id, originator_version=1, topic=topic, state=state
        )
        with pytest.raises(Exception) as theirs:  # noqa: PT011 - whatever the library raises
            mapper.to_domain_event(stored)
        with pytest.raises(UnreadableEventError) as ours:
            store.decode_rows([(1, topic, state, originator_id, 1)])
        assert isinstance(ours.value.__cause__, theirs.type)
        assert ours.value.fields == {
            "originator_id": str(originator_id),
            "version": 1,
            "topic": topic,
        }
