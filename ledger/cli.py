"""The ``creator-ledger`` command line: parse, build, one call, print.

Tables for people, ``--json`` for machines (each with a ``format`` field), progress bars on
long work (on stderr).  Exit codes (:class:`~.cli_support.ExitCode`): 0 ok, 1 discrepancies or
failed items, 2 bad usage or bad input, 3 cannot reach the database or the provider, 4 the
database is not migrated, 70 an internal error.  The commands live by subject:
:mod:`.cli_queries`, :mod:`.cli_payouts`, :mod:`.cli_audit`,
:mod:`.cli_journal`, :mod:`.cli_ops`, :mod:`.cli_demo`, :mod:`.cli_verify`; this module
assembles them.
"""

from __future__ import annotations

import enum
import sys
from typing import Annotated

import typer

from creator_ledger import __version__
from creator_ledger.ledger import cli_ops, cli_queries, render
from creator_ledger.ledger.cli_audit import audit
from creator_ledger.ledger.cli_demo import demo
from creator_ledger.ledger.cli_journal import journal_app
from creator_ledger.ledger.cli_payouts import payouts_app, reconcile_provider_command
from creator_ledger.ledger.cli_support import (
    STATE,
    DatabaseOption,
    JsonOption,
    fail,
    guarded,
    opened,
    progress_bar,
    report_crash,
    settings_for,
)
from creator_ledger.ledger.cli_verify import verify
from creator_ledger.ledger.logs import configure_logging
from creator_ledger.ledger.migrate import grant_app_role
from creator_ledger.ledger.migrate import migrate as run_migrations
from creator_ledger.ledger.render import console, print_json, print_report
from creator_ledger.ledger.settings import Settings

app = typer.Typer(
    name="creator-ledger",
    help="An event-sourced, double-entry ledger for paying creators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
projections_app = typer.Typer(
    help="Read models: catch up or rebuild from the events.", no_args_is_help=True
)
reconcile_app = typer.Typer(
    help="Prove the ledger, its read models and the provider agree.", no_args_is_help=True
)
app.add_typer(projections_app, name="projections")
app.add_typer(reconcile_app, name="reconcile")
app.add_typer(payouts_app, name="payouts")
app.command()(cli_queries.balances)
app.command()(cli_queries.fund)
app.command("trial-balance")(cli_queries.trial_balance)
app.command()(cli_queries.statement)
app.add_typer(journal_app, name="journal")
app.command()(demo)
app.command()(cli_ops.worker)
app.command()(cli_ops.serve)
app.command()(audit)
app.command()(verify)
reconcile_app.command("provider")(reconcile_provider_command)


class LogFormatName(enum.StrEnum):
    text = "text"
    json = "json"


class LogLevelName(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


def _command_path(ctx: typer.Context, argv: list[str]) -> list[str]:
    """The words naming the command about to run (``["payouts", "plan"]``): the subcommands
    among ``argv``, from the app down to the command."""
    path: list[str] = []
    command: object = ctx.command
    for word in argv:
        get = getattr(command, "get_command", None)
        if get is None:
            break
        sub = get(ctx, word)
        if sub is not None:
            path.append(word)
            command = sub
    return path


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"creator-ledger {__version__}")
        raise typer.Exit(0)


@app.callback()
def app_options(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", envvar="LEDGER_DEBUG", help="Print Python tracebacks of errors."),
    ] = False,
    log_format: Annotated[
        LogFormatName,
        typer.Option("--log-format", envvar="LEDGER_LOG_FORMAT", help="Log lines on stderr."),
    ] = LogFormatName.text,
    log_level: Annotated[
        LogLevelName | None,
        typer.Option(
            "--log-level",
            envvar="LEDGER_LOG_LEVEL",
            help="Default: WARNING for one-shot commands, INFO for worker and serve.",
        ),
    ] = None,
) -> None:
    """An event-sourced, double-entry ledger for paying creators."""
    del version  # handled by its callback
    render.COMMAND_PATH[:] = _command_path(ctx, sys.argv[1:])  # --json's format names it
    STATE.debug = debug
    STATE.log_format = "json" if log_format == LogFormatName.json else "text"
    STATE.log_level = log_level.value if log_level is not None else None
    configure_logging(STATE.log_format, STATE.log_level or "WARNING")


# -- migrate ---------------------------------------------------------------------------------


@app.command()
def migrate(
    database: DatabaseOption = None,
    app_role: Annotated[
        str | None,
        typer.Option(
            "--app-role",
            help="After migrating, grant this PostgreSQL role only what the application needs"
            " (default: LEDGER_APP_ROLE).",
        ),
    ] = None,
) -> None:
    """Apply the PostgreSQL schema in migrations/ (idempotent; records what it applied); run
    it as the owner role.  With --app-role, grant the application's role what it needs."""
    settings = settings_for(database)
    if app_role is not None:
        settings = guarded(lambda: Settings.explicit(**{**dict(settings), "app_role": app_role}))
    if not settings.is_postgres:
        if settings.app_role is not None:
            fail("--app-role is for PostgreSQL: SQLite has no roles")
        console.print("SQLite needs no migrations: the embedded store creates its schema itself.")
        return
    applied = guarded(lambda: run_migrations(settings))
    where = f" (schema {settings.postgres_schema})" if settings.postgres_schema != "public" else ""
    console.print(
        f"applied{where}: {', '.join(applied)}"
        if applied
        else f"up to date{where}: nothing to apply"
    )
    role = settings.app_role
    if role is not None:
        guarded(lambda: grant_app_role(settings, role))
        console.print(
            f"granted {role}: usage on schema {settings.postgres_schema}, read the events,"
            " append them through ledger_append_events, write snapshots and the read models"
        )


# -- queries ---------------------------------------------------------------------------------


@projections_app.command("catch-up")
def projections_catch_up(database: DatabaseOption = None) -> None:
    """Apply every event not yet in the read models."""
    with opened(database, create=False) as cl:
        pending = cl.pending_events()
        with progress_bar("catching up") as bar:
            task = bar.add_task("events", total=pending)
            n = cl.catch_up(progress=lambda k: bar.advance(task, k))
    console.print(f"applied {n:,} events")


@projections_app.command("rebuild")
def projections_rebuild(database: DatabaseOption = None) -> None:
    """Forget the read models and replay every event from the first."""
    with opened(database, create=False) as cl:
        total = cl.events_recorded()
        with progress_bar("rebuilding") as bar:
            task = bar.add_task("events", total=total)
            n = cl.rebuild_read_models(progress=lambda k: bar.advance(task, k))
    console.print(f"rebuilt read models from {n:,} events")


# -- reconcile -------------------------------------------------------------------------------


@reconcile_app.command("internal")
def reconcile_internal(database: DatabaseOption = None, json: JsonOption = False) -> None:
    """Read models vs a replay of the events, trial balance, funds, account books."""
    with opened(database, create=False) as cl:
        report = guarded(cl.reconcile_internal)
    if json:
        print_json(report.model_dump(mode="json") | {"clean": report.clean})
    else:
        print_report(report)
    raise typer.Exit(0 if report.clean else 1)


# -- demo ------------------------------------------------------------------------------------


def main() -> None:
    """The ``creator-ledger`` program: no Python traceback unless --debug (see
    :class:`~.cli_support.ExitCode` for the exit codes)."""
    try:
        app()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - the last line of defence: one line, an exit code
        sys.exit(report_crash(e))


if __name__ == "__main__":
    main()
