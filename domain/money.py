"""Money: an integer number of minor units and an ISO 4217 currency code.

* No ``float`` anywhere; ``Decimal`` only for parsing human input, never in state or events.
* Amounts are bounded to PostgreSQL ``bigint`` (signed 64 bit), and so is every sum the ledger
  keeps: a balance, a budget, a fund's figures, a trial-balance line per currency and account
  kind, a period's total views and their total at a rate.  A command that would take one out of
  range is refused (:func:`check_sum_in_range`), so no read can ever overflow.  The bound that
  makes this hold for sums over many funds and creators: **all the money that can ever reach
  creators in one currency** — every fund's budget plus every reimbursement budget granted in
  it — is at most :data:`BIGINT_MAX` minor units (:mod:`domain.supply`).  Every balance and
  every trial-balance line of that currency is a part of that money (payouts, offsets,
  clawbacks and reversals only move it between accounts, never add to it), so each fits too.
* Arithmetic and comparison only within one currency.
* The exponent of each currency comes from ISO 4217 (:mod:`domain.iso4217_data`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Self

from creator_ledger.domain.errors import (
    CurrencyMismatchError,
    InvalidAmountError,
    UnknownCurrencyError,
)
from creator_ledger.domain.iso4217_data import EXPONENTS

BIGINT_MAX = 2**63 - 1
BIGINT_MIN = -(2**63)

_CODE = re.compile(r"^[A-Z]{3}$")


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point of ``currency`` (JPY 0, USD 2, BHD 3)."""
    return EXPONENTS[check_currency(currency)]


def check_currency(currency: object) -> str:
    """Return ``currency`` if it is an upper-case ISO 4217 code with a minor unit."""
    if not isinstance(currency, str) or not _CODE.match(currency):
        msg = f"currency must be a three-letter upper-case ISO 4217 code, got {currency!r}"
        raise UnknownCurrencyError(msg, currency=repr(currency))
    if currency not in EXPONENTS:
        msg = (
            f"unknown currency {currency!r}: accepted are ISO 4217 currencies with a minor "
            "unit (e.g. USD, EUR, JPY, BHD)"
        )
        raise UnknownCurrencyError(msg, currency=currency)
    return currency


def check_amount(
    amount_minor: object,
    *,
    field: str = "amount_minor",
    positive: bool = True,
    allow_zero: bool = False,
) -> int:
    """Return ``amount_minor`` if it is an ``int`` in the accepted range.

    ``positive`` (the default) accepts 1 .. BIGINT_MAX; ``allow_zero`` adds 0; with
    ``positive=False`` any bigint is accepted.  ``bool`` and ``float`` are refused.
    """
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        kind = type(amount_minor).__name__
        msg = f"{field} must be an integer number of minor units, got {kind} {amount_minor!r}"
        raise InvalidAmountError(msg, field=field, value=repr(amount_minor))
    if not BIGINT_MIN <= amount_minor <= BIGINT_MAX:
        msg = (
            f"{field} {amount_minor} is outside the 64-bit range accepted"
            f" ({BIGINT_MIN}..{BIGINT_MAX})"
        )
        raise InvalidAmountError(msg, field=field, value=str(amount_minor))
    if positive and (amount_minor < 0 or (amount_minor == 0 and not allow_zero)):
        accepted = "zero or more" if allow_zero else "more than zero"
        msg = f"{field} must be {accepted}, got {amount_minor}"
        raise InvalidAmountError(msg, field=field, value=str(amount_minor))
    return amount_minor


def check_sum_in_range(
    current_minor: int,
    change_minor: int,
    *,
    what: str,
    limit_minor: int = BIGINT_MAX,
    **fields: object,
) -> int:
    """``current_minor + change_minor`` if it stays within ``-limit_minor .. limit_minor`` (the
    64-bit range by default); else :class:`InvalidAmountError` saying which sum (``what``)
    would leave it and by how much is left."""
    total = current_minor + change_minor
    if -limit_minor - 1 <= total <= limit_minor:
        return total
    room = limit_minor - current_minor if change_minor > 0 else current_minor + limit_minor + 1
    msg = (
        f"{what} would reach {total}, beyond the 64-bit range every sum the ledger keeps must"
        f" stay in (at most {limit_minor}); at most {max(room, 0)} more can be added"
    )
    raise InvalidAmountError(msg, value=str(total), limit=str(limit_minor), **fields)


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An amount in minor units of one ISO 4217 currency."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        check_currency(self.currency)
        check_amount(self.amount_minor, positive=False)

    @classmethod
    def zero(cls, currency: str) -> Self:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Self:
        """Parse a decimal string in major units (``"12.34"`` USD -> 1234) exactly.

        More decimal places than the currency has are refused, never rounded.
        """
        exp = currency_exponent(currency)
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            msg = f"{text!r} is not a decimal amount (e.g. 12.34)"
            raise InvalidAmountError(msg, value=text) from None
        scaled = value.scaleb(exp)
        if not value.is_finite() or scaled != scaled.to_integral_value():
            msg = f"{text!r} has more than {exp} decimal places, which {currency} does not allow"
            raise InvalidAmountError(msg, value=text, currency=currency)
        return cls(int(scaled), currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            msg = f"cannot combine {self.currency} with {other.currency}"
            raise CurrencyMismatchError(msg, left=self.currency, right=other.currency)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor <= other.amount_minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor > other.amount_minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor >= other.amount_minor

    def __str__(self) -> str:
        return format_minor(self.amount_minor, self.currency)


def format_minor(amount_minor: int, currency: str) -> str:
    """``format_minor(-123456, "USD") == "-1,234.56 USD"`` (exact, no float)."""
    exp = currency_exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 10**exp)
    text = f"{major:,}" + (f".{minor:0{exp}d}" if exp else "")
    return f"{sign}{text} {currency}"
