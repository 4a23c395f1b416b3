"""Stripe Connect implementation of the payment port, on the official SDK (``stripe.StripeClient``).

* Every request carries the pinned :data:`API_VERSION` (``Stripe-Version``), so an SDK upgrade
  never changes the API's behaviour silently.
* Every POST carries the caller's idempotency key, on every attempt (the SDK's own network
  retries and this adapter's 429 backoff reuse it).
* The SDK retries connection errors, 409 and 5xx ``max_network_retries`` times; it does not
  retry 429 unless Stripe says ``Stripe-Should-Retry: true``, so 429 is retried here, a bounded
  number of times with capped exponential backoff (``sleep`` is injectable).
* Timeouts are short and explicit (connect, read), through an explicit ``RequestsClient``.
* Errors become the ledger's own: :class:`~domain.errors.PaymentRejectedError` (Stripe refused;
  nothing happened) or :class:`~domain.errors.PaymentOutcomeUnknownError` (network, 5xx, 409,
  429 after the retries: Stripe may have acted; resolve with :meth:`find_transfer`).  Both carry
  the provider's ``error_type``, ``code``, ``http_status``, ``request_id`` as fields.
* No Stripe type leaves this module: results are the port's frozen dataclasses, with upper-case
  ISO 4217 currencies and timezone-aware UTC datetimes.

List calls page with ``starting_after`` themselves (100 per page, a bounded number of pages)
rather than through the SDK's ``auto_paging_iter``, so each page gets the same 429 backoff and
error mapping as every other call.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import stripe

from creator_ledger.adapters.payments.port import (
    BalanceTransaction,
    Transfer,
    TransferRequest,
    TransferReversal,
)
from creator_ledger.domain.errors import (
    InvalidInputError,
    LedgerError,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
)
from creator_ledger.domain.money import check_amount, check_currency

if TYPE_CHECKING:
    from stripe.params import (
        BalanceTransactionListParams,
        TransferCreateParams,
        TransferListParams,
        TransferReversalCreateParams,
    )

__all__ = [
    "API_VERSION",
    "ConnectedAccountStatus",
    "StripeConnectProvider",
]

#: The Stripe API version every request pins; the one stripe-python 16.1.0 was generated for.
API_VERSION: Final = "2026-10-28.endive"
PAGE_SIZE: Final = 100
MAX_PAGES: Final = 10_000  # 1,000,000 objects per listing; narrow the window beyond that
DEFAULT_MAX_NETWORK_RETRIES: Final = 2
DEFAULT_CONNECT_TIMEOUT_S: Final = 3.0
DEFAULT_READ_TIMEOUT_S: Final = 15.0
DEFAULT_RATE_LIMIT_RETRIES: Final = 4
DEFAULT_RATE_LIMIT_BACKOFF_S: Final = 0.5
DEFAULT_RATE_LIMIT_BACKOFF_MAX_S: Final = 8.0

_IDEMPOTENCY_KEY_MAX_LEN: Final = 255
_METADATA_MAX_KEYS: Final = 50
_METADATA_MAX_KEY_LEN: Final = 40
_METADATA_MAX_VALUE_LEN: Final = 500

_REJECTED: Final = (
    stripe.CardError,
    stripe.InvalidRequestError,
    stripe.IdempotencyError,
    stripe.AuthenticationError,
    stripe.PermissionError,
)
_OUTCOME_UNKNOWN: Final = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError)

_T = TypeVar("_T")
_Raw = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ConnectedAccountStatus:
    """What the payout gates need to know about a creator's connected account."""

    account_id: str
    transfers_capability: str | None  # "active", "inactive", "pending"; None: not requested
    payouts_enabled: bool
    requirements_currently_due: tuple[str, ...]
    requirements_past_due: tuple[str, ...]
    disabled_reason: str | None

    @property
    def transfers_active(self) -> bool:
        return self.transfers_capability == "active"

    @property
    def can_receive_transfers(self) -> bool:
        """Transfers will be accepted now (capability active, nothing past due, not disabled)."""
        return (
            self.transfers_active
            and not self.requirements_past_due
            and self.disabled_reason is None
        )


