from __future__ import annotations

import pytest
from iso4217 import Currency

from creator_ledger.domain.errors import (
    CurrencyMismatchError,
    InvalidAmountError,
    UnknownCurrencyError,
)
from creator_ledger.domain.iso4217_data import EXPONENTS
from creator_ledger.domain.money import (
    BIGINT_MAX,
    BIGINT_MIN,
    Money,
    check_amount,
    currency_exponent,
    format_minor,
)


def test_the_currency_table_is_the_iso_4217_data_of_the_installed_package() -> None:
    expected = {c.code: c.exponent for c in Currency if c.exponent is not None}
    assert dict(EXPONENTS) == expected, "regenerate with: python tools/gen_iso4217.py"


@pytest.mark.parametrize(
    ("code", "exponent"), [("JPY", 0), ("USD", 2), ("EUR", 2), ("BHD", 3), ("CLF", 4)]
)
def test_exponents_come_from_iso_4217(code: str, exponent: int) -> None:
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize("code", ["XYZ", "usd", "US", "", "XAU", 840])
def test_unknown_or_malformed_currencies_are_refused(code: object) -> None:
    with pytest.raises(UnknownCurrencyError, match="ISO 4217"):
        Money(1, code)  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [1.0, 12.5, "12", None, True])
def test_non_integer_amounts_are_refused_with_what_is_accepted(amount: object) -> None:
    with pytest.raises(InvalidAmountError, match="integer number of minor units"):
        check_amount(amount)


def test_amounts_are_bounded_to_postgresql_bigint() -> None:
    assert Money(BIGINT_MAX, "USD").amount_minor == BIGINT_MAX
    assert Money(BIGINT_MIN, "USD").amount_minor == BIGINT_MIN
    with pytest.raises(InvalidAmountError, match="64-bit"):
        Money(BIGINT_MAX + 1, "USD")
    with pytest.raises(InvalidAmountError, match="64-bit"):
        check_amount(2**63)


def test_zero_and_negative_amounts_are_refused_unless_allowed() -> None:
    with pytest.raises(InvalidAmountError, match="more than zero"):
        check_amount(0)
    with pytest.raises(InvalidAmountError, match="more than zero"):
        check_amount(-5)
    assert check_amount(0, allow_zero=True) == 0
    assert check_amount(-5, positive=False) == -5


def test_arithmetic_stays_within_one_currency() -> None:
    assert Money(150, "USD") + Money(50, "USD") == Money(200, "USD")
    assert Money(150, "USD") - Money(200, "USD") == Money(-50, "USD")
    assert Money(1, "USD") < Money(2, "USD")
    with pytest.raises(CurrencyMismatchError):
        Money(1, "USD") + Money(1, "EUR")
    with pytest.raises(CurrencyMismatchError):
        _ = Money(1, "USD") < Money(1, "EUR")


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("12.34", "USD", 1234), ("1000", "JPY", 1000), ("0.125", "BHD", 125), ("-3.5", "EUR", -350)],
)
def test_major_units_parse_exactly(text: str, currency: str, minor: int) -> None:
    assert Money.parse(text, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    ("text", "currency"), [("1.234", "USD"), ("1.5", "JPY"), ("abc", "USD"), ("inf", "USD")]
)
def test_parsing_refuses_what_the_currency_cannot_hold(text: str, currency: str) -> None:
    with pytest.raises(InvalidAmountError):
        Money.parse(text, currency)


def test_formatting_uses_the_currency_exponent() -> None:
    assert format_minor(-123456, "USD") == "-1,234.56 USD"
    assert format_minor(5, "JPY") == "5 JPY"
    assert format_minor(1005, "BHD") == "1.005 BHD"
