"""An in-memory payment provider for the demo and for tests; behaves like Stripe where it matters.

* Idempotency as on Stripe: the same key with the same parameters replays the first outcome
  (the transfer, or the same rejection); the same key with other parameters is rejected.
* A platform balance per currency that transfers draw down and reversals refill
  (``insufficient platform balance`` when short).
* Deterministic ids (``tr_mem_000001``, ``trr_mem_000001``, ``txn_mem_000001``) and an injectable
  clock (a callable returning timezone-aware datetimes).
* Scriptable faults: :meth:`InMemoryProvider.fail_after_commit` (the transfer exists but the
  caller gets :class:`~domain.errors.PaymentOutcomeUnknownError`) and
  :meth:`InMemoryProvider.fail_before_commit` (nothing happens, outcome unknown all the same).
* Thread-safe: one lock around all state.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final

from creator_ledger.adapters.payments.port import (
    BalanceTransaction,
    Transfer,
    TransferRequest,
    TransferReversal,
)
from creator_ledger.domain.errors import (
    InvalidInputError,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
)
from creator_ledger.domain.money import check_amount, check_currency

__all__ = ["DEFAULT_BALANCE_MINOR", "InMemoryProvider"]

DEFAULT_BALANCE_MINOR: Final = 10**15  # per currency, unless set
MAX_SCRIPTED_FAULTS: Final = 1_000


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What an idempotency key produced first: a result or a rejection, replayed as is."""

    fingerprint: tuple[object, ...]
    transfer: Transfer | None = None
    reversal: TransferReversal | None = None
    rejection: PaymentRejectedError | None = None


