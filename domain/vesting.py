"""Vesting of exclusivity bonuses.

Rules (``vesting`` field of an agreement):

* ``"linear"``: ``vested = floor(total * elapsed_days / term_days)``, where ``elapsed_days`` is
  the number of whole days from the start of the term to the given date, clamped to
  ``[0, term_days]``.  Rounded down, so the platform never treats an unvested minor unit as
  vested; the last day vests the rest.
* ``"cliff"``: nothing vests before the end of the term; everything vests on its last day.
"""

from __future__ import annotations

from datetime import date

from creator_ledger.domain.errors import InvalidInputError

VESTING_RULES = ("linear", "cliff")


def check_vesting_rule(rule: str) -> str:
    if rule not in VESTING_RULES:
        msg = f"unknown vesting rule {rule!r}: accepted are {', '.join(VESTING_RULES)}"
        raise InvalidInputError(msg, vesting=rule)
    return rule


def vested_minor(total_minor: int, *, starts_on: date, ends_on: date, on: date, rule: str) -> int:
    """How much of ``total_minor`` has vested by the end of day ``on``."""
    assert total_minor >= 0
    assert ends_on > starts_on
    term_days = (ends_on - starts_on).days
    elapsed = min(max((on - starts_on).days, 0), term_days)
    if rule == "cliff":
        return total_minor if elapsed >= term_days else 0
    assert rule == "linear", rule
    return (total_minor * elapsed) // term_days


def unvested_paid_minor(
    paid_minor: int, total_minor: int, *, starts_on: date, ends_on: date, on: date, rule: str
) -> int:
    """The paid-but-unvested part on ``on``: what a breach claws back."""
    vested = vested_minor(total_minor, starts_on=starts_on, ends_on=ends_on, on=on, rule=rule)
    return max(0, paid_minor - vested)
