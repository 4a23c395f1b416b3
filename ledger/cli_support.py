"""What the CLI commands share: options, opening the ledger, errors and exit codes, progress
bars.

Exit codes (:class:`ExitCode`, documented in the README): 0 ok; 1 discrepancies or failed
items; 2 bad usage or input; 3 cannot reach the database or the payment provider, or the
database is busy (a write could not get the events table's lock in time); 4 the
database is not set up (missing, or migrations to apply: run ``creator-ledger migrate``); 5
a stored event cannot be read (changed outside the ledger: run ``creator-ledger verify``);
70 an internal error (a bug).  Every error is one line on stderr, with secrets masked; only
``--debug`` adds the Python traceback.
"""

from __future__ import annotations

import enum
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from creator_ledger.domain.errors import (
    DatabaseUnavailableError,
    LedgerError,
    NotMigratedError,
    ProviderUnavailableError,
    UnreadableEventError,
)
from creator_ledger.ledger.facade import CreatorLedger
from creator_ledger.ledger.logs import LogFormat, redact_secrets, register_secrets
from creator_ledger.ledger.render import err_console
from creator_ledger.ledger.settings import Settings
from creator_ledger.ledger.validation import check_actor

T = TypeVar("T")

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar="LEDGER_DATABASE_URL",
        help="sqlite:///path.sqlite or postgresql://user@host:port/db (default: sqlite:///creator-ledger.sqlite)",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
ActorOption = Annotated[
    str | None,
    typer.Option(
        "--actor",
        envvar="LEDGER_ACTOR",
        help="Who issues the command, as kind:name (e.g. op:alice@example.com); recorded.",
    ),
]


def actor_or_fail(actor: str | None) -> str:
    """The ``--actor`` given, checked; without one, bad usage (exit 2) saying how to give it."""
    try:
        return check_actor(actor)
    except LedgerError as e:
        fail(e.message)


class ExitCode(enum.IntEnum):
    """What the command line's exit status means (the README's table)."""

    OK = 0
    DISCREPANCIES = 1  # discrepancies found, or items that failed
    BAD_USAGE = 2  # bad usage or bad input: nothing was written
    UNAVAILABLE = 3  # cannot reach the database or the payment provider, or it is busy
    NOT_MIGRATED = 4  # the database is missing or not migrated: run `creator-ledger migrate`
    UNREADABLE = 5  # a stored event cannot be read (changed outside the ledger): run verify
    INTERNAL = 70  # a bug (EX_SOFTWARE): --debug prints the traceback


def exit_code_for(error: LedgerError) -> ExitCode:
    if isinstance(error, DatabaseUnavailableError | ProviderUnavailableError):
        return ExitCode.UNAVAILABLE
    if isinstance(error, NotMigratedError):
        return ExitCode.NOT_MIGRATED
    if isinstance(error, UnreadableEventError):
        return ExitCode.UNREADABLE
    return ExitCode.BAD_USAGE


@dataclass
class CliState:
    """What the app's own options set for every command (``--debug``, ``--log-format``,
    ``--log-level``)."""

    debug: bool = False
    log_format: LogFormat = "text"
    log_level: str | None = None  # None: WARNING for one-shot commands, settings for servers


STATE = CliState()


def fail(message: str, code: int = 2) -> NoReturn:
    if STATE.debug and sys.exc_info()[1] is not None:
        traceback.print_exc(file=sys.stderr)
    typer.echo(f"error: {redact_secrets(message)}", err=True)
    raise typer.Exit(code)


def fail_on(error: LedgerError) -> NoReturn:
    """Exit with ``error``'s message and its :class:`ExitCode`."""
    fail(error.message, exit_code_for(error))


def report_crash(error: BaseException) -> int:
    """For an exception no command handled: one line (the traceback with ``--debug``); returns
    the exit code."""
    if STATE.debug:
        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, KeyboardInterrupt):
        typer.echo("error: interrupted", err=True)
        return 130
    if isinstance(error, LedgerError):
        typer.echo(f"error: {redact_secrets(error.message)}", err=True)
        return int(exit_code_for(error))
    first = (str(error).strip().splitlines() or [""])[0]
    typer.echo(
        f"error: internal error ({type(error).__name__}: {redact_secrets(first)});"
        " run with --debug for the traceback and report it",
        err=True,
    )
    return int(ExitCode.INTERNAL)


def settings_for(database: str | None) -> Settings:
    """The settings from the environment, with ``--database`` on top; bad ones exit 2."""
    try:
        settings = (
            Settings.from_env(None, database_url=database) if database else Settings.from_env()
        )
    except LedgerError as e:
        fail_on(e)
    register_secrets(  # masked in every error and log line from here on
        settings.stripe_secret_key.get_secret_value() if settings.stripe_secret_key else None,
        settings.stripe_webhook_secret.get_secret_value()
        if settings.stripe_webhook_secret
        else None,
        settings.postgres_parts()["password"] if settings.is_postgres else None,
    )
    return settings


@contextmanager
def opened(database: str | None, *, create: bool = True) -> Iterator[CreatorLedger]:
    """The ledger ``database`` names; read commands pass ``create=False``, so a mistyped
    SQLite path is an error (exit 2) instead of a new, empty ledger."""
    settings = settings_for(database)
    try:
        with CreatorLedger.open(settings, create=create) as cl:
            yield cl
    except LedgerError as e:
        fail_on(e)


def guarded(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except LedgerError as e:
        fail_on(e)


def progress_bar(label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,  # stderr: stdout stays clean for --json and --csv
        transient=True,
        disable=not sys.stderr.isatty(),
    )


def parse_day(text: str) -> date:
    """A business date from ``YYYY-MM-DD``; bad usage (exit 2) otherwise."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{text!r} is not a date: use YYYY-MM-DD")


def optional_day(text: str | None) -> date | None:
    return None if text is None else parse_day(text)
