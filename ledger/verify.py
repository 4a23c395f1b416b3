"""``verify``: check the hash chain over the stored events, and the snapshots.

The chain (:mod:`creator_ledger.domain.seals`) is read back from the event store, every link
is checked against the seal stored before it, and every broken link is listed with its kind
(``edited``, ``deleted``, ``reordered``, ``inserted``, ``seal_deleted``, ``gap``; ``head``
when an exported chain head no longer matches).  Each stored snapshot is checked against its
seal and against its aggregate rebuilt from the events up to its version.

What it proves: nothing stored was changed, removed, moved or added behind the ledger's back
since it was sealed, unless whoever did it also recomputed every seal after it: only an
exported head (:meth:`Verification.head`, kept outside the database) catches that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from creator_ledger.domain.errors import InvalidInputError
from creator_ledger.domain.seals import GENESIS, ChainBreak, check_chain

if TYPE_CHECKING:
    from creator_ledger.adapters.eventstore import EventStore

#: The ``format`` of an exported chain head file.
HEAD_FORMAT = "creator-ledger/chain-head/v1"


class ChainHead(BaseModel):
    """A notification id and the chain's seal there (hex): what ``verify --export-head``
    writes, and ``verify --head`` checks the chain still has."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    notification_id: Annotated[int, Field(ge=0, le=2**63 - 1)]
    seal: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

    @classmethod
    def parse(cls, data: Any) -> ChainHead:
        """A head from an exported file's JSON; anything else is an :class:`InvalidInputError`
        saying what a head file holds."""
        if isinstance(data, dict):
            fmt = data.get("format", HEAD_FORMAT)
            data = {k: v for k, v in data.items() if k != "format"} if fmt == HEAD_FORMAT else None
        try:
            return cls.model_validate(data)
        except ValidationError:
            msg = (
                "not a chain head: expected JSON with notification_id (an integer >= 0) and"
                " seal (64 lowercase hex digits), as `creator-ledger verify --export-head`"
                " writes"
            )
            raise InvalidInputError(msg) from None

    def export(self) -> dict[str, Any]:
        return {"format": HEAD_FORMAT, **self.model_dump()}


class BrokenLink(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: str
    notification_id: int
    originator_id: str | None
    originator_version: int | None
    message: str


class BadSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: str  # unsealed | seal_mismatch | differs | unchecked
    originator_id: str
    version: int
    message: str


class Verification(BaseModel):
    """What ``verify`` found: clean when no link is broken and no snapshot is bad."""

    model_config = ConfigDict(frozen=True)
    events: int
    seals: int
    head: ChainHead  # the chain's last sealed event (notification id 0: none yet)
    checked_head: ChainHead | None  # the exported head checked against, if any
    broken_links: tuple[BrokenLink, ...]
    snapshots_checked: bool
    bad_snapshots: tuple[BadSnapshot, ...]

    @property
    def clean(self) -> bool:
        return not self.broken_links and not self.bad_snapshots

    def kinds(self) -> dict[str, int]:
        """How many problems of each kind."""
        out: dict[str, int] = {}
        for kind in [b.kind for b in self.broken_links] + [
            f"snapshot_{s.kind}" for s in self.bad_snapshots
        ]:
            out[kind] = out.get(kind, 0) + 1
        return out


def _link(b: ChainBreak) -> BrokenLink:
    return BrokenLink(
        kind=b.kind,
        notification_id=b.notification_id,
        originator_id=str(b.originator_id) if b.originator_id else None,
        originator_version=b.originator_version,
        message=b.message,
    )


class Verifier:
    """Checks the chain and the snapshots of one event store."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def verify(self, head: ChainHead | None = None, *, snapshots: bool = True) -> Verification:
        """Check every link of the chain (and, with ``head``, that the chain still has that
        seal at that notification id) and, with ``snapshots``, every stored snapshot."""
        expected = None if head is None else (head.notification_id, bytes.fromhex(head.seal))
        walk = check_chain(self.store.chain(), expected)
        last = walk.last or (0, GENESIS)
        bad = (
            [
                BadSnapshot(
                    kind=p.kind,
                    originator_id=str(p.originator_id),
                    version=p.version,
                    message=p.message,
                )
                for p in self.store.check_snapshots()
            ]
            if snapshots
            else []
        )
        return Verification(
            events=walk.events,
            seals=walk.seals,
            head=ChainHead(notification_id=last[0], seal=last[1].hex()),
            checked_head=head,
            broken_links=tuple(_link(b) for b in walk.breaks),
            snapshots_checked=snapshots,
            bad_snapshots=tuple(bad),
        )
