"""Validation at the boundary: every public command's arguments are checked by pydantic (strict:
no float for an int, no string for a date) before anything is loaded or written.

A rejected argument raises the ledger's own error — the specific one where there is one
(:class:`~domain.errors.InvalidAmountError`, :class:`~domain.errors.UnknownCurrencyError`), else
:class:`~domain.errors.InvalidInputError` — saying which argument, what was wrong and what is
accepted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, ParamSpec, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    validate_call,
)

from creator_ledger.domain.business_time import check_day
from creator_ledger.domain.errors import InvalidInputError, LedgerError
from creator_ledger.domain.money import check_amount, check_currency
from creator_ledger.domain.text import check_key, check_name, check_reason, check_text

P = ParamSpec("P")
R = TypeVar("R")


def _currency(value: object) -> str:
    if isinstance(value, str):
        value = value.strip().upper()
    return check_currency(value)


def _positive(value: object) -> int:
    return check_amount(value)


def _non_negative(value: object) -> int:
    return check_amount(value, allow_zero=True)


def _day(value: date, info: ValidationInfo) -> date:
    return check_day(value, field=info.field_name or "date")


Currency = Annotated[str, BeforeValidator(_currency)]
#: A business date: 1900-01-01 .. 9998-12-31 (see :mod:`creator_ledger.domain.business_time`).
Day = Annotated[date, AfterValidator(_day)]
PositiveMinor = Annotated[int, BeforeValidator(_positive)]
NonNegativeMinor = Annotated[int, BeforeValidator(_non_negative)]
#: Caller-chosen keys: funds, programs, periods, creators, agreements, claims, items, holds,
#: payout accounts, idempotency keys (the rules: :mod:`creator_ledger.domain.text`).
Key = Annotated[str, BeforeValidator(check_key)]
ACTOR_PATTERN = r"^[a-z][a-z0-9-]{0,31}:[!-~]+$"
#: Who issues a command, as ``kind:name``: ``op:alice@example.com``, ``svc:usage-ingest``.
Actor = Annotated[
    str,
    StringConstraints(min_length=3, max_length=200, pattern=ACTOR_PATTERN),
]
ACTOR_HELP = (
    "actor names who issues the command, as kind:name (e.g. op:alice@example.com or"
    " svc:usage-ingest): pass actor=... in Python; the CLI takes --actor or LEDGER_ACTOR"
)
#: Text a command keeps, each kind checked by :mod:`creator_ledger.domain.text` (no control
#: characters, bounded length; the error names the argument and says what is accepted):
#: a name (a fund's, a program's, a creator's display name): one line, 1..200 characters;
Name = Annotated[str, BeforeValidator(check_name)]
#: free text (a note, a reference, an optional reason): one line, at most 2,000 characters;
Text = Annotated[str, BeforeValidator(check_text)]
#: a reason that must be given (a hold's, a rejection's, a breach's): as Text, not blank;
Reason = Annotated[str, BeforeValidator(check_reason)]
#: multi-line text (a claim item's description): as Text, and it may keep line feeds and tabs.
Description = Annotated[str, BeforeValidator(functools.partial(check_text, multiline=True))]

_CONFIG = ConfigDict(strict=True, arbitrary_types_allowed=False)


def translate(error: ValidationError) -> LedgerError:
    """The ledger error for a pydantic error: the first domain error inside, or a summary."""
    problems = []
    for item in error.errors():
        # Union and function-validator steps (``tuple[...]``) are pydantic's, not the caller's.
        where = ".".join(str(p) for p in item["loc"] if not (isinstance(p, str) and "[" in p))
        if where == "actor":
            got = "nothing" if "missing" in item["type"] else repr(item.get("input"))
            return InvalidInputError(f"{ACTOR_HELP}; got {got}", field="actor")
        inner = (item.get("ctx") or {}).get("error")
        if isinstance(inner, LedgerError):
            if not inner.message.startswith(f"{item['loc'][-1]} "):  # named already
                inner.message = f"{where}: {inner.message}"
            inner.args = (inner.message,)
            return inner
        problems.append(f"{where}: {item['msg']} (got {item.get('input')!r})")
    return InvalidInputError("invalid input: " + "; ".join(problems), problems=problems)


def command(fn: Callable[P, R]) -> Callable[P, R]:
    """Validate a use-case method's arguments strictly, translating errors (see module doc)."""
    validated = validate_call(config=_CONFIG)(fn)

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return validated(*args, **kwargs)
        except ValidationError as e:
            raise translate(e) from None

    return wrapper


class InputModel(BaseModel):
    """A value a caller builds and passes to a command (a program rule, a creator record):
    strict, frozen, and refusing bad input with the ledger's own errors when it is built, as a
    command does (:class:`~domain.errors.InvalidAmountError` for a zero pool,
    :class:`~domain.errors.InvalidInputError` for a NUL in a payout account), never with
    pydantic's ``ValidationError``."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise translate(e) from None


def arguments(local_vars: dict[str, Any]) -> dict[str, Any]:
    """A command's arguments, for its idempotency fingerprint (without self, the key and the
    actor: the same command under the same key is the same command, whoever repeats it)."""
    return {k: v for k, v in local_vars.items() if k not in {"self", "idempotency_key", "actor"}}


_ACTOR = re.compile(ACTOR_PATTERN)


def check_actor(actor: object) -> str:
    """``actor`` if it names who issues a command (see :data:`Actor`); else the error says how."""
    if not isinstance(actor, str) or not 3 <= len(actor) <= 200 or not _ACTOR.fullmatch(actor):
        raise InvalidInputError(f"{ACTOR_HELP}; got {actor!r}", field="actor")
    return actor
