"""Every aggregate of the ledger, with its stable topic.

Stored events name their class by a topic.  Each aggregate and each of its event classes
declares a ``TOPIC`` of its own (``creator-ledger/<Aggregate>`` and
``creator-ledger/<Aggregate>.<Event>``): a stable name that does not depend on the module the
class lives in, so a class can move without a data migration.  The event store registers them
all (``creator_ledger.adapters.eventstore.register_topics``).
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.exclusivity import ExclusivityAgreement
from creator_ledger.domain.fund import CreatorFund
from creator_ledger.domain.idempotency import CommandRecord
from creator_ledger.domain.payout import Payout
from creator_ledger.domain.payout_run import PayoutRun
from creator_ledger.domain.period import ProgramPeriod
from creator_ledger.domain.program import ViewProgram
from creator_ledger.domain.reimbursement import ReimbursementClaim
from creator_ledger.domain.supply import MoneySupply

AGGREGATES: tuple[type[Aggregate], ...] = (
    CreatorFund,
    ViewProgram,
    ProgramPeriod,
    Creator,
    AccountBook,
    ExclusivityAgreement,
    ReimbursementClaim,
    Payout,
    PayoutRun,
    CommandRecord,
    MoneySupply,
)

#: Long-lived aggregates snapshot every so many events, so loading one stays cheap as its
#: history grows (a snapshot is only ever a shortcut: see the event store).  An account book's
#: events are large (a payout batch names every payout of its shard): a cold load replaying
#: ~35 of them took ~1.35 ms of CPU where one from a fresh snapshot took ~0.4 ms, and taking a
#: snapshot costs the command ~0.4 ms (encoding; it is stored off the command's path), so books
#: snapshot every 20 events (it was 50).
SNAPSHOT_INTERVALS: dict[type[Aggregate], int] = {
    Creator: 100,
    AccountBook: 20,
    CreatorFund: 200,
    ViewProgram: 200,
    ProgramPeriod: 25,
    MoneySupply: 200,
}
