"""A bulk enrolment's writing: its creators in chunks, each chunk in a transaction of its own,
in book order, each decided and encoded while the one before is being stored.

On PostgreSQL a chunk's write runs in the event store's writer thread
(:meth:`~creator_ledger.adapters.eventstore.PreparedSave.start`), which mostly waits on the
server without the GIL, while this thread prepares the next chunk: the server's share of a bulk
enrolment (~1/3 of it: the insert, its indexes and the seals) no longer adds to the Python's.
On SQLite and in memory each chunk is written as soon as it is ready, by the same code.

What stays as it was without the pipeline: every chunk is one transaction, written in order,
the last one with the command's idempotency record; a chunk is counted only once stored; a
failed chunk's successor is thrown away unwritten; a command never returns (or raises) while a
write it started is still in flight.  ``tests/integration/test_enrolment_pipeline.py`` makes a
chunk conflict, fail or run slow at each point of the pipeline.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.ids import book_shard
from creator_ledger.ledger.results import EnrolledCreators

if TYPE_CHECKING:
    from creator_ledger.adapters.eventstore import PreparedSave
    from creator_ledger.ledger.aggregates import Aggregates
    from creator_ledger.ledger.commands import CommandRunner, Fingerprint
    from creator_ledger.ledger.creators import CreatorRecord

#: One chunk: ``(creator id, record)`` in book order.
Chunk = list[tuple[UUID, "CreatorRecord"]]


class BulkEnrolment:
    """One bulk enrolment of ``chunks``, resumable: :meth:`run` writes the chunks from the
    first not stored yet (:attr:`stored` of them are) and returns the counts, or raises what a
    chunk's save raised (``WriteConflictError``: run it again, it resumes at that chunk)."""

    def __init__(
        self,
        aggregates: Aggregates,
        runner: CommandRunner,
        chunks: list[Chunk],
        at: datetime,
        record_as: tuple[str, Fingerprint],
        meta: dict[str, str],
    ) -> None:
        self.aggregates = aggregates
        self.runner = runner
        self.chunks = chunks
        self.at = at
        self.key, self.print_ = record_as
        self.meta = meta
        #: chunks stored, and the counts they make
        self.stored = 0
        self.done = EnrolledCreators(enrolled=0, already_enrolled=0)

    def run(self) -> EnrolledCreators:
        """Write the chunks not stored yet, each decided and encoded while the one before is
        stored.  A book two neighbouring chunks share is the one object, carried over with the
        events the earlier chunk is storing, so that the later chunk's follow on; a book that
        only the later chunk touches is loaded afresh."""
        pending: tuple[PreparedSave, EnrolledCreators] | None = None
        carried: dict[int, AccountBook] = {}
        counts = self.done
        try:
            for n in range(self.stored, len(self.chunks)):
                last = n == len(self.chunks) - 1
                if last:  # a concurrent run under the same key may have finished the job
                    previous = self.runner.previous(
                        self.key, "enrol_creators", self.print_, EnrolledCreators
                    )
                    if previous is not None:
                        waiting, pending = pending, None
                        self._confirm(waiting)
                        return previous
                prepared, counts, carried = self._prepare(self.chunks[n], counts, carried, last)
                waiting, pending = pending, None
                try:
                    self._confirm(waiting)
                except BaseException:
                    prepared.discard()  # decided on a chunk that was not stored
                    raise
                prepared.start()
                pending = (prepared, counts)
            waiting, pending = pending, None
            self._confirm(waiting)
        finally:
            if pending is not None:  # raised while a write was in flight: it ends first
                with contextlib.suppress(Exception):
                    self._confirm(pending)
        return self.done

    def _confirm(self, pending: tuple[PreparedSave, EnrolledCreators] | None) -> None:
        """Wait for the chunk in flight (raises what its save raised); count it as stored."""
        if pending is not None:
            prepared, counts = pending
            prepared.wait()
            self.stored += 1
            self.done = counts

    def _prepare(
        self,
        chunk: Chunk,
        so_far: EnrolledCreators,
        carried: dict[int, AccountBook],
        last: bool,
    ) -> tuple[PreparedSave, EnrolledCreators, dict[int, AccountBook]]:
        """One chunk decided and encoded, ready to be written in one transaction (with the
        idempotency record, for the last); the counts with it, and the books it touches.
        ``carried``: the books of the chunk before (possibly still in flight)."""
        at = self.at
        enrolled, already = so_far.enrolled, so_far.already_enrolled
        shards = {book_shard(cid) for cid, _ in chunk}
        books = {s: carried[s] for s in shards if s in carried}
        books.update(self.aggregates.books(s for s in shards if s not in carried))
        opened: dict[int, list[str]] = {}
        new: list[Creator] = []
        for cid, r in chunk:
            shard = book_shard(cid)
            book = books.get(shard)
            if book is not None and book.has_account(cid.hex):
                already += 1
                continue
            new.append(import_creator(r, cid, at))
            opened.setdefault(shard, []).append(cid.hex)
            enrolled += 1
        touched: list[AccountBook] = []
        for shard, ids in opened.items():
            book = books.get(shard) or AccountBook(shard=shard, effective_at=at)
            book.open_accounts(ids, effective_at=at)
            touched.append(book)
        result = EnrolledCreators(enrolled=enrolled, already_enrolled=already)
        record = (
            self.runner.record(self.key, "enrol_creators", self.print_, result) if last else None
        )
        # The books stay in the cache (the next chunk and the next command read them); the new
        # creators do not: putting thousands in it cost ~4.5 us each (~0.45 s per 100,000) and
        # pushed out what was in it, for aggregates written once and rarely read soon after.
        prepared = self.aggregates.prepare_save(
            *new, *touched, record, meta=self.meta, keep=touched
        )
        return prepared, result, {b.shard: b for b in touched}


def import_creator(r: CreatorRecord, creator_id: UUID, at: datetime) -> Creator:
    """``Enrolled`` with only a name and a country, else ``Imported`` (one event, not 3)."""
    if r.payout_account is None and (r.kyc_status, r.tax_status) == ("pending", "missing"):
        return Creator.enrol(
            creator_ref=r.creator_ref,
            display_name=r.display_name,
            country=r.country,
            effective_at=at,
        )
    return Creator.imported(
        creator_ref=r.creator_ref,
        display_name=r.display_name,
        country=r.country,
        payout_account=r.payout_account,
        account_status=r.account_status,
        kyc_status=r.kyc_status,
        tax_status=r.tax_status,
        effective_at=at,
        creator_id=creator_id,
    )
