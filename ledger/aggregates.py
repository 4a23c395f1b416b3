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
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
    from creator_ledger.adapters.eventstore import EventStore, PreparedSave

A = TypeVar("A", bound=Aggregate)


class NotInMemory(Exception):  # noqa: N818  # a signal to the command runner, never shown
    """An ``in_memory`` unit of work needs what this process's cache cannot prove: an
    aggregate not in it (perhaps absent, perhaps only elsewhere), an existence check, or an
    aggregate it read without changing it (nothing would prove it current).  Nothing was
    written; the command runs again the checked way."""


class Aggregates:
    """Typed loading (and saving) of aggregates in the event store."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._units = threading.local()  # each thread's unit of work: see unit_of_work

    # -- one unit of work -------------------------------------------------------------------

    @contextmanager
    def unit_of_work(self, *, in_memory: bool = False) -> Iterator[None]:
        """One attempt of a command on this thread: aggregates :meth:`prefetch`-ed inside are
        handed out once each by ``find``/``many``; those never asked for go back to the cache
        when it ends (they are unchanged).  ``in_memory``: from the cache only (see the module
        docstring)."""
        unit = _Unit(in_memory=in_memory)
        outer = getattr(self._units, "unit", None)
        self._units.unit = unit
        try:
            yield
        finally:
            self._units.unit = outer
            self.store.keep(unit.loaded.values())
            # Handed out and left unchanged (no pending events: an aggregate changes only by
            # its events) and never given to save: read only, or the work stopped before
            # saving (a refusal, NotInMemory).  Back to the cache, so the next command finds
            # them warm.  What was given to save is the save's to keep (saved) or drop (not).
            self.store.keep(
                a for i, a in unit.handed.items() if i not in unit.saving and not a.pending_events
            )

    def prefetch(self, ids: Iterable[UUID]) -> None:
        """Load ``ids`` (those not prefetched yet) in one query, for this unit of work (outside
        one it does nothing: each load then goes to the store)."""
        unit: _Unit | None = getattr(self._units, "unit", None)
        if unit is None:
            return
        wanted = [i for i in dict.fromkeys(ids) if i not in unit.loaded and i not in unit.absent]
        if not wanted:
            return
        if unit.in_memory:
            unit.loaded.update(self._from_cache(wanted))
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
        if rest and unit.in_memory:
            try:
                out.update(self._from_cache(rest))
            except NotInMemory:
                unit.loaded.update(out)  # not handed out: back to the cache as the unit ends
                raise
        elif rest:
            out.update(self.store.get_many(rest))
        unit.absent.difference_update(ids)  # asked once: a later ask reads the store again
        unit.handed.update(out)
        return out

    def _from_cache(self, ids: list[UUID]) -> dict[UUID, Aggregate]:
        """``ids``, every one from this process's cache, or :class:`NotInMemory` (those it
        had are then back in the cache, unchanged)."""
        taken = self.store.take_cached(ids)
        if len(taken) < len(ids):
            self.store.keep(taken.values())
            raise NotInMemory
        return taken

    def check_all_written(self, saving: Iterable[Aggregate | None]) -> None:
        """In an ``in_memory`` unit of work, refuse (:class:`NotInMemory`) to save unless every
        aggregate handed out is among ``saving`` with new events: each is then written at its
        next version, which the store's key ``(id, version)`` accepts only if the copy in
        memory was the latest, so the decision was made on current state.  An aggregate only
        read would prove nothing."""
        unit: _Unit | None = getattr(self._units, "unit", None)
        if unit is None or not unit.in_memory:
            return
        changed = {a.id for a in saving if a is not None and a.pending_events}
        if not changed.issuperset(unit.handed):
            raise NotInMemory

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
        unit: _Unit | None = getattr(self._units, "unit", None)
        if unit is not None and unit.in_memory:
            raise NotInMemory  # only the store knows
        return self.store.contains(aggregate_id)

    def save(self, *aggregates: Aggregate | None, meta: Mapping[str, str]) -> None:
        """One transaction, every event stamped with ``meta`` (who issued it: see
        :func:`~creator_ledger.ledger.commands.issued`); raises ``WriteConflictError`` if
        another writer got there first."""
        self._saving(aggregates)
        self.store.save(*aggregates, meta=meta)

    def prepare_save(
        self,
        *aggregates: Aggregate | None,
        meta: Mapping[str, str],
        keep: Sequence[Aggregate] | None = None,
    ) -> PreparedSave:
        """:meth:`save` in two halves (see ``EventStore.prepare_save``): the events collected
        and encoded now, written by the :class:`PreparedSave` returned; only the aggregates of
        ``keep``, when it is given, go in the cache."""
        self._saving(aggregates)
        return self.store.prepare_save(*aggregates, meta=meta, keep=keep)

    def _saving(self, aggregates: Iterable[Aggregate | None]) -> None:
        unit: _Unit | None = getattr(self._units, "unit", None)
        if unit is not None:
            unit.saving.update(a.id for a in aggregates if a is not None)

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
    """What one unit of work prefetched: loaded and not handed out yet, or known absent; what
    it handed out, and gave to save; whether it reads from the cache only."""

    def __init__(self, *, in_memory: bool) -> None:
        self.in_memory = in_memory
        self.loaded: dict[UUID, Aggregate] = {}
        self.absent: set[UUID] = set()
        self.handed: dict[UUID, Aggregate] = {}
        self.saving: set[UUID] = set()