class StripeConnectProvider:
    """:class:`~adapters.payments.port.PaymentProvider` on Stripe Connect transfers."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        api_version: str = API_VERSION,
        max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        rate_limit_retries: int = DEFAULT_RATE_LIMIT_RETRIES,
        rate_limit_backoff_s: float = DEFAULT_RATE_LIMIT_BACKOFF_S,
        rate_limit_backoff_max_s: float = DEFAULT_RATE_LIMIT_BACKOFF_MAX_S,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = PAGE_SIZE,
        max_pages: int = MAX_PAGES,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.startswith(("sk_", "rk_")):
            msg = "api_key must be a Stripe secret or restricted key (sk_... or rk_...)"
            raise InvalidInputError(msg)
        _check_range("max_network_retries", max_network_retries, 0, 10)
        _check_range("rate_limit_retries", rate_limit_retries, 0, 10)
        _check_range("page_size", page_size, 1, PAGE_SIZE)
        _check_range("max_pages", max_pages, 1, MAX_PAGES)
        for name, value in (
            ("connect_timeout_s", connect_timeout_s),
            ("read_timeout_s", read_timeout_s),
            ("rate_limit_backoff_max_s", rate_limit_backoff_max_s),
        ):
            if not 0 < value <= 120:
                msg = f"{name} must be in (0, 120] seconds, got {value!r}"
                raise InvalidInputError(msg, field=name)
        if not 0 <= rate_limit_backoff_s <= rate_limit_backoff_max_s:
            msg = "rate_limit_backoff_s must be in [0, rate_limit_backoff_max_s]"
            raise InvalidInputError(msg, field="rate_limit_backoff_s")
        self.api_version = api_version
        self.max_network_retries = max_network_retries
        self._rate_limit_retries = rate_limit_retries
        self._backoff_s = rate_limit_backoff_s
        self._backoff_max_s = rate_limit_backoff_max_s
        self._sleep = sleep
        self._page_size = page_size
        self._max_pages = max_pages
        self._http_client = stripe.RequestsClient(timeout=(connect_timeout_s, read_timeout_s))
        self._client = stripe.StripeClient(
            api_key,
            stripe_version=api_version,
            base_addresses={"api": base_url} if base_url is not None else None,
            max_network_retries=max_network_retries,
            http_client=self._http_client,
        )

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the calling thread's HTTP session (the SDK keeps one per thread)."""
        self._http_client.close()  # type: ignore[no-untyped-call]  # the SDK leaves it untyped

    def __enter__(self) -> StripeConnectProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the port

    def create_transfer(self, request: TransferRequest) -> Transfer:
        """POST /v1/transfers under ``request.idempotency_key`` (on every attempt).

        ``transfer_group`` defaults to the payout id, which is how :meth:`find_transfer`
        finds the transfer again; ``metadata.payout_id`` is always set.
        """
        params = _transfer_params(request)
        options: stripe.RequestOptions = {"idempotency_key": request.idempotency_key}
        context = {"payout_id": request.payout_id, "idempotency_key": request.idempotency_key}
        created = self._call(
            "create_transfer",
            functools.partial(self._client.v1.transfers.create, params, options),
            context,
        )
        return _to_transfer(created.to_dict(), "create_transfer")

    def find_transfer(
        self, payout_id: str, *, transfer_group: str | None = None
    ) -> Transfer | None:
        """The transfer whose ``metadata.payout_id`` is ``payout_id``, or None.

        Looks in ``transfer_group`` (default: the payout id, as :meth:`create_transfer` sets
        it).  If several match (which exactly-once payment forbids), the oldest is returned;
        reconciliation reports the others.

        None is not proof that no transfer will appear: a first attempt may still be running
        at Stripe (a retry then gets 409).  Retry under the *same* key, never a new one.
        """
        if not isinstance(payout_id, str) or not payout_id:
            msg = "payout_id must be a non-empty string"
            raise InvalidInputError(msg, field="payout_id")
        found: Transfer | None = None
        params: _Raw = {"transfer_group": transfer_group or payout_id}
        for raw in self._pages("find_transfer", self._list_transfers_page, params, payout_id):
            transfer = _to_transfer(raw, "find_transfer")
            if transfer.payout_id == payout_id:
                found = transfer  # newest first: the last match is the oldest
        return found

    def list_transfers(self, created_from: datetime, created_to: datetime) -> Iterator[Transfer]:
        """Every transfer created in ``[created_from, created_to)``, newest first.

        The window is checked now; pages are fetched as the iterator is consumed.
        """
        params: _Raw = {"created": _created_window(created_from, created_to)}
        pages = self._pages("list_transfers", self._list_transfers_page, params, None)
        return (_to_transfer(raw, "list_transfers") for raw in pages)

    def list_balance_transactions(
        self, created_from: datetime, created_to: datetime
    ) -> Iterator[BalanceTransaction]:
        """Every balance transaction created in ``[created_from, created_to)``, newest first."""
        params: _Raw = {"created": _created_window(created_from, created_to)}
        pages = self._pages(
            "list_balance_transactions", self._list_balance_transactions_page, params, None
        )
        return (_to_balance_transaction(raw) for raw in pages)

    def reverse_transfer(
        self, transfer_id: str, amount_minor: int, idempotency_key: str
    ) -> TransferReversal:
        """POST /v1/transfers/{id}/reversals under ``idempotency_key``."""
        context = {"transfer_id": transfer_id, "idempotency_key": idempotency_key}
        _check_request_text("transfer_id", transfer_id, 255, context)
        _check_request_text("idempotency_key", idempotency_key, _IDEMPOTENCY_KEY_MAX_LEN, context)
        try:
            check_amount(amount_minor)
        except InvalidInputError as exc:
            raise PaymentRejectedError(exc.message, code="invalid_request", **context) from None
        params: TransferReversalCreateParams = {"amount": amount_minor}
        options: stripe.RequestOptions = {"idempotency_key": idempotency_key}
        reversal = self._call(
            "reverse_transfer",
            functools.partial(
                self._client.v1.transfers.reversals.create, transfer_id, params, options
            ),
            context,
        )
        return _to_reversal(reversal.to_dict())

    # ------------------------------------------------------------------ beyond the port

    def connected_account_status(self, account_id: str) -> ConnectedAccountStatus:
        """GET /v1/accounts/{id}: transfers capability, payouts, requirements."""
        context = {"account_id": account_id}
        _check_request_text("account_id", account_id, 255, context)
        account = self._call(
            "connected_account_status",
            functools.partial(self._client.v1.accounts.retrieve, account_id),
            context,
        ).to_dict()
        capabilities = account.get("capabilities") or {}
        requirements = account.get("requirements") or {}
        transfers = capabilities.get("transfers")
        return ConnectedAccountStatus(
            account_id=_text(account, "id", "connected_account_status"),
            transfers_capability=transfers if isinstance(transfers, str) else None,
            payouts_enabled=account.get("payouts_enabled") is True,
            requirements_currently_due=tuple(requirements.get("currently_due") or ()),
            requirements_past_due=tuple(requirements.get("past_due") or ()),
            disabled_reason=requirements.get("disabled_reason"),
        )

    # ------------------------------------------------------------------ plumbing

    def _list_transfers_page(self, params: _Raw) -> _Raw:
        typed = cast("TransferListParams", params)
        return self._client.v1.transfers.list(typed).to_dict()

    def _list_balance_transactions_page(self, params: _Raw) -> _Raw:
        typed = cast("BalanceTransactionListParams", params)
        return self._client.v1.balance_transactions.list(typed).to_dict()

    def _pages(
        self,
        operation: str,
        fetch: Callable[[_Raw], _Raw],
        params: Mapping[str, Any],
        payout_id: str | None,
    ) -> Iterator[_Raw]:
        """Yield every object of a Stripe list, page by page (at most ``max_pages`` pages)."""
        context = {"payout_id": payout_id} if payout_id is not None else {}
        cursor: str | None = None
        for _ in range(self._max_pages):
            page_params: _Raw = {**params, "limit": self._page_size}
            if cursor is not None:
                page_params["starting_after"] = cursor
            page = self._call(operation, functools.partial(fetch, page_params), context)
            data = page.get("data")
            if not isinstance(data, list):
                msg = f"Stripe returned a list without data for {operation}"
                raise PaymentOutcomeUnknownError(msg, provider="stripe", operation=operation)
            yield from data
            if not page.get("has_more") or not data:
                return
            cursor = _text(data[-1], "id", operation)
        limit = self._max_pages * self._page_size
        msg = f"{operation} found more than {limit} objects; narrow the time window"
        raise InvalidInputError(msg, operation=operation, limit=limit)

    def _call(self, operation: str, send: Callable[[], _T], context: Mapping[str, str]) -> _T:
        """Run one SDK call, retrying 429 with backoff, translating every Stripe error."""
        attempts = self._rate_limit_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return send()
            except stripe.RateLimitError as exc:
                if attempt == attempts:
                    raise _translate(operation, exc, context, attempts) from None
                self._sleep(min(self._backoff_s * 2 ** (attempt - 1), self._backoff_max_s))
            except stripe.StripeError as exc:
                raise _translate(operation, exc, context, attempt) from None
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


