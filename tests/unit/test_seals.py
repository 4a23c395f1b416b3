"""The hash chain's encoding and how a walk names each broken link (pure, no database)."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import replace
from uuid import UUID

import pytest

from creator_ledger import ChainHead, InvalidInputError
from creator_ledger.domain.seals import (
    GENESIS,
    ChainRow,
    SealedEvent,
    check_chain,
    event_seal,
    snapshot_seal,
)

ID = UUID("12345678-1234-5678-1234-567812345678")


def _event(i: int) -> SealedEvent:
    return SealedEvent(ID, i, "creator-ledger/Thing.Happened", f'{{"n":{i}}}'.encode())


def _chain(n: int, *, skip: tuple[int, ...] = ()) -> list[ChainRow]:
    rows, previous, nid = [], GENESIS, 0
    for i in range(1, n + 1):
        nid += 1
        while nid in skip:
            nid += 1
        e = _event(i)
        previous = event_seal(previous, nid, e.originator_id, e.version, e.topic, e.state)
        rows.append(ChainRow(nid, e, previous))
    return rows


def _kinds(rows: list[ChainRow], head: tuple[int, bytes] | None = None) -> list[tuple[str, int]]:
    return [(b.kind, b.notification_id) for b in check_chain(rows, head).breaks]


def test_the_encoding_is_the_documented_one() -> None:
    e = _event(7)
    topic = e.topic.encode()
    data = (
        struct.pack(">q", 3)
        + ID.bytes
        + struct.pack(">q", 7)
        + struct.pack(">q", len(topic))
        + topic
        + struct.pack(">q", len(e.state))
        + e.state
    )
    assert event_seal(None, 3, ID, 7, e.topic, e.state) == hashlib.sha256(GENESIS + data).digest()
    assert event_seal(b"x" * 32, 3, ID, 7, e.topic, e.state) == (
        hashlib.sha256(b"x" * 32 + data).digest()
    )
    snap = ID.bytes + struct.pack(">q", 7) + struct.pack(">q", len(topic)) + topic
    snap += struct.pack(">q", len(e.state)) + e.state
    assert snapshot_seal(ID, 7, e.topic, e.state) == hashlib.sha256(snap).digest()


def test_a_clean_chain_with_skipped_ids_has_no_breaks_and_its_head_is_the_last_seal() -> None:
    rows = _chain(10, skip=(4, 5))
    walk = check_chain(rows)
    assert walk.breaks == []
    assert walk.events == walk.seals == 10
    assert walk.last == (rows[-1].notification_id, rows[-1].seal)
    assert check_chain([], (0, GENESIS)).breaks == []


def test_each_kind_of_change_is_named_once() -> None:
    rows = _chain(12)
    edited = list(rows)
    edited[2] = replace(rows[2], event=replace(_event(3), state=b"changed"))
    assert _kinds(edited) == [("edited", 3)]
    deleted = list(rows)
    deleted[4] = replace(rows[4], event=None)
    assert _kinds(deleted) == [("deleted", 5)]
    swapped = list(rows)
    swapped[1] = replace(rows[1], event=rows[8].event)
    swapped[8] = replace(rows[8], event=rows[1].event)
    assert _kinds(swapped) == [("reordered", 2), ("reordered", 9)]
    unsealed = list(rows)
    unsealed[6] = replace(rows[6], seal=None)
    assert _kinds(unsealed) == [("seal_deleted", 7)]
    spaced = _chain(12, skip=(6,))  # a rolled-back write spent id 6
    forged = [*spaced[:5], ChainRow(6, _event(99), None), *spaced[5:]]
    assert _kinds(forged) == [("inserted", 6)]
    tail = [*rows, ChainRow(13, _event(13), None)]
    assert _kinds(tail) == [("inserted", 13)]
    gap = rows[:3] + rows[5:]
    assert _kinds(gap) == [("gap", 6)]


def test_an_exported_head_catches_a_rewrite_and_a_shortened_chain() -> None:
    rows = _chain(8)
    last = rows[-1].seal
    assert last is not None
    head = (8, last)
    assert _kinds(rows, head) == []
    rewritten = _chain(8)
    rewritten[0] = replace(rewritten[0], event=_event(42))
    previous = GENESIS
    for i, r in enumerate(rewritten):  # every seal recomputed: the chain holds by itself
        assert r.event is not None
        e = r.event
        previous = event_seal(previous, r.notification_id, ID, e.version, e.topic, e.state)
        rewritten[i] = replace(r, seal=previous)
    assert _kinds(rewritten) == []
    assert _kinds(rewritten, head) == [("head", 8)]
    assert _kinds(rows[:6], head) == [("head", 8)]


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"notification_id": 1},
        {"notification_id": -1, "seal": "0" * 64},
        {"notification_id": 1, "seal": "0" * 63},
        {"notification_id": 1, "seal": "G" * 64},
        {"notification_id": 1, "seal": "0" * 64, "extra": 1},
        {"format": "creator-ledger/other/v1", "notification_id": 1, "seal": "0" * 64},
    ],
)
def test_a_head_file_that_is_not_one_is_refused_saying_what_one_holds(data: object) -> None:
    with pytest.raises(InvalidInputError, match="notification_id"):
        ChainHead.parse(data)


def test_a_head_round_trips_through_its_file() -> None:
    head = ChainHead(notification_id=5, seal="ab" * 32)
    assert ChainHead.parse(head.export()) == head
    assert head.export()["format"] == "creator-ledger/chain-head/v1"
