"""Tamper evidence: the hash chain over the stored events, and the seal of a snapshot.

Pure functions (no I/O): the event store writes the seals (a PostgreSQL trigger, an SQLite
trigger calling :func:`event_seal`, or in memory), and ``verify`` walks them with
:func:`check_chain`.

**The encoding** (the README's "Tamper evidence" section; PostgreSQL's trigger in
``migrations/0007_tamper_evidence.sql`` builds the same bytes): a stored event is sealed as::

    seal(n) = SHA-256( seal(previous event) || int8(notification id)
                       || originator id (16 bytes) || int8(originator version)
                       || int8(len(topic)) || topic (UTF-8) || int8(len(state)) || state )

``int8`` is a signed 64-bit big-endian integer (PostgreSQL's ``int8send``), ``state`` the
event's stored bytes as they are in the table.  The first event follows :data:`GENESIS`
(32 zero bytes).  "Previous" is the previous event in notification id order (ids may skip
numbers: a rolled-back insert spends its sequence values, and has no seals either).

A snapshot's seal is ``SHA-256(originator id (16 bytes) || int8(version) || int8(len(topic))
|| topic || int8(len(state)) || state)``: no chain, snapshots are only a shortcut.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

__all__ = [
    "GENESIS",
    "ChainBreak",
    "ChainRow",
    "ChainWalk",
    "SealedEvent",
    "check_chain",
    "event_seal",
    "snapshot_seal",
]

#: The seal before the first event.
GENESIS = bytes(32)

#: Mismatched links paired to find swapped events (beyond this, each is reported as edited).
MAX_REORDER_PAIRING = 2_000

BreakKind = Literal["edited", "deleted", "reordered", "inserted", "seal_deleted", "gap", "head"]

_INT8 = struct.Struct(">q")


def _sealed_bytes(originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """A snapshot's stored bytes, and an event's after its notification id (the module
    docstring's encoding; ``ledger_sealed_bytes`` in migration 0007 is its twin in SQL)."""
    topic_bytes = topic.encode("utf-8")
    return b"".join(
        (
            originator_id.bytes,
            _INT8.pack(version),
            _INT8.pack(len(topic_bytes)),
            topic_bytes,
            _INT8.pack(len(state)),
            state,
        )
    )


def _event_bytes(
    notification_id: int, originator_id: UUID, version: int, topic: str, state: bytes
) -> bytes:
    return _INT8.pack(notification_id) + _sealed_bytes(originator_id, version, topic, state)


def event_seal(
    previous: bytes | None,
    notification_id: int,
    originator_id: UUID,
    version: int,
    topic: str,
    state: bytes,
) -> bytes:
    """The seal of one stored event after ``previous`` (None: the first, after GENESIS)."""
    data = _event_bytes(notification_id, originator_id, version, topic, state)
    return hashlib.sha256((previous or GENESIS) + data).digest()


def snapshot_seal(originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """The seal of one stored snapshot (see the module docstring)."""
    return hashlib.sha256(_sealed_bytes(originator_id, version, topic, state)).digest()


@dataclass(frozen=True)
class SealedEvent:
    """A stored event's sealed fields (without its notification id)."""

    originator_id: UUID
    version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class ChainRow:
    """One notification id: the event stored there (None: none) and its seal (None: none)."""

    notification_id: int
    event: SealedEvent | None
    seal: bytes | None


@dataclass(frozen=True)
class ChainBreak:
    """A broken link of the chain, at one notification id."""

    kind: BreakKind
    notification_id: int
    originator_id: UUID | None
    originator_version: int | None
    message: str


def _seal_of(previous: bytes, notification_id: int, e: SealedEvent) -> bytes:
    return event_seal(previous, notification_id, e.originator_id, e.version, e.topic, e.state)


@dataclass
class _Mismatch:
    row: ChainRow
    previous: bytes
    after_gap: bool


def check_chain(rows: Iterable[ChainRow], head: tuple[int, bytes] | None = None) -> ChainWalk:
    """Walk ``rows`` (in notification id order) and collect every broken link; with ``head``
    (a notification id and the seal exported for it), also check the chain still has it."""
    walk = ChainWalk(head)
    for row in rows:
        walk.add(row)
    walk.finish()
    return walk


class ChainWalk:
    """The state of a walk along the chain (see :func:`check_chain`).

    Each link is checked against the stored seal before it, so one edit breaks one link, not
    every link after it.  How each break is named:

    * ``edited``: the event and its seal are there, but the seal does not cover the event's
      bytes (the event, or its seal, was changed);
    * ``reordered``: the event's bytes are sealed at another notification id (events swapped);
    * ``deleted``: a seal without its event;
    * ``inserted``: an event without a seal that the next seal does not follow from (written
      with the sealing trigger off), or an unsealed event at the end of the chain;
    * ``seal_deleted``: an event without a seal, that the next seal does follow from;
    * ``gap``: a link that does not hold right after notification ids were skipped (events
      deleted together with their seals, or the event edited);
    * ``head``: the chain no longer has the exported head's seal at its notification id.
    """

    def __init__(self, head: tuple[int, bytes] | None = None) -> None:
        self.breaks: list[ChainBreak] = []
        self.events = 0
        self.seals = 0
        self.last: tuple[int, bytes] | None = None  # the last sealed event: the chain's head
        self._head = head
        self._head_seen = head is not None and head[0] == 0 and head[1] == GENESIS
        self._previous = GENESIS
        self._previous_id = 0
        self._unsealed: list[ChainRow] = []
        self._mismatches: list[_Mismatch] = []

    def _break(self, kind: BreakKind, row: ChainRow, message: str) -> None:
        e = row.event
        self.breaks.append(
            ChainBreak(
                kind=kind,
                notification_id=row.notification_id,
                originator_id=e.originator_id if e else None,
                originator_version=e.version if e else None,
                message=message,
            )
        )

    def add(self, row: ChainRow) -> None:
        self.events += row.event is not None
        self.seals += row.seal is not None
        if self._head is not None and row.notification_id == self._head[0]:
            self._head_seen = True
            if row.seal != self._head[1]:
                found = row.seal.hex() if row.seal else "no seal"
                self._break(
                    "head",
                    row,
                    f"the exported head has seal {self._head[1].hex()} here, the chain has"
                    f" {found}: the chain was rewritten",
                )
        if row.event is None:
            assert row.seal is not None
            self._settle_unsealed(None)
            self._break("deleted", row, "a seal without its event: the event was deleted")
            self._advance(row, row.seal)
            return
        if row.seal is None:
            self._unsealed.append(row)
            return
        self._settle_unsealed(row)
        after_gap = row.notification_id != self._previous_id + 1 and self._previous_id > 0
        if _seal_of(self._previous, row.notification_id, row.event) != row.seal:
            self._mismatches.append(_Mismatch(row, self._previous, after_gap))
        self.last = (row.notification_id, row.seal)
        self._advance(row, row.seal)

    def _advance(self, row: ChainRow, seal: bytes) -> None:
        self._previous = seal
        self._previous_id = row.notification_id

    def _settle_unsealed(self, following: ChainRow | None) -> None:
        """Name the unsealed events before ``following`` (a sealed event, or None)."""
        if not self._unsealed:
            return
        run, self._unsealed = self._unsealed, []
        if following is not None and following.event is not None:
            assert following.seal is not None
            chained = self._previous
            for r in run:
                assert r.event is not None
                chained = _seal_of(chained, r.notification_id, r.event)
            fits_without = (
                _seal_of(self._previous, following.notification_id, following.event)
                == following.seal
            )
            if not fits_without and (
                _seal_of(chained, following.notification_id, following.event) == following.seal
            ):
                for r in run:
                    self._break(
                        "seal_deleted",
                        r,
                        "the event is there but its seal was deleted (the next seal follows"
                        " from it)",
                    )
                self._previous = chained
                self._previous_id = run[-1].notification_id
                return
        for r in run:
            self._break(
                "inserted",
                r,
                "an event without a seal: inserted with the sealing trigger off"
                + ("" if following is not None else " (or, at the end, its seal deleted)"),
            )

    def finish(self) -> None:
        self._settle_unsealed(None)
        self._name_mismatches()
        if self._head is not None and not self._head_seen:
            last = self.last[0] if self.last else 0
            self.breaks.append(
                ChainBreak(
                    kind="head",
                    notification_id=self._head[0],
                    originator_id=None,
                    originator_version=None,
                    message=(
                        f"the exported head is at notification id {self._head[0]}, which the"
                        f" chain no longer has (it ends at {last}): events were removed or"
                        " renumbered"
                    ),
                )
            )
        self.breaks.sort(key=lambda b: (b.notification_id, b.kind))

    def _name_mismatches(self) -> None:
        found = self._mismatches
        pairable = len(found) <= MAX_REORDER_PAIRING
        for m in found:
            event = m.row.event
            assert event is not None
            elsewhere = pairable and next(
                (
                    o.row.notification_id
                    for o in found
                    if o is not m
                    and _seal_of(o.previous, o.row.notification_id, event) == o.row.seal
                ),
                None,
            )
            if elsewhere:
                self._break(
                    "reordered",
                    m.row,
                    f"the event sealed at notification id {elsewhere} is stored here: events"
                    " were moved",
                )
            elif m.after_gap:
                self._break(
                    "gap",
                    m.row,
                    "the link does not hold after skipped notification ids: events deleted"
                    " together with their seals before it, or this event edited",
                )
            else:
                self._break(
                    "edited",
                    m.row,
                    "the seal does not cover the event's stored bytes: the event (or its seal)"
                    " was changed",
                )
