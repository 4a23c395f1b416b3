"""Stripe Connect implementation of the payment port, on the official SDK (``stripe.StripeClient``).

* Every request carries the pinned :data:`API_VERSION` (``Stripe-Version``), so an SDK upgrade
  never changes the API's behaviour silently.
* Every POST carries the caller's idempotency key, on every attempt (the SDK's own network
  retries and this adapter's 429 backoff reuse it).
* The SDK retries connection errors, 409 and 5xx ``max_network_retries`` times; it does not
  retry 429 unless Stripe says ``Stripe-Should-Retry: true``, so 429 is retried here, a bounded
  number of times, waiting what Stripe's ``Retry-After`` asks, else capped exponential backoff
  (``sleep`` is injectable).
* Timeouts are short and explicit (connect, read), through an explicit ``RequestsClient``.
  Retries, timeouts and backoff are one value, :class:`StripeTransportOptions`
  (:mod:`.stripe_transport`), for :meth:`StripeConnectProvider.from_transport_options`.
* Errors become the ledger's own (:mod:`.stripe_errors`): rejected, or outcome unknown; the
  API key appears in none of them.
* No Stripe type leaves this module: requests are built and replies parsed by
  :mod:`.stripe_objects` into the port's frozen dataclasses.

List calls page with ``starting_after`` themselves (100 per page, a bounded number of pages)
rather than through the SDK's ``auto_paging_iter``, so each page gets the same 429 backoff and
error mapping as every other call.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast
from urllib.parse import urlsplit

import stripe

from creator_ledger.adapters.payments.port import (
    BalanceTransaction,
    Transfer,
    TransferRequest,
    TransferReversal,
)
from creator_ledger.adapters.payments.stripe_errors import translate
from creator_ledger.adapters.payments.stripe_objects import (
    ID_MAX_LEN,
    ConnectedAccountStatus,
    Raw,
    check_request_text,
    created_window,
    reversal_params,
    text,
    to_account_status,
    to_balance_transaction,
    to_reversal,
    to_transfer,
    transfer_params,
)
from creator_ledger.adapters.payments.stripe_transport import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_MAX_NETWORK_RETRIES,
    DEFAULT_RATE_LIMIT_BACKOFF_MAX_S,
    DEFAULT_RATE_LIMIT_BACKOFF_S,
    DEFAULT_RATE_LIMIT_RETRIES,
    DEFAULT_READ_TIMEOUT_S,
    StripeTransportOptions,
    check_range,
    retry_after_s,
)
from creator_ledger.domain.errors import InvalidInputError, PaymentOutcomeUnknownError

if TYPE_CHECKING:
    from stripe.params import BalanceTransactionListParams, TransferListParams

__all__ = [
    "API_VERSION",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_MAX_NETWORK_RETRIES",
    "DEFAULT_RATE_LIMIT_BACKOFF_MAX_S",
    "DEFAULT_RATE_LIMIT_BACKOFF_S",
    "DEFAULT_RATE_LIMIT_RETRIES",
    "DEFAULT_READ_TIMEOUT_S",
    "MAX_PAGES",
    "PAGE_SIZE",
    "ConnectedAccountStatus",
    "StripeConnectProvider",
    "StripeTransportOptions",
]

#: The Stripe API version every request pins; the one stripe-python 16.1.0 was generated for.
API_VERSION: Final = "2026-10-28.endive"
PAGE_SIZE: Final = 100
MAX_PAGES: Final = 10_000  # 1,000,000 objects per listing; narrow the window beyond that

_T = TypeVar("_T")


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
        transport = StripeTransportOptions(
            max_network_retries=max_network_retries,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            rate_limit_retries=rate_limit_retries,
            rate_limit_backoff_s=rate_limit_backoff_s,
            rate_limit_backoff_max_s=rate_limit_backoff_max_s,
        )
        check_range("page_size", page_size, 1, PAGE_SIZE)
        check_range("max_pages", max_pages, 1, MAX_PAGES)
        self.api_version = api_version
        self.max_network_retries = max_network_retries
        self._transport = transport
        self._api_key = api_key  # only to keep it out of error messages (stripe_errors.redact)
        self._host = urlsplit(base_url).netloc if base_url else "api.stripe.com"  # for errors
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

    @classmethod
    def from_transport_options(
        cls,
        api_key: str,
        transport: StripeTransportOptions,
        *,
        base_url: str | None = None,
        api_version: str = API_VERSION,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = PAGE_SIZE,
        max_pages: int = MAX_PAGES,
    ) -> StripeConnectProvider:
        """The provider with ``transport``'s retries, timeouts and 429 backoff.

        The path for an application's settings: build one :class:`StripeTransportOptions`
        (validated when built) and pass it here.
        """
        if not isinstance(transport, StripeTransportOptions):
            msg = f"transport must be a StripeTransportOptions, got {type(transport).__name__}"
            raise InvalidInputError(msg, field="transport")
        return cls(
            api_key,
            base_url=base_url,
            api_version=api_version,
            max_network_retries=transport.max_network_retries,
            connect_timeout_s=transport.connect_timeout_s,
            read_timeout_s=transport.read_timeout_s,
            rate_limit_retries=transport.rate_limit_retries,
            rate_limit_backoff_s=transport.rate_limit_backoff_s,
            rate_limit_backoff_max_s=transport.rate_limit_backoff_max_s,
            sleep=sleep,
            page_size=page_size,
            max_pages=max_pages,
        )

    @property
    def transport(self) -> StripeTransportOptions:
        """The retries, timeouts and 429 backoff this provider uses."""
        return self._transport

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
        params = transfer_params(request)
        options: stripe.RequestOptions = {"idempotency_key": request.idempotency_key}
        context = {"payout_id": request.payout_id, "idempotency_key": request.idempotency_key}
        created = self._call(
            "create_transfer",
            functools.partial(self._client.v1.transfers.create, params, options),
            context,
        )
        return to_transfer(created.to_dict(), "create_transfer")

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
        params: Raw = {"transfer_group": transfer_group or payout_id}
        for raw in self._pages("find_transfer", self._list_transfers_page, params, payout_id):
            transfer = to_transfer(raw, "find_transfer")
            if transfer.payout_id == payout_id:
                found = transfer  # newest first: the last match is the oldest
        return found

    def list_transfers(self, created_from: datetime, created_to: datetime) -> Iterator[Transfer]:
        """Every transfer created in ``[created_from, created_to)``, newest first.

        The window is checked now; pages are fetched as the iterator is consumed.
        """
        params: Raw = {"created": created_window(created_from, created_to)}
        pages = self._pages("list_transfers", self._list_transfers_page, params, None)
        return (to_transfer(raw, "list_transfers") for raw in pages)

    def list_balance_transactions(
        self, created_from: datetime, created_to: datetime
    ) -> Iterator[BalanceTransaction]:
        """Every balance transaction created in ``[created_from, created_to)``, newest first."""
        params: Raw = {"created": created_window(created_from, created_to)}
        pages = self._pages(
            "list_balance_transactions", self._list_balance_transactions_page, params, None
        )
        return (to_balance_transaction(raw) for raw in pages)

    def reverse_transfer(
        self, transfer_id: str, amount_minor: int, idempotency_key: str
    ) -> TransferReversal:
        """POST /v1/transfers/{id}/reversals under ``idempotency_key``."""
        context = {"transfer_id": transfer_id, "idempotency_key": idempotency_key}
        params = reversal_params(transfer_id, amount_minor, idempotency_key, context)
        options: stripe.RequestOptions = {"idempotency_key": idempotency_key}
        reversal = self._call(
            "reverse_transfer",
            functools.partial(
                self._client.v1.transfers.reversals.create, transfer_id, params, options
            ),
            context,
        )
        return to_reversal(reversal.to_dict())

    # ------------------------------------------------------------------ beyond the port

    def connected_account_status(self, account_id: str) -> ConnectedAccountStatus:
        """GET /v1/accounts/{id}: transfers capability, payouts, requirements."""
        context = {"account_id": account_id}
        check_request_text("account_id", account_id, ID_MAX_LEN, context)
        account = self._call(
            "connected_account_status",
            functools.partial(self._client.v1.accounts.retrieve, account_id),
            context,
        )
        return to_account_status(account.to_dict())

    # ------------------------------------------------------------------ plumbing

    def _list_transfers_page(self, params: Raw) -> Raw:
        typed = cast("TransferListParams", params)
        return self._client.v1.transfers.list(typed).to_dict()

    def _list_balance_transactions_page(self, params: Raw) -> Raw:
        typed = cast("BalanceTransactionListParams", params)
        return self._client.v1.balance_transactions.list(typed).to_dict()

    def _pages(
        self,
        operation: str,
        fetch: Callable[[Raw], Raw],
        params: Mapping[str, Any],
        payout_id: str | None,
    ) -> Iterator[Raw]:
        """Yield every object of a Stripe list, page by page (at most ``max_pages`` pages)."""
        context = {"payout_id": payout_id} if payout_id is not None else {}
        cursor: str | None = None
        for _ in range(self._max_pages):
            page_params: Raw = {**params, "limit": self._page_size}
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
            cursor = text(data[-1], "id", operation)
        limit = self._max_pages * self._page_size
        msg = f"{operation} found more than {limit} objects; narrow the time window"
        raise InvalidInputError(msg, operation=operation, limit=limit)

    def _call(self, operation: str, send: Callable[[], _T], context: Mapping[str, str]) -> _T:
        """Run one SDK call, retrying 429 with backoff, translating every Stripe error.

        After a 429 the wait is Stripe's ``Retry-After`` when it gives one, else capped
        exponential backoff; at most ``rate_limit_backoff_max_s`` either way.
        """
        attempts = self._transport.rate_limit_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return send()
            except stripe.RateLimitError as exc:
                if attempt == attempts:
                    raise translate(
                        operation, exc, context, attempts, secret=self._api_key, host=self._host
                    ) from None
                wait_s = self._transport.rate_limit_wait_s(attempt, retry_after_s(exc.headers))
                self._sleep(wait_s)
            except stripe.StripeError as exc:
                raise translate(
                    operation, exc, context, attempt, secret=self._api_key, host=self._host
                ) from None
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
