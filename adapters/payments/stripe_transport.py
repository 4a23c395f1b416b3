"""How the Stripe adapter talks to Stripe: retries, timeouts and rate-limit backoff, as one value.

:class:`StripeTransportOptions` is what an application's settings hand to
:meth:`~.stripe_connect.StripeConnectProvider.from_transport_options`; its defaults are the
adapter's defaults, and every field is bounded (no unbounded retry, wait or timeout).

* ``max_network_retries``: the SDK's own retries of connection errors, 409 and 5xx, under the
  same idempotency key.
* ``connect_timeout_s`` / ``read_timeout_s``: per HTTP attempt; a read that outlives it is
  "outcome unknown" (Stripe may have acted).
* ``rate_limit_retries``, ``rate_limit_backoff_s``, ``rate_limit_backoff_max_s``: the adapter's
  own retries of 429 (the SDK retries it only when Stripe says ``Stripe-Should-Retry: true``).
  The wait is what Stripe asks for in ``Retry-After`` (seconds) when it says, else capped
  exponential backoff; either way at most ``rate_limit_backoff_max_s``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from creator_ledger.domain.errors import InvalidInputError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_MAX_NETWORK_RETRIES",
    "DEFAULT_RATE_LIMIT_BACKOFF_MAX_S",
    "DEFAULT_RATE_LIMIT_BACKOFF_S",
    "DEFAULT_RATE_LIMIT_RETRIES",
    "DEFAULT_READ_TIMEOUT_S",
    "StripeTransportOptions",
    "check_range",
    "retry_after_s",
]

DEFAULT_MAX_NETWORK_RETRIES: Final = 2
DEFAULT_CONNECT_TIMEOUT_S: Final = 3.0
DEFAULT_READ_TIMEOUT_S: Final = 15.0
DEFAULT_RATE_LIMIT_RETRIES: Final = 4
DEFAULT_RATE_LIMIT_BACKOFF_S: Final = 0.5
DEFAULT_RATE_LIMIT_BACKOFF_MAX_S: Final = 8.0

MAX_RETRIES: Final = 10
MAX_SECONDS: Final = 120.0
#: ``Retry-After`` as delta-seconds (RFC 9110; a fraction tolerated).  The HTTP-date form is not
#: used by Stripe and falls back to the adapter's own backoff.
_RETRY_AFTER: Final = re.compile(r"\s*(\d{1,9}(?:\.\d{1,9})?)\s*")


@dataclass(frozen=True, slots=True)
class StripeTransportOptions:
    """Retries, timeouts and 429 backoff of the Stripe adapter; validated on construction."""

    max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    rate_limit_retries: int = DEFAULT_RATE_LIMIT_RETRIES
    rate_limit_backoff_s: float = DEFAULT_RATE_LIMIT_BACKOFF_S
    rate_limit_backoff_max_s: float = DEFAULT_RATE_LIMIT_BACKOFF_MAX_S

    def __post_init__(self) -> None:
        check_range("max_network_retries", self.max_network_retries, 0, MAX_RETRIES)
        check_range("rate_limit_retries", self.rate_limit_retries, 0, MAX_RETRIES)
        for name in ("connect_timeout_s", "read_timeout_s", "rate_limit_backoff_max_s"):
            value = getattr(self, name)
            if not _is_seconds(value) or not 0 < value <= MAX_SECONDS:
                msg = f"{name} must be a number of seconds in (0, {MAX_SECONDS:g}], got {value!r}"
                raise InvalidInputError(msg, field=name)
        backoff = self.rate_limit_backoff_s
        if not _is_seconds(backoff) or not 0 <= backoff <= self.rate_limit_backoff_max_s:
            msg = (
                "rate_limit_backoff_s must be a number of seconds in [0,"
                f" rate_limit_backoff_max_s={self.rate_limit_backoff_max_s:g}], got {backoff!r}"
            )
            raise InvalidInputError(msg, field="rate_limit_backoff_s")

    def rate_limit_wait_s(self, attempt: int, retry_after: float | None) -> float:
        """How long to wait after the ``attempt``-th answer 429 (1-based) before the next try.

        Stripe's ``Retry-After`` when it gave one, else ``rate_limit_backoff_s * 2**(attempt-1)``;
        never more than ``rate_limit_backoff_max_s``.
        """
        wanted = (
            retry_after
            if retry_after is not None
            else self.rate_limit_backoff_s * 2 ** (attempt - 1)
        )
        return min(wanted, self.rate_limit_backoff_max_s)


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """The ``Retry-After`` of a reply in seconds, or None (absent, or not delta-seconds).

    Header names are compared case-insensitively (the SDK hands over whatever its HTTP client
    returned).
    """
    if not headers:
        return None
    for name, value in headers.items():
        if isinstance(name, str) and name.lower() == "retry-after":
            match = _RETRY_AFTER.fullmatch(value) if isinstance(value, str) else None
            return float(match.group(1)) if match else None
    return None


def check_range(name: str, value: int, low: int, high: int) -> None:
    """``value`` is an ``int`` (not a ``bool``) in ``low..high``, else InvalidInputError."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        msg = f"{name} must be an integer in {low}..{high}, got {value!r}"
        raise InvalidInputError(msg, field=name)


def _is_seconds(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
