"""Loading the ledger's aggregates by their keys, with the ledger's own errors.

Every use case loads through :class:`Aggregates` (one load path: the event store's
``get_many``), so "unknown fund 'x'" is said the same way everywhere.

Inside a :meth:`Aggregates.unit_of_work` (one attempt of a command), :meth:`Aggregates.prefetch`
loads everything a command is known to need in one query (its idempotency record with it: see
:class:`~creator_ledger.ledger.commands.CommandRunner`); ``find``/``many`` then hand each
prefetched aggregate out once, without another query, and what was prefetched but never asked
for goes back to the event store's cache unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import NotFoundError
from creator_ledger.domain.exclusivity import ExclusivityAgreement
from creator_ledger.domain.fund import CreatorFund
from creator_ledger.domain.ids import BOOK_SHARDS, book_shard
from creator_ledger.domain.payout import Payout
from creator_ledger.domain.payout_run import PayoutRun
from creator_ledger.domain.period import ProgramPeriod
from creator_ledger.domain.program import ViewProgram
from creator_ledger.domain.reimbursement import ReimbursementClaim
from creator_ledger.domain.supply import MoneySupply

if TYPE_CHECKING:
    from creator_ledger.adapters.eventstore import EventStore

A = TypeVar("A", bound=Aggregate)


class Aggregates:
    """Typed loading (and saving) of aggregates in the event store."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._units = threading.local()  # each thread's unit of work: see unit_of_work

    # -- one unit of work -------------------------------------------------------------------

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """One attempt of a command on this thread: aggregates :meth:`prefetch`-ed inside are
        handed out once each by ``find``/``many``; those never asked for go back to the cache
        when it ends (they are unchanged)."""
        unit = _Unit()
        outer = getattr(self._units, "unit", None)
        self._units.unit = unit
        try:
            yield
        finally:
            self._units.unit = outer
            self.store.keep(unit.loaded.values())

    def prefetch(self, ids: Iterable[UUID]) -> None:
        """Load ``ids`` (those not prefetched yet) in one query, for this unit of work (outside
        one it does nothing: each load then goes to the store)."""
        unit: _Unit | None = getattr(self._units, "unit", None)
        if unit is None:
            return
        wanted = [i for i in dict.fromkeys(ids) if i not in unit.loaded and i not in unit.absent]
        if not wanted:
            return
        loaded = self.store.get_many(wanted)
        unit.loaded.update(loaded)
        unit.absent.update(i for i in wanted if i not in loaded)

    def peek(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """An aggregate this process has in memory, only to read what never changes once it
        exists (the ids it was created with), to know what else to :meth:`prefetch`."""
        aggregate = self.store.peek(aggregate_id)
        return aggregate if isinstance(aggregate, cls) else None

    def _get_many(self, ids: list[UUID]) -> dict[UUID, Aggregate]:
        unit: _Unit | None = getattr(self._units, "unit", None)
        if unit is None:
            return self.store.get_many(ids)
        out = {i: unit.loaded.pop(i) for i in ids if i in unit.loaded}
        rest = [i for i in ids if i not in out and i not in unit.absent]
        if rest:
            out.update(self.store.get_many(rest))
        unit.absent.difference_update(ids)  # asked once: a later ask reads the store again
        return out

    # -- generic ------------------------------------------------------------------------

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        aggregate = self._get_many([aggregate_id]).get(aggregate_id)
        if aggregate is None:
            return None
        assert isinstance(aggregate, cls), (type(aggregate), cls)
        return aggregate

    def get(self, cls: type[A], aggregate_id: UUID, *, what: str, key: str) -> A:
        aggregate = self.find(cls, aggregate_id)
        if aggregate is None:
            raise NotFoundError(f"unknown {what} {key!r}", **{what.replace(" ", "_"): key})
        return aggregate

    def many(self, cls: type[A], ids: Iterable[UUID]) -> list[A]:
        """The existing aggregates among ``ids`` (loaded together), in the order of ``ids``."""
        wanted = list(ids)
        loaded = self._get_many(wanted)
        out = [loaded[i] for i in wanted if i in loaded]
        assert all(isinstance(a, cls) for a in out)
        return out  # type: ignore[return-value]  # checked just above

    def exists(self, aggregate_id: UUID) -> bool:
        return self.store.contains(aggregate_id)

    def save(self, *aggregates: Aggregate | None, meta: Mapping[str, str]) -> None:
        """One transaction, every event stamped with ``meta`` (who issued it: see
        :func:`~creator_ledger.ledger.commands.issued`); raises ``WriteConflictError`` if
        another writer got there first."""
        self.store.save(*aggregates, meta=meta)

    # -- by key ---------------------------------------------------------------------------

    def fund(self, fund_key: str) -> CreatorFund:
        return self.get(CreatorFund, CreatorFund.create_id(fund_key), what="fund", key=fund_key)

    def fund_by_id(self, fund_id: UUID) -> CreatorFund:
        return self.get(CreatorFund, fund_id, what="fund", key=str(fund_id))

    def creator(self, creator_ref: str) -> Creator:
        return self.get(Creator, Creator.create_id(creator_ref), what="creator", key=creator_ref)

    def creator_by_id(self, creator_id: UUID) -> Creator:
        return self.get(Creator, creator_id, what="creator", key=creator_id.hex)

    def program(self, program_key: str) -> ViewProgram:
        return self.get(
            ViewProgram, ViewProgram.create_id(program_key), what="program", key=program_key
        )

    def period(self, program: ViewProgram, period_key: str) -> ProgramPeriod:
        program.period_status(period_key)  # NotFoundError names the program and the period
        return self.get(
            ProgramPeriod,
            ProgramPeriod.create_id(program.id, period_key),
            what="period",
            key=f"{program.program_key}/{period_key}",
        )

    def agreement(self, agreement_key: str) -> ExclusivityAgreement:
        return self.get(
            ExclusivityAgreement,
            ExclusivityAgreement.create_id(agreement_key),
            what="agreement",
            key=agreement_key,
        )

    def claim_ids(self, claim_key: str) -> list[UUID]:
        """What a decision on an item of this claim loads, to read with its idempotency
        record: the claim (a few events) and, when this process has the claim in memory, its
        creator and the creator's book if they are in memory too.  A book not in memory is up
        to a snapshot interval of events: a replay, which needs none of them, must not pay for
        it, so the work loads it after the idempotency check."""
        claim_id = ReimbursementClaim.create_id(claim_key)
        known = self.peek(ReimbursementClaim, claim_id)
        if known is None:
            return [claim_id]
        warm = [i for i in self.creator_ids(known.creator_id) if self.store.peek(i) is not None]
        return [claim_id, *warm]

    def creator_ids(self, creator_id: UUID) -> list[UUID]:
        """A creator and the creator's account book (to :meth:`prefetch` them together)."""
        return [creator_id, AccountBook.create_id(book_shard(creator_id))]

    def claim(self, claim_key: str) -> ReimbursementClaim:
        return self.get(
            ReimbursementClaim, ReimbursementClaim.create_id(claim_key), what="claim", key=claim_key
        )

    def payout(self, payout_id: str | UUID | None) -> Payout | None:
        """The payout with this id, or None (also for text that is not a payout id)."""
        if isinstance(payout_id, UUID):
            ident = payout_id
        else:
            try:
                ident = UUID(payout_id or "")
            except ValueError:
                return None
        aggregate = self._get_many([ident]).get(ident)
        return aggregate if isinstance(aggregate, Payout) else None

    def supply(self, currency: str, *, effective_at: datetime) -> MoneySupply:
        """The money supply of ``currency`` (see :mod:`~creator_ledger.domain.supply`), opened
        now if nothing has added to it yet."""
        found = self.find(MoneySupply, MoneySupply.create_id(currency))
        return found or MoneySupply.open(currency, effective_at=effective_at)

    def run(self, run_id: str) -> PayoutRun | None:
        return self.find(PayoutRun, PayoutRun.create_id(run_id))

    # -- account books ----------------------------------------------------------------------

    def books(self, shards: Iterable[int]) -> dict[int, AccountBook]:
        """The existing books among ``shards``, loaded together."""
        wanted = sorted(set(shards))
        assert all(0 <= s < BOOK_SHARDS for s in wanted)
        return {b.shard: b for b in self.many(AccountBook, map(AccountBook.create_id, wanted))}

    def book(self, creator_id: UUID, *, creator_ref: str) -> AccountBook:
        """The account book of an enrolled creator."""
        book = self.books([book_shard(creator_id)]).get(book_shard(creator_id))
        if book is None or not book.has_account(creator_id.hex):
            raise NotFoundError(f"unknown creator {creator_ref!r}", creator_ref=creator_ref)
        return book

    def book_or_new(self, shard: int, *, effective_at: datetime) -> AccountBook:
        """The book of ``shard``, opened now if it does not exist yet."""
        return self.books([shard]).get(shard) or AccountBook(shard=shard, effective_at=effective_at)


class _Unit:
    """What one unit of work prefetched: loaded and not handed out yet, or known absent."""

    def __init__(self) -> None:
        self.loaded: dict[UUID, Aggregate] = {}
        self.absent: set[UUID] = set()
