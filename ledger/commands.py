"""Running a command: business time, and the idempotent, retried save.

Every command carries an idempotency key.  :meth:`CommandRunner.run` loads and decides (the
command's ``work``), then saves what changed together with a
:class:`~creator_ledger.domain.idempotency.CommandRecord` of the first result, in one
transaction.  A replay of the key returns that first result and writes nothing; a replay with
other content is refused; a lost optimistic-concurrency race is decided again on fresh state.

Each attempt is one unit of work (``Aggregates.unit_of_work``): the idempotency record and the
aggregates the command says it will load (``preload``) are read in one query before the work
decides.

A command whose work reads nothing but aggregates, and changes every aggregate it reads (an
approval of a claim item: the claim, the creator's budget, the creator's book), may first be
tried ``in_memory``: decided on this process's cached aggregates with no read at all, and saved
with its idempotency record.  The save is then the whole check, in the one round trip it takes
anyway: every event goes in at its aggregate's next version, and the store's key
``(id, version)`` refuses the write if any cached aggregate was behind the store (another
process wrote it) or if the key's record exists (a replay: records are only ever at version 1).
Whatever the in-memory try cannot settle is settled by the checked attempt, from the start: an
aggregate not in the cache, a read-only aggregate, a refused write (a replay, a lost race), a
refusal by the domain (it may come from a cached aggregate that was behind).  Nothing is
written by a try that does not settle, so the result is the one the checked path gives.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate
from pydantic import BaseModel

from creator_ledger.adapters.eventstore import WriteConflictError
from creator_ledger.domain.business_time import check_time
from creator_ledger.domain.errors import (
    DatabaseUnavailableError,
    IdempotencyConflictError,
    InvalidInputError,
    LedgerError,
    NotMigratedError,
)
from creator_ledger.domain.idempotency import CommandRecord
from creator_ledger.ledger.aggregates import Aggregates, NotInMemory
from creator_ledger.ledger.metrics import IN_MEMORY
from creator_ledger.ledger.results import Result
from creator_ledger.ledger.retry import retry_on_conflict

R = TypeVar("R", bound=Result)

Clock = Callable[[], datetime]
#: What a command's work returns: the aggregates it changed (None for "nothing"), its result.
Work = Callable[[], tuple[Sequence[Aggregate | None], R]]

MAX_KEY_LENGTH = 200


def utc_now() -> datetime:
    return datetime.now(UTC)


def _json_default(value: Any) -> Any:
    if isinstance(value, (UUID, date)):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    msg = f"cannot fingerprint {type(value).__name__}"
    raise TypeError(msg)


def _orjson_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.__dict__  # its validated fields (extra fields are forbidden)
    msg = f"cannot fingerprint {type(value).__name__}"
    raise TypeError(msg)


#: The prefix of a fingerprint of the second form (see :func:`fingerprint`).
FINGERPRINT_V2 = "v2:"


def legacy_fingerprint(command: str, arguments: dict[str, Any]) -> str:
    """The first form of :func:`fingerprint` (the ``json`` module's text, keys sorted), which
    the records written before the second form hold, and which a command whose arguments
    orjson cannot write (an integer beyond 64 bits, a key that is not text) still gets."""
    text = json.dumps([command, arguments], sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A stable hash of a command and its validated arguments: :attr:`value` is what a new
    idempotency record stores; :meth:`matches` also accepts the first form, for the records
    written before the second (it is computed only for those)."""

    command: str
    arguments: dict[str, Any]
    value: str

    def matches(self, stored: str) -> bool:
        if stored == self.value:
            return True
        if stored.startswith(FINGERPRINT_V2):
            return False
        return stored == legacy_fingerprint(self.command, self.arguments)


def fingerprint(command: str, arguments: dict[str, Any]) -> Fingerprint:
    """The fingerprint of a command and its validated arguments.

    The second form (``v2:`` and a SHA-256 of orjson's text, keys sorted, a model by its
    fields) takes ~1/20 of the first's time for a bulk enrolment's 100,000 records (~0.4 s),
    where the ``json`` module calls back into Python for every record.  Arguments orjson
    cannot write get the first form, as before: the same arguments always get the same form.
    """
    try:
        text = orjson.dumps(
            [command, arguments], default=_orjson_default, option=orjson.OPT_SORT_KEYS
        )
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return Fingerprint(command, arguments, legacy_fingerprint(command, arguments))
    return Fingerprint(command, arguments, FINGERPRINT_V2 + hashlib.sha256(text).hexdigest())


class CommandRunner:
    """Business time and the idempotent, retried save, shared by every use case."""

    def __init__(self, aggregates: Aggregates, clock: Clock = utc_now) -> None:
        self.aggregates = aggregates
        self.clock = clock

    def at(self, effective_at: datetime | None) -> datetime:
        """A command's business time: ``effective_at`` (timezone-aware, a business date: see
        :mod:`~creator_ledger.domain.business_time`) in UTC, or now."""
        if effective_at is None:
            return self.clock()
        return check_time(effective_at, field="effective_at")

    def run(
        self,
        command: str,
        idempotency_key: str,
        arguments: dict[str, Any],
        result_type: type[R],
        work: Work[R],
        *,
        actor: str,
        preload: Callable[[], Iterable[UUID]] | None = None,
        in_memory: bool = False,
    ) -> R:
        """Run ``work`` (load, decide) and save what it changed with the idempotency record,
        in one transaction (see the module docstring); every event written is stamped with
        ``actor``, the command and its key.  ``preload`` names what ``work`` will load (asked
        anew on each attempt), read in the same query as the idempotency record.
        ``in_memory``: try it on the cached aggregates first (only for work that reads
        nothing but aggregates: see the module docstring)."""
        check_key(idempotency_key)
        print_ = fingerprint(command, arguments)
        record_id = CommandRecord.create_id(idempotency_key)
        meta = issued(actor, command, idempotency_key)

        if in_memory:
            done = self._in_memory(command, idempotency_key, print_, work, meta, preload)
            if done is not None:
                return done

        def attempt() -> R:
            with self.aggregates.unit_of_work():
                self.aggregates.prefetch([record_id, *(preload() if preload else ())])
                recorded = self.aggregates.find(CommandRecord, record_id)
                previous = self.check_previous(recorded, idempotency_key, command, print_)
                if previous is not None:
                    return result_type.model_validate(previous)
                aggregates, result = work()
                record = self.record(idempotency_key, command, print_, result)
                self.aggregates.save(*aggregates, record, meta=meta)
                return result

        return retry_on_conflict(attempt, what=command, command=command)

    def _in_memory(
        self,
        command: str,
        key: str,
        print_: Fingerprint,
        work: Work[R],
        meta: dict[str, str],
        preload: Callable[[], Iterable[UUID]] | None,
    ) -> R | None:
        """The in-memory try (see the module docstring): its result, or None when it did not
        settle (nothing written)."""
        try:
            with self.aggregates.unit_of_work(in_memory=True):
                if preload is not None:
                    self.aggregates.prefetch(preload())
                aggregates, result = work()
                self.aggregates.check_all_written(aggregates)
                record = self.record(key, command, print_, result)
                self.aggregates.save(*aggregates, record, meta=meta)
        except (DatabaseUnavailableError, NotMigratedError):
            raise  # the store did not take it (busy, down): a checked attempt would not either
        except (NotInMemory, WriteConflictError, LedgerError):
            IN_MEMORY.labels(command, "checked").inc()
            return None
        IN_MEMORY.labels(command, "written").inc()
        return result

    def record(self, key: str, command: str, print_: Fingerprint, result: Result) -> CommandRecord:
        return CommandRecord(
            key=key,
            command=command,
            fingerprint=print_.value,
            result=result.model_dump(mode="json"),
            effective_at=self.clock(),
        )

    def previous(
        self, key: str, command: str, print_: Fingerprint, result_type: type[R]
    ) -> R | None:
        """The first result under ``key``, or None; refuses the key used for other content."""
        recorded = self.aggregates.find(CommandRecord, CommandRecord.create_id(key))
        previous = self.check_previous(recorded, key, command, print_)
        return None if previous is None else result_type.model_validate(previous)

    @staticmethod
    def check_previous(
        record: CommandRecord | None, key: str, command: str, print_: Fingerprint
    ) -> dict[str, Any] | None:
        """The first result recorded under ``key`` (as stored), or None if there is none;
        refuses the key used for another command or other content."""
        if record is None:
            return None
        if record.command != command or not print_.matches(record.fingerprint):
            msg = (
                f"idempotency key {key!r} was used for a different command or content"
                f" ({record.command}); use a new key for a new command"
            )
            raise IdempotencyConflictError(msg, idempotency_key=key, first_command=record.command)
        return record.result


def issued(actor: str, command: str, idempotency_key: str) -> dict[str, str]:
    """What every event a command writes records of who issued it (see the event store)."""
    return {"actor": actor, "command": command, "idempotency_key": idempotency_key}


def check_key(idempotency_key: str) -> None:
    if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
        msg = f"idempotency_key must be a non-empty string of at most {MAX_KEY_LENGTH} characters"
        raise InvalidInputError(msg)
