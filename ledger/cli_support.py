"""What the CLI commands share: options, opening the ledger, errors, progress bars."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from creator_ledger.domain.errors import LedgerError
from creator_ledger.ledger.facade import CreatorLedger
from creator_ledger.ledger.render import console
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
        raise


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings_for(database: str | None) -> Settings:
    """The settings from the environment, with ``--database`` on top; bad ones exit 2."""
    try:
        if database:
            return Settings.from_env(None, database_url=database)
        return Settings.from_env()
    except LedgerError as e:
        fail(e.message)
        raise


@contextmanager
def opened(database: str | None, *, create: bool = True) -> Iterator[CreatorLedger]:
    """The ledger ``database`` names; read commands pass ``create=False``, so a mistyped
    SQLite path is an error (exit 2) instead of a new, empty ledger."""
    settings = settings_for(database)
    try:
        with CreatorLedger.open(settings, create=create) as cl:
            yield cl
    except LedgerError as e:
        fail(e.message)


def guarded(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except LedgerError as e:
        fail(e.message)
        raise  # unreachable: fail() exits


def progress_bar(label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not sys.stderr.isatty(),
    )


def parse_day(text: str) -> date:
    """A business date from ``YYYY-MM-DD``; bad usage (exit 2) otherwise."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{text!r} is not a date: use YYYY-MM-DD")
        raise


def optional_day(text: str | None) -> date | None:
    return None if text is None else parse_day(text)
