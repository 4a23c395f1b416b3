"""The audit trail: every command with who issued it, when, under which idempotency key, and
what it did — for a creator, a payout run or a time window, paged with a cursor.

It is a read model (``audit``) fed by every event's ``issued`` stamp (actor, command,
idempotency key; see the event store) and by the command records' first results.  A command is
every event written under one idempotency key by one actor: an execution's batches, all written
under ``run:<run id>``, are one entry per executor.  "For a creator" lists the commands whose
events name the creator (enrolment, account and KYC changes, holds, contracts, earnings,
offsets, payouts, reversals, the proposals that paid or left them out).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from creator_ledger.adapters.readmodels import AuditRow
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import InvalidInputError
from creator_ledger.ledger.projections import Projector
from creator_ledger.ledger.results import AuditEntry, AuditPage
from creator_ledger.ledger.validation import Key, command

#: Entries per page, at most (the read model's bound).
MAX_LIMIT = 1_000
Cursor = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,19}$")]
#: Result fields an effect line shows, at most, and the ones it shows first.
EFFECT_FIELDS = 6
FIRST_FIELDS = ("run_id", "status", "action", "payout_id", "id", "creator_ref", "total_minor")
#: Values longer than this (hashes, long texts) stay in ``result``, out of the line.
EFFECT_VALUE_LENGTH = 64


def _instant(value: date | datetime, *, end: bool) -> datetime:
    """A date is a whole UTC day (``until`` includes it); a datetime is itself."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidInputError("since and until must be timezone-aware datetimes, or dates")
        return value.astimezone(UTC)
    start = datetime.combine(value, time(0), tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def effect_line(result: dict[str, Any] | None, events: dict[str, int]) -> str:
    """A command's effect in one line: its result's main fields, then the events it wrote."""
    parts = []
    if result:
        keys = [k for k in FIRST_FIELDS if k in result] + sorted(set(result) - set(FIRST_FIELDS))
        shown = [
            f"{k}={result[k]}"
            for k in keys
            if isinstance(result[k], str | int | bool)
            and result[k] != ""
            and len(str(result[k])) <= EFFECT_VALUE_LENGTH
        ]
        if shown:
            parts.append(", ".join(shown[:EFFECT_FIELDS]))
    written = [f"{k} x{n}" for k, n in sorted(events.items()) if k != "CommandRecord.Recorded"]
    if written:
        parts.append("wrote " + ", ".join(written))
    return "; ".join(parts) or "nothing"


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        position=row.position,
        recorded_at=row.recorded_at,
        actor=row.actor,
        command=row.command,
        idempotency_key=row.idempotency_key,
        run_id=row.run_id,
        effect=effect_line(row.result, row.effects),
        result=row.result,
        events=row.effects,
    )


class Audit:
    """The audit trail's query (see the module docstring)."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    @command
    def audit(
        self,
        *,
        creator_ref: Key | None = None,
        run_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None,
        since: datetime | date | None = None,
        until: datetime | date | None = None,
        cursor: Cursor | None = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 100,
    ) -> AuditPage:
        """Every command, oldest first, that names ``creator_ref``, belongs to payout run
        ``run_id``, and was recorded in ``[since, until]`` (dates are whole UTC days, ``until``
        included; datetimes are instants, ``until`` excluded) — each filter optional.  At most
        ``limit`` entries; pass the page's ``next_cursor`` as ``cursor`` for the next."""
        self.projector.catch_up()
        rows = self.projector.read_models.audit(
            creator_id=Creator.create_id(creator_ref).hex if creator_ref is not None else None,
            run_id=run_id,
            since=_instant(since, end=False) if since is not None else None,
            until=_instant(until, end=True) if until is not None else None,
            after=int(cursor) if cursor is not None else 0,
            limit=limit + 1,  # one more than the page: is there another page?
        )
        page = rows[:limit]
        return AuditPage(
            entries=[_entry(r) for r in page],
            next_cursor=str(page[-1].position) if len(rows) > limit else None,
        )