# ---------------------------------------------------------------------- request building


def _transfer_params(request: TransferRequest) -> TransferCreateParams:
    context = {"payout_id": str(request.payout_id), "idempotency_key": str(request.idempotency_key)}
    _check_request_text("payout_id", request.payout_id, _METADATA_MAX_VALUE_LEN, context)
    _check_request_text(
        "idempotency_key", request.idempotency_key, _IDEMPOTENCY_KEY_MAX_LEN, context
    )
    _check_request_text("destination", request.destination, 255, context)
    if not request.destination.startswith("acct_"):
        msg = f"destination must be a connected account id (acct_...), got {request.destination!r}"
        raise PaymentRejectedError(msg, code="invalid_request", **context)
    try:
        check_amount(request.amount_minor)
        currency = check_currency(request.currency)
    except InvalidInputError as exc:
        raise PaymentRejectedError(exc.message, code="invalid_request", **context) from None
    metadata = dict(request.metadata)
    if metadata.get("payout_id", request.payout_id) != request.payout_id:
        msg = "metadata.payout_id differs from the request's payout_id"
        raise PaymentRejectedError(msg, code="invalid_request", **context)
    metadata["payout_id"] = request.payout_id
    _check_metadata(metadata, context)
    group = request.transfer_group or request.payout_id
    _check_request_text("transfer_group", group, 255, context)
    return {
        "amount": request.amount_minor,
        "currency": currency.lower(),
        "destination": request.destination,
        "metadata": metadata,
        "transfer_group": group,
    }