class InMemoryProvider:
    """:class:`~adapters.payments.port.PaymentProvider` kept in memory."""

    #: No rate limit: the ledger does not pace calls to it (see :mod:`.port`).
    rate_limit_per_s: float | None = None

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _utc_now,
        balances_minor: Mapping[str, int] | None = None,
        default_balance_minor: int = DEFAULT_BALANCE_MINOR,
        rejected_destinations: Iterable[str] = (),
    ) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._default_balance_minor = check_amount(
            default_balance_minor, field="default_balance_minor", allow_zero=True
        )
        self._balances: dict[str, int] = {}
        for currency, amount in (balances_minor or {}).items():
            self.set_balance(currency, amount)
        self._rejected_destinations = set(rejected_destinations)
        self._transfers: dict[str, Transfer] = {}
        self._reversals: dict[str, TransferReversal] = {}
        self._balance_transactions: list[BalanceTransaction] = []
        self._outcomes: dict[str, _Outcome] = {}
        self._fail_before = 0
        self._fail_after = 0
        self._calls = 0
        self._seq = {"tr": 0, "trr": 0, "txn": 0}

    # ------------------------------------------------------------------ setup and inspection

    def set_balance(self, currency: str, amount_minor: int) -> None:
        """Set the platform's available balance in ``currency``."""
        check_currency(currency)
        check_amount(amount_minor, field="amount_minor", allow_zero=True)
        with self._lock:
            self._balances[currency] = amount_minor

    def balance(self, currency: str) -> int:
        with self._lock:
            return self._balances.get(check_currency(currency), self._default_balance_minor)

    def reject_destination(self, destination: str) -> None:
        """Transfers to ``destination`` are rejected from now on."""
        with self._lock:
            self._rejected_destinations.add(destination)

    def fail_before_commit(self, times: int = 1) -> None:
        """The next ``times`` calls raise outcome-unknown and do nothing."""
        self._check_times(times)
        with self._lock:
            self._fail_before += times

    def fail_after_commit(self, times: int = 1) -> None:
        """The next ``times`` calls do their work, then raise outcome-unknown."""
        self._check_times(times)
        with self._lock:
            self._fail_after += times

    def transfers(self) -> list[Transfer]:
        """Every transfer made, oldest first."""
        with self._lock:
            return list(self._transfers.values())

    def transfer_count(self, payout_id: str) -> int:
        with self._lock:
            return sum(1 for t in self._transfers.values() if t.payout_id == payout_id)

    def transfer_counts(self) -> Counter[str]:
        """Transfers per payout id (more than one means a payout was paid twice)."""
        with self._lock:
            return Counter(t.payout_id for t in self._transfers.values() if t.payout_id)

    def reversals(self) -> list[TransferReversal]:
        with self._lock:
            return list(self._reversals.values())

    @property
    def calls(self) -> int:
        """How many create/reverse calls were made (replays and failures included)."""
        with self._lock:
            return self._calls

    # ------------------------------------------------------------------ the port

    def create_transfer(self, request: TransferRequest) -> Transfer:
        fingerprint, currency, metadata = _transfer_fingerprint(request)
        context = {"payout_id": request.payout_id, "idempotency_key": request.idempotency_key}
        with self._lock:
            self._calls += 1
            self._maybe_fail_before(context)
            outcome = self._outcomes.get(request.idempotency_key)
            if outcome is not None:
                transfer = self._replay(outcome, fingerprint, context).transfer
                assert transfer is not None, "a transfer key maps to a transfer outcome"
            else:
                transfer = self._commit_transfer(request, currency, metadata, fingerprint)
            self._maybe_fail_after(context)
            return transfer

    def find_transfer(self, payout_id: str) -> Transfer | None:
        with self._lock:
            return next((t for t in self._transfers.values() if t.payout_id == payout_id), None)

    def list_transfers(self, created_from: datetime, created_to: datetime) -> Iterator[Transfer]:
        _check_window(created_from, created_to)
        with self._lock:
            found = [t for t in self._transfers.values() if created_from <= t.created < created_to]
        return iter(found)

    def list_balance_transactions(
        self, created_from: datetime, created_to: datetime
    ) -> Iterator[BalanceTransaction]:
        _check_window(created_from, created_to)
        with self._lock:
            found = [
                b for b in self._balance_transactions if created_from <= b.created < created_to
            ]
        return iter(found)

    def reverse_transfer(
        self, transfer_id: str, amount_minor: int, idempotency_key: str
    ) -> TransferReversal:
        context = {"transfer_id": transfer_id, "idempotency_key": idempotency_key}
        _check_text("idempotency_key", idempotency_key, context)
        try:
            check_amount(amount_minor)
        except InvalidInputError as exc:
            raise PaymentRejectedError(exc.message, code="invalid_request", **context) from None
        fingerprint: tuple[object, ...] = ("reversal", transfer_id, amount_minor)
        with self._lock:
            self._calls += 1
            self._maybe_fail_before(context)
            outcome = self._outcomes.get(idempotency_key)
            if outcome is not None:
                reversal = self._replay(outcome, fingerprint, context).reversal
                assert reversal is not None, "a reversal key maps to a reversal outcome"
            else:
                reversal = self._commit_reversal(
                    transfer_id, amount_minor, idempotency_key, fingerprint, context
                )
            self._maybe_fail_after(context)
            return reversal

    # ------------------------------------------------------------------ internals (lock held)

    def _commit_transfer(
        self,
        request: TransferRequest,
        currency: str,
        metadata: dict[str, str],
        fingerprint: tuple[object, ...],
    ) -> Transfer:
        context = {"payout_id": request.payout_id, "idempotency_key": request.idempotency_key}
        available = self.balance(currency)
        rejection: PaymentRejectedError | None = None
        if request.destination in self._rejected_destinations:
            msg = f"destination {request.destination} cannot receive transfers"
            rejection = PaymentRejectedError(
                msg, code="destination_rejected", destination=request.destination, **context
            )
        elif available < request.amount_minor:
            msg = (
                f"insufficient platform balance: {request.amount_minor} {currency} needed, "
                f"{available} available"
            )
            rejection = PaymentRejectedError(
                msg, code="balance_insufficient", available_minor=available, **context
            )
        if rejection is not None:
            # As on Stripe, the rejection is the key's outcome and is replayed for it.
            self._outcomes[request.idempotency_key] = _Outcome(fingerprint, rejection=rejection)
            raise rejection
        now = self._now()
        transfer = Transfer(
            transfer_id=self._next_id("tr"),
            payout_id=request.payout_id,
            destination=request.destination,
            amount_minor=request.amount_minor,
            currency=currency,
            created=now,
            metadata=metadata,
        )
        self._balances[currency] = available - request.amount_minor
        self._transfers[transfer.transfer_id] = transfer
        self._record_balance_transaction(
            "transfer", transfer.transfer_id, -request.amount_minor, currency, now
        )
        self._outcomes[request.idempotency_key] = _Outcome(fingerprint, transfer=transfer)
        return transfer

    def _commit_reversal(
        self,
        transfer_id: str,
        amount_minor: int,
        idempotency_key: str,
        fingerprint: tuple[object, ...],
        context: Mapping[str, str],
    ) -> TransferReversal:
        transfer = self._transfers.get(transfer_id)
        rejection: PaymentRejectedError | None = None
        if transfer is None:
            rejection = PaymentRejectedError(
                f"no such transfer: {transfer_id}", code="resource_missing", **context
            )
        elif amount_minor > transfer.amount_minor - transfer.amount_reversed_minor:
            remaining = transfer.amount_minor - transfer.amount_reversed_minor
            msg = f"cannot reverse {amount_minor}: only {remaining} of {transfer_id} is left"
            rejection = PaymentRejectedError(msg, code="amount_too_large", **context)
        if rejection is not None:
            self._outcomes[idempotency_key] = _Outcome(fingerprint, rejection=rejection)
            raise rejection
        assert transfer is not None
        now = self._now()
        reversal = TransferReversal(
            reversal_id=self._next_id("trr"),
            transfer_id=transfer_id,
            amount_minor=amount_minor,
            currency=transfer.currency,
            created=now,
        )
        self._transfers[transfer_id] = replace(
            transfer, amount_reversed_minor=transfer.amount_reversed_minor + amount_minor
        )
        self._balances[transfer.currency] = self.balance(transfer.currency) + amount_minor
        self._reversals[reversal.reversal_id] = reversal
        self._record_balance_transaction(
            "transfer_refund", reversal.reversal_id, amount_minor, transfer.currency, now
        )
        self._outcomes[idempotency_key] = _Outcome(fingerprint, reversal=reversal)
        return reversal

    def _replay(
        self, outcome: _Outcome, fingerprint: tuple[object, ...], context: Mapping[str, str]
    ) -> _Outcome:
        if outcome.fingerprint != fingerprint:
            msg = (
                f"idempotency key {context['idempotency_key']!r} was first used with other "
                "parameters; use a new key for a different request"
            )
            raise PaymentRejectedError(msg, code="idempotency_key_reused", **context)
        if outcome.rejection is not None:
            first = outcome.rejection
            raise PaymentRejectedError(first.message, replayed=True, **first.fields)
        return outcome

    def _record_balance_transaction(
        self, kind: str, source_id: str, amount_minor: int, currency: str, created: datetime
    ) -> None:
        self._balance_transactions.append(
            BalanceTransaction(
                balance_transaction_id=self._next_id("txn"),
                type=kind,
                source_id=source_id,
                amount_minor=amount_minor,
                currency=currency,
                created=created,
            )
        )

    def _maybe_fail_before(self, context: Mapping[str, str]) -> None:
        if self._fail_before > 0:
            self._fail_before -= 1
            msg = "scripted failure before commit: the provider did not answer"
            raise PaymentOutcomeUnknownError(msg, provider="memory", committed=False, **context)

    def _maybe_fail_after(self, context: Mapping[str, str]) -> None:
        if self._fail_after > 0:
            self._fail_after -= 1
            msg = "scripted failure after commit: the provider acted but did not answer"
            raise PaymentOutcomeUnknownError(msg, provider="memory", committed=True, **context)

    def _now(self) -> datetime:
        now = self._clock()
        if now.utcoffset() is None:
            msg = f"the clock must return timezone-aware datetimes, got {now!r}"
            raise InvalidInputError(msg)
        return now.astimezone(UTC)

    def _next_id(self, prefix: str) -> str:
        self._seq[prefix] += 1
        return f"{prefix}_mem_{self._seq[prefix]:06d}"

    @staticmethod
    def _check_times(times: int) -> None:
        if isinstance(times, bool) or not isinstance(times, int):
            msg = f"times must be an integer, got {times!r}"
            raise InvalidInputError(msg)
        if not 1 <= times <= MAX_SCRIPTED_FAULTS:
            msg = f"times must be 1..{MAX_SCRIPTED_FAULTS}, got {times}"
            raise InvalidInputError(msg)


