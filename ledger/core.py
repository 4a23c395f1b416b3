"""What every use case shares: the event store, the read models, the clock, loading aggregates
with clear errors, and the idempotent, retried save."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from creator_ledger.adapters.readmodels import ReadModels
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.errors import (
    ConcurrencyError,
    IdempotencyConflictError,
    InvalidInputError,
    NotFoundError,
)
from creator_ledger.domain.idempotency import CommandRecord
from creator_ledger.domain.ids import BOOK_SHARDS, book_shard
from creator_ledger.ledger.app import LedgerApplication
from creator_ledger.ledger.loading import AggregateLoader
from creator_ledger.ledger.projections import Projector
from creator_ledger.ledger.results import Result
from creator_ledger.ledger.settings import Settings

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R", bound=Result)

#: A command that keeps losing optimistic-concurrency races gives up after this many tries.
MAX_ATTEMPTS = 8
RETRY_BACKOFF_S = 0.005


def utc_now() -> datetime:
    return datetime.now(UTC)


def _json_default(value: Any) -> Any:
    if isinstance(value, (UUID, date)):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    msg = f"cannot fingerprint {type(value).__name__}"
    raise TypeError(msg)


def fingerprint(command: str, arguments: dict[str, Any]) -> str:
    """A stable hash of a command and its validated arguments."""
    text = json.dumps([command, arguments], sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


class LedgerCore:
    """The state shared by the use-case mixins of :class:`ledger.CreatorLedger`."""

    def __init__(
        self,
        app: LedgerApplication,
        read_models: ReadModels,
        *,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.app = app
        self.read_models = read_models
        self.settings = settings
        self.clock = clock
        self.projector = Projector(app, read_models)
        self.loader = AggregateLoader(app, read_models.db)

    def catch_up(self) -> int:
        """Bring the read models up to date with every event recorded so far; returns how many
        events were applied."""
        return self.projector.catch_up()

    # -- time -----------------------------------------------------------------------------

    def _at(self, effective_at: datetime | None) -> datetime:
        if effective_at is None:
            return self.clock()
        if effective_at.tzinfo is None:
            raise InvalidInputError("effective_at must be timezone-aware (e.g. UTC)")
        return effective_at.astimezone(UTC)

    # -- loading --------------------------------------------------------------------------

    def _get(self, cls: type[A], aggregate_id: UUID, *, what: str, key: str) -> A:
        aggregate = self.loader.get_many([aggregate_id]).get(aggregate_id)
        if aggregate is None:
            raise NotFoundError(f"unknown {what} {key!r}", **{what.replace(" ", "_"): key})
        assert isinstance(aggregate, cls), (type(aggregate), cls)
        return aggregate

    def _exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.app.repository

    def _book(self, creator_id: UUID, *, creator_ref: str) -> AccountBook:
        book = self._load_book(book_shard(creator_id))
        if book is None or not book.has_account(creator_id.hex):
            raise NotFoundError(f"unknown creator {creator_ref!r}", creator_ref=creator_ref)
        return book

    def _load_book(self, shard: int) -> AccountBook | None:
        return self._books([shard]).get(shard)

    def _books(self, shards: Iterable[int]) -> dict[int, AccountBook]:
        """The existing books among ``shards``, loaded together."""
        wanted = sorted(set(shards))
        assert all(0 <= s < BOOK_SHARDS for s in wanted)
        loaded = self.loader.get_many(AccountBook.create_id(s) for s in wanted)
        out = {}
        for aggregate in loaded.values():
            assert isinstance(aggregate, AccountBook)
            out[aggregate.shard] = aggregate
        return out

    # -- the idempotent, retried save ---------------------------------------------------------

    def _execute(
        self,
        command: str,
        idempotency_key: str,
        arguments: dict[str, Any],
        result_type: type[R],
        work: Callable[[], tuple[Sequence[Aggregate | None], R]],
    ) -> R:
        """Run ``work`` (load, decide) and save what it changed with an idempotency record, in
        one transaction.  A replay of the key returns the first result; a replay with other
        content raises; a lost optimistic-concurrency race reloads and tries again."""
        if not idempotency_key or len(idempotency_key) > 200:
            msg = "idempotency_key must be a non-empty string of at most 200 characters"
            raise InvalidInputError(msg)
        print_ = fingerprint(command, arguments)
        record_id = CommandRecord.create_id(idempotency_key)
        for attempt in range(MAX_ATTEMPTS):
            previous = self._previous(record_id, command, print_, idempotency_key, result_type)
            if previous is not None:
                return previous
            aggregates, result = work()
            record = CommandRecord(
                key=idempotency_key,
                command=command,
                fingerprint=print_,
                result=result.model_dump(mode="json"),
                effective_at=self.clock(),
            )
            try:
                self.app.save(*aggregates, record)
            except IntegrityError:
                time.sleep(RETRY_BACKOFF_S * (attempt + 1))
                continue
            return result
        msg = f"{command} lost {MAX_ATTEMPTS} races with concurrent writers; nothing was written"
        raise ConcurrencyError(msg, command=command)

    def _previous(
        self, record_id: UUID, command: str, print_: str, key: str, result_type: type[R]
    ) -> R | None:
        # The record is one event: read it alone (one query, no snapshot lookup).
        recorded = list(self.app.events.get(record_id, lte=1))
        if not recorded:
            return None
        record = recorded[0]
        assert isinstance(record, CommandRecord.Recorded)
        if record.command != command or record.fingerprint != print_:
            msg = (
                f"idempotency key {key!r} was used for a different command or content"
                f" ({record.command}); use a new key for a new command"
            )
            raise IdempotencyConflictError(msg, idempotency_key=key, first_command=record.command)
        return result_type.model_validate(record.result)
