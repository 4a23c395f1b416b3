"""Idempotency: a command carries a caller's key; the first result is kept under it.

The record is an aggregate whose id is derived from the key, saved in the same transaction as
the command's events: a duplicate cannot slip in between, and a replay with the same content
returns the first result, while a replay with other content is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from creator_ledger.domain.ids import stable_id


class CommandRecord(Aggregate):
    TOPIC = "creator-ledger/CommandRecord"

    class Recorded(Aggregate.Created):
        TOPIC = "creator-ledger/CommandRecord.Recorded"
        key: str
        command: str
        fingerprint: str
        result: dict[str, Any]
        effective_at: datetime

    class Created(Aggregate.Created):
        """Not recorded: ``Recorded`` creates the aggregate (the library defines this name
        for every aggregate, and so it needs a topic too)."""

        TOPIC = "creator-ledger/CommandRecord.Created"

    @staticmethod
    def create_id(key: str) -> UUID:
        return stable_id("command", key)

    @event(Recorded)
    def __init__(
        self,
        key: str,
        command: str,
        fingerprint: str,
        result: dict[str, Any],
        effective_at: datetime,
    ) -> None:
        self.key = key
        self.command = command
        self.fingerprint = fingerprint
        self.result = result
