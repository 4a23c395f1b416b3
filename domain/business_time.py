"""Business time: the dates and times the ledger accepts for ``effective_at`` and for every
date a command or a query takes.

Business dates lie between :data:`FIRST_DAY` (1900-01-01) and :data:`LAST_DAY`
(9998-12-31), inclusive, and ``effective_at`` must be timezone-aware with its UTC date in that
range.  The range is wider than any real contract, and far enough from the ends of the
calendar (years 1 and 9999) that a time-zone shift, a day subtracted for an opening balance, a
day added for the end of a statement or the months of an instalment schedule never overflow
(Python's ``date`` stops at 9999-12-31).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from creator_ledger.domain.errors import InvalidInputError

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)
ACCEPTED = f"business dates from {FIRST_DAY} to {LAST_DAY}"


def check_day(value: date, *, field: str) -> date:
    """``value`` if it is a business date in range (see the module docstring)."""
    if isinstance(value, datetime) or not isinstance(value, date):
        msg = f"{field} must be a date (YYYY-MM-DD), got {type(value).__name__}"
        raise InvalidInputError(msg, field=field)
    if not FIRST_DAY <= value <= LAST_DAY:
        msg = f"{field} {value} is outside the range the ledger accepts: {ACCEPTED}"
        raise InvalidInputError(msg, field=field, value=str(value))
    return value


def check_time(value: datetime, *, field: str = "effective_at") -> datetime:
    """``value`` in UTC, if it is timezone-aware and its UTC date is a business date."""
    if not isinstance(value, datetime):
        msg = f"{field} must be a timezone-aware datetime, got {type(value).__name__}"
        raise InvalidInputError(msg, field=field)
    if value.utcoffset() is None:
        raise InvalidInputError(f"{field} must be timezone-aware (e.g. UTC)", field=field)
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None  # beyond the calendar once shifted to UTC
    if utc is None or not FIRST_DAY <= utc.date() <= LAST_DAY:
        msg = (
            f"{field} {value.isoformat()} is outside the range the ledger accepts: {ACCEPTED}"
            " (in UTC)"
        )
        raise InvalidInputError(msg, field=field, value=value.isoformat())
    return utc
