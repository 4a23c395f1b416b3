"""Vesting of exclusivity bonuses.

Day counts:

* A term's days are ``starts_on`` up to, not including, ``ends_on``: ``ends_on`` is the day the
  term is over (a year from 2026-01-01 has ``ends_on`` 2027-01-01: 365 days).
* A day vests when it is over.  :func:`vested_minor` is what has vested when day ``on`` begins
  (the days before it); :func:`vested_through` what has vested by the end of day ``day`` (that
  day counts: a statement's ``until``).
* A breach on day D claws back what vests from D on: the breach day does not vest.

Rules (``vesting`` field of an agreement):

* ``"linear"``: ``vested = floor(total * days / term_days)``, where ``days`` is the number of
  the term's days that have vested, clamped to ``[0, term_days]``.  Rounded down, so the
  platform never treats an unvested minor unit as vested; the last day vests the rest.
* ``"cliff"``: nothing vests before the end of the term; everything vests with its last day.
"""

from __future__ import annotations

from datetime import date, timedelta

from creator_ledger.domain.errors import InvalidInputError

VESTING_RULES = ("linear", "cliff")


def check_vesting_rule(rule: str) -> str:
    if rule not in VESTING_RULES:
        msg = f"unknown vesting rule {rule!r}: accepted are {', '.join(VESTING_RULES)}"
        raise InvalidInputError(msg, vesting=rule)
    return rule


def vested_minor(total_minor: int, *, starts_on: date, ends_on: date, on: date, rule: str) -> int:
    """How much of ``total_minor`` has vested when day ``on`` begins (its days before ``on``)."""
    assert total_minor >= 0
    assert ends_on > starts_on
    term_days = (ends_on - starts_on).days
    elapsed = min(max((on - starts_on).days, 0), term_days)
    if rule == "cliff":
        return total_minor if elapsed >= term_days else 0
    assert rule == "linear", rule
    return (total_minor * elapsed) // term_days


def vested_through(
    total_minor: int, *, starts_on: date, ends_on: date, day: date, rule: str
) -> int:
    """How much of ``total_minor`` has vested by the end of ``day`` (``day`` counts)."""
    return vested_minor(
        total_minor, starts_on=starts_on, ends_on=ends_on, on=day + timedelta(days=1), rule=rule
    )


def unvested_paid_minor(
    paid_minor: int, total_minor: int, *, starts_on: date, ends_on: date, on: date, rule: str
) -> int:
    """The paid-but-unvested part when day ``on`` begins: what a breach on ``on`` claws back
    (the breach day does not vest)."""
    vested = vested_minor(total_minor, starts_on=starts_on, ends_on=ends_on, on=on, rule=rule)
    return max(0, paid_minor - vested)
