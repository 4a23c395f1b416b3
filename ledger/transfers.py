"""Sending payouts to the provider, each exactly once.

One transfer per payout, under the idempotency key fixed in the payout before its first attempt.
A rejection fails the payout; an unknown outcome (timeout, 5xx, reset) is resolved by asking the
provider for the payout's transfer, and only if it has none is the request sent again, under the
same key.  A payout whose execution was interrupted is always looked up first.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from creator_ledger.adapters.payments.port import PaymentProvider, TransferRequest
from creator_ledger.domain.errors import PaymentOutcomeUnknownError, PaymentRejectedError
from creator_ledger.domain.payout import Payout

#: Sends of one payout in one execution (same key each time) before it is left unresolved.
MAX_SEND_ATTEMPTS = 3
#: Transfers sent at once, at most.
MAX_CONCURRENCY = 32


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the provider did with one payout, as far as this execution knows."""

    payout: Payout
    transfer_id: str | None = None  # paid
    failure: tuple[str, str] | None = None  # (code, message): failed

    @property
    def resolved(self) -> bool:
        return self.transfer_id is not None or self.failure is not None


def transfer_request(payout: Payout) -> TransferRequest:
    payout_id = str(payout.id)
    return TransferRequest(
        payout_id=payout_id,
        idempotency_key=payout.idempotency_key,
        destination=payout.destination,
        amount_minor=payout.amount_minor,
        currency=payout.currency,
        metadata={
            "payout_id": payout_id,
            "run_id": payout.run_id,
            "creator_id": payout.creator_id.hex,
        },
        transfer_group=payout_id,
    )


def send(provider: PaymentProvider, payout: Payout, *, ask_first: bool) -> Outcome:
    """Send one payout (see the module docstring); never raises for the provider's answer."""
    payout_id = str(payout.id)
    request = transfer_request(payout)
    for attempt in range(MAX_SEND_ATTEMPTS):
        try:
            if ask_first or attempt:
                found = provider.find_transfer(payout_id)
                if found is not None:
                    return Outcome(payout, transfer_id=found.transfer_id)
            transfer = provider.create_transfer(request)
        except PaymentRejectedError as e:
            code = str(e.fields.get("code") or e.fields.get("error_type") or "rejected")
            return Outcome(payout, failure=(code, e.message))
        except PaymentOutcomeUnknownError:
            continue  # ask the provider on the next attempt, then send under the same key
        return Outcome(payout, transfer_id=transfer.transfer_id)
    try:
        found = provider.find_transfer(payout_id)
    except PaymentOutcomeUnknownError:
        found = None
    return Outcome(payout, transfer_id=found.transfer_id if found is not None else None)


def send_all(
    provider: PaymentProvider, chunk: Sequence[tuple[Payout, bool]], concurrency: int
) -> list[Outcome]:
    """Send a chunk of ``(payout, ask_first)``, in order or ``concurrency`` at a time; a crash
    stops sending at once."""
    assert 1 <= concurrency <= MAX_CONCURRENCY
    if concurrency == 1:
        return [send(provider, p, ask_first=ask) for p, ask in chunk]
    pool = ThreadPoolExecutor(max_workers=concurrency)
    try:
        futures = [pool.submit(send, provider, p, ask_first=ask) for p, ask in chunk]
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
