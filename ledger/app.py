"""The event store: one ``eventsourcing`` application named ``ledger``.

All aggregates live in it, so one notification log orders every event and one projection
follows it.  Long-lived aggregates snapshot, so loading one stays cheap as history grows.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.book import AccountBook
from domain.creator import Creator
from domain.fund import CreatorFund
from domain.period import ProgramPeriod
from domain.program import ViewProgram


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class LedgerApplication(Application[UUID]):
    name = "Ledger"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Creator: 100,
        AccountBook: 50,
        CreatorFund: 200,
        ViewProgram: 200,
        ProgramPeriod: 25,
    }

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