def _check_metadata(metadata: Mapping[str, object], context: Mapping[str, str]) -> None:
    if len(metadata) > _METADATA_MAX_KEYS:
        msg = f"metadata has {len(metadata)} keys; Stripe accepts at most {_METADATA_MAX_KEYS}"
        raise PaymentRejectedError(msg, code="invalid_request", **context)
    for key, value in metadata.items():
        if not isinstance(key, str) or not 0 < len(key) <= _METADATA_MAX_KEY_LEN:
            msg = f"metadata key {key!r} must be a string of 1..{_METADATA_MAX_KEY_LEN} characters"
            raise PaymentRejectedError(msg, code="invalid_request", **context)
        if not isinstance(value, str) or len(value) > _METADATA_MAX_VALUE_LEN:
            msg = (
                f"metadata[{key}] must be a string of at most {_METADATA_MAX_VALUE_LEN} characters"
            )
            raise PaymentRejectedError(msg, code="invalid_request", **context)


def _check_request_text(name: str, value: object, max_len: int, context: Mapping[str, str]) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= max_len or value != value.strip():
        msg = f"{name} must be a non-empty string of at most {max_len} characters, got {value!r}"
        raise PaymentRejectedError(msg, code="invalid_request", **context)


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        msg = f"{name} must be an integer in {low}..{high}, got {value!r}"
        raise InvalidInputError(msg, field=name)


def _created_window(created_from: datetime, created_to: datetime) -> dict[str, int]:
    """``[from, to)`` as Stripe's whole-second ``created[gte]`` / ``created[lt]``.

    Stripe's ``created`` is an integer second ``s``; ``s >= from`` iff ``s >= ceil(from)`` and
    ``s < to`` iff ``s < ceil(to)``, so both bounds round up.
    """
    for name, value in (("created_from", created_from), ("created_to", created_to)):
        if not isinstance(value, datetime) or value.utcoffset() is None:
            msg = f"{name} must be a timezone-aware datetime, got {value!r}"
            raise InvalidInputError(msg, field=name)
    if created_to < created_from:
        msg = f"created_to ({created_to.isoformat()}) is before created_from"
        raise InvalidInputError(msg, field="created_to")
    return {
        "gte": math.ceil(created_from.timestamp()),
        "lt": math.ceil(created_to.timestamp()),
    }


