"""The payment provider's events (webhooks), recorded in the ledger.

* a transfer reversed at the provider -> the payout's reversal: the cash comes back and the
  creator is owed it again, after settling what they owe the platform.  The event must name the
  payout's own transfer, currency, destination and amount (else it is refused: nothing is
  recorded).  A reversal that arrives while the payout still waits for its outcome (the
  executor died between the provider's commit and its answer) is recorded on the payout at once
  and takes effect when the outcome is recorded (:mod:`.payout_outcomes`): a reversal is never
  acknowledged without taking effect;
* a bank payout paid or failed on a creator's connected account -> recorded on the creator (a
  failure also holds their payouts until their bank account is fixed).

Each event is recorded once: its id is the idempotency key, so a redelivery changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from creator_ledger.adapters.payments.port import ProviderEvent, ProviderEventKind
from creator_ledger.domain.errors import InvalidInputError, InvalidStateError
from creator_ledger.domain.payout import Payout
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.commands import CommandRunner
from creator_ledger.ledger.projections import Projector
from creator_ledger.ledger.results import ProviderEventResult
from creator_ledger.ledger.validation import check_actor

#: Verifies a webhook (raw body, signature header, secret) and parses it; raises
#: ``WebhookSignatureError`` for a bad signature.
WebhookParser = Callable[[bytes, str, str], ProviderEvent]

#: Who a verified Stripe webhook was issued by.
STRIPE = "provider:stripe"
BANK_PAYOUT_KINDS = {ProviderEventKind.BANK_PAYOUT_PAID, ProviderEventKind.BANK_PAYOUT_FAILED}


class ProviderEvents:
    def __init__(
        self,
        aggregates: Aggregates,
        runner: CommandRunner,
        projector: Projector,
        parse_webhook: WebhookParser,
    ) -> None:
        self.aggregates = aggregates
        self.runner = runner
        self.projector = projector
        self.parse_webhook = parse_webhook

    def handle_stripe_webhook(
        self, raw_body: bytes, signature_header: str, *, secret: str
    ) -> ProviderEventResult:
        """Verify a Stripe webhook (raw body and ``Stripe-Signature`` header) and record it.
        A bad signature raises :class:`WebhookSignatureError` and writes nothing; a replayed
        event changes nothing."""
        event = self.parse_webhook(raw_body, signature_header, secret)
        return self.record_provider_event(event, actor=STRIPE)

    def record_provider_event(self, event: ProviderEvent, *, actor: str) -> ProviderEventResult:
        """Record one provider event (see the module docstring).  Idempotent on the event.
        ``actor`` is who reports it (a verified webhook: ``provider:stripe``)."""
        args = {
            "event_id": event.event_id,
            "type": event.type,
            "object_id": event.object_id,
            "account": event.account,
            "amount_minor": event.amount_minor,
            "amount_reversed_minor": event.amount_reversed_minor,
            "payout_id": event.payout_id,
        }

        def work() -> tuple[list[Aggregate], ProviderEventResult]:
            if event.kind == ProviderEventKind.TRANSFER_REVERSED:
                return self._transfer_reversed(event)
            if event.kind in BANK_PAYOUT_KINDS:
                return self._bank_payout(event)
            return [], ProviderEventResult(
                event_id=event.event_id, type=event.type, action="ignored"
            )

        return self.runner.run(
            "provider_event",
            f"provider-event:{event.event_id}",
            args,
            ProviderEventResult,
            work,
            actor=check_actor(actor),
        )

    def _transfer_reversed(
        self, event: ProviderEvent
    ) -> tuple[list[Aggregate], ProviderEventResult]:
        def result(action: str, **kw: Any) -> ProviderEventResult:
            return ProviderEventResult(
                event_id=event.event_id, type=event.type, action=action, **kw
            )

        payout_id = event.payout_id
        if payout_id is None:  # no ledger metadata on the transfer: look it up by transfer id
            self.projector.catch_up()
            payout_id = self.projector.read_models.payout_by_transfer(event.object_id or "")
        payout = self.aggregates.payout(payout_id)
        if payout is None or payout_id is None:
            return [], result(
                "ignored", detail=f"transfer {event.object_id} was not made by the ledger"
            )
        self._check_names_the_payout(event, payout)
        reversed_total = event.amount_reversed_minor or event.amount_minor or 0
        at = event.created
        if payout.status == "requested":
            # The transfer was made but its outcome is not recorded yet: keep the reversal on
            # the payout; it takes effect when the payout is recorded as paid by this transfer.
            reported = payout.report_reversal(
                event.event_id,
                event.object_id or "",
                reversed_total,
                reason="transfer reversed at the provider",
                effective_at=at,
            )
            if not reported:
                return [], result("already_recorded", payout_id=payout_id)
            return [payout], result(
                "reversal_reported",
                payout_id=payout_id,
                creator_id=payout.creator_id.hex,
                amount_minor=reversed_total,
                detail="the payout's outcome is not recorded yet: the reversal takes effect when"
                " it is (the run's next execution)",
            )
        if payout.status == "failed":
            msg = (
                f"webhook event {event.event_id}: transfer {event.object_id} was reversed, but"
                f" payout {payout_id} is recorded as failed (no transfer): reconcile it"
                " (creator-ledger reconcile provider); nothing was recorded"
            )
            raise InvalidStateError(msg, event_id=event.event_id, payout_id=payout_id)
        new = reversed_total - payout.reversed_minor
        if new <= 0:
            return [], result("already_recorded", payout_id=payout_id)
        payout.mark_reversed(
            event.event_id, new, reason="transfer reversed at the provider", effective_at=at
        )
        book = self.aggregates.book(payout.creator_id, creator_ref=payout.creator_id.hex)
        book.credit_reversal(
            payout_id=payout.id,
            creator_id=payout.creator_id.hex,
            currency=payout.currency,
            amount_minor=new,
            reason=f"transfer {event.object_id} reversed",
            effective_at=at,
        )
        return [payout, book], result(
            "reversal_recorded",
            payout_id=payout_id,
            creator_id=payout.creator_id.hex,
            amount_minor=new,
        )

    @staticmethod
    def _check_names_the_payout(event: ProviderEvent, payout: Payout) -> None:
        """Refuse a reversal whose transfer is not the payout's: another transfer id, currency,
        destination or amount than the payout's (nothing is recorded)."""
        destination = event.raw_object.get("destination")
        problems = []
        if payout.transfer_id is not None and event.object_id != payout.transfer_id:
            problems.append(f"transfer {event.object_id}, not the payout's {payout.transfer_id}")
        if event.currency != payout.currency:
            problems.append(f"currency {event.currency}, not {payout.currency}")
        if destination != payout.destination:
            shown = destination if isinstance(destination, str) else "none"
            problems.append(f"destination {shown[:64]!r}, not {payout.destination}")
        if event.amount_minor is not None and event.amount_minor != payout.amount_minor:
            problems.append(f"amount {event.amount_minor}, not {payout.amount_minor}")
        if problems:
            msg = (
                f"webhook event {event.event_id} names payout {payout.id} but its transfer does"
                f" not match it: {'; '.join(problems)}; refused, nothing was recorded"
            )
            raise InvalidInputError(
                msg, event_id=event.event_id, payout_id=str(payout.id), problems=problems
            )

    def _bank_payout(self, event: ProviderEvent) -> tuple[list[Aggregate], ProviderEventResult]:
        self.projector.catch_up()
        creator_hex = self.projector.read_models.creator_by_payout_account(event.account or "")
        if creator_hex is None:
            detail = f"no creator has payout account {event.account}"
            return [], ProviderEventResult(
                event_id=event.event_id, type=event.type, action="ignored", detail=detail
            )
        creator = self.aggregates.creator_by_id(UUID(hex=creator_hex))
        status = "paid" if event.kind == ProviderEventKind.BANK_PAYOUT_PAID else "failed"
        failure = (
            f"{event.failure_code or ''}: {event.failure_message or ''}"
            if status == "failed"
            else ""
        )
        creator.report_bank_payout(
            provider_payout_id=event.object_id or "",
            status=status,
            currency=event.currency or "",
            amount_minor=event.amount_minor or 0,
            failure=failure,
            effective_at=event.created,
        )
        hold_id = f"bank-payout-failed-{event.object_id}"
        if status == "failed" and hold_id not in creator.holds:
            creator.place_hold(
                hold_id,
                reason=(
                    f"the bank rejected payout {event.object_id} ({failure.strip(': ')});"
                    " fix the bank account"
                ),
                effective_at=event.created,
            )
        return [creator], ProviderEventResult(
            event_id=event.event_id,
            type=event.type,
            action="bank_payout_recorded",
            creator_id=creator_hex,
            amount_minor=event.amount_minor,
            detail=failure,
        )