def _transfer_fingerprint(
    request: TransferRequest,
) -> tuple[tuple[object, ...], str, dict[str, str]]:
    context = {"payout_id": str(request.payout_id), "idempotency_key": str(request.idempotency_key)}
    _check_text("payout_id", request.payout_id, context)
    _check_text("idempotency_key", request.idempotency_key, context)
    _check_text("destination", request.destination, context)
    try:
        check_amount(request.amount_minor)
        currency = check_currency(request.currency)
    except InvalidInputError as exc:
        raise PaymentRejectedError(exc.message, code="invalid_request", **context) from None
    metadata = {str(k): str(v) for k, v in request.metadata.items()}
    if metadata.get("payout_id", request.payout_id) != request.payout_id:
        msg = "metadata.payout_id differs from the request's payout_id"
        raise PaymentRejectedError(msg, code="invalid_request", **context)
    metadata["payout_id"] = request.payout_id
    group = request.transfer_group or request.payout_id
    fingerprint: tuple[object, ...] = (
        "transfer",
        request.payout_id,
        request.destination,
        request.amount_minor,
        currency,
        tuple(sorted(metadata.items())),
        group,
    )
    return fingerprint, currency, metadata


def _check_text(name: str, value: object, context: Mapping[str, str]) -> None:
    if not isinstance(value, str) or not value:
        msg = f"{name} must be a non-empty string, got {value!r}"
        raise PaymentRejectedError(msg, code="invalid_request", **context)


def _check_window(created_from: datetime, created_to: datetime) -> None:
    for name, value in (("created_from", created_from), ("created_to", created_to)):
        if not isinstance(value, datetime) or value.utcoffset() is None:
            msg = f"{name} must be a timezone-aware datetime, got {value!r}"
            raise InvalidInputError(msg, field=name)