# ---------------------------------------------------------------------- error translation


def _translate(
    operation: str, exc: stripe.StripeError, context: Mapping[str, str], attempts: int
) -> LedgerError:
    error = exc.error
    error_type = getattr(error, "type", None) if error is not None else None
    code = exc.code or (getattr(error, "code", None) if error is not None else None)
    provider_message = exc.user_message or type(exc).__name__
    fields: dict[str, Any] = {
        "provider": "stripe",
        "operation": operation,
        "error_class": type(exc).__name__,
        "error_type": error_type,
        "code": code,
        "http_status": exc.http_status,
        "request_id": exc.request_id,
        "provider_message": provider_message,
        "attempts": attempts,
        **context,
    }
    subject = f" for payout {context['payout_id']}" if "payout_id" in context else ""
    status = exc.http_status
    rejected = isinstance(exc, _REJECTED) or (
        not isinstance(exc, _OUTCOME_UNKNOWN) and status is not None and 400 <= status < 500
    )
    if rejected:
        msg = f"Stripe rejected {operation}{subject}: {provider_message}"
        if code:
            msg += f" (code {code})"
        return PaymentRejectedError(msg, **fields)
    msg = (
        f"Stripe {operation}{subject} has an unknown outcome after {attempts} attempt(s): "
        f"{provider_message}"
    )
    if operation in {"create_transfer", "reverse_transfer"}:
        msg += "; look it up (find_transfer), or retry with the same idempotency key"
    return PaymentOutcomeUnknownError(msg, **fields)


# ---------------------------------------------------------------------- response parsing


def _to_transfer(raw: _Raw, operation: str) -> Transfer:
    metadata = _metadata(raw.get("metadata"))
    return Transfer(
        transfer_id=_text(raw, "id", operation),
        payout_id=metadata.get("payout_id"),
        destination=_id_of(raw.get("destination"), operation),
        amount_minor=_integer(raw, "amount", operation),
        currency=_text(raw, "currency", operation).upper(),
        created=_timestamp(raw, operation),
        amount_reversed_minor=int(raw.get("amount_reversed") or 0),
        metadata=metadata,
    )


def _to_balance_transaction(raw: _Raw) -> BalanceTransaction:
    operation = "list_balance_transactions"
    source = raw.get("source")
    return BalanceTransaction(
        balance_transaction_id=_text(raw, "id", operation),
        type=_text(raw, "type", operation),
        source_id=_id_of(source, operation) if source is not None else None,
        amount_minor=_integer(raw, "amount", operation),
        currency=_text(raw, "currency", operation).upper(),
        created=_timestamp(raw, operation),
    )


def _to_reversal(raw: _Raw) -> TransferReversal:
    operation = "reverse_transfer"
    return TransferReversal(
        reversal_id=_text(raw, "id", operation),
        transfer_id=_id_of(raw.get("transfer"), operation),
        amount_minor=_integer(raw, "amount", operation),
        currency=_text(raw, "currency", operation).upper(),
        created=_timestamp(raw, operation),
    )


def _malformed(operation: str, what: str) -> PaymentOutcomeUnknownError:
    msg = f"Stripe returned a malformed object for {operation}: {what}"
    return PaymentOutcomeUnknownError(msg, provider="stripe", operation=operation)


def _text(raw: Mapping[str, Any], key: str, operation: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise _malformed(operation, f"{key!r} is {value!r}")
    return value


def _integer(raw: Mapping[str, Any], key: str, operation: str) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _malformed(operation, f"{key!r} is {value!r}")
    return value


def _timestamp(raw: Mapping[str, Any], operation: str) -> datetime:
    return datetime.fromtimestamp(_integer(raw, "created", operation), tz=UTC)


def _id_of(value: object, operation: str) -> str:
    """An expandable field: the id string, or the expanded object's ``id``."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping):
        return _text(value, "id", operation)
    raise _malformed(operation, f"expected an id, got {value!r}")


def _metadata(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}
