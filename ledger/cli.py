"""The ``creator-ledger`` command line: parse, build, one call, print.

Tables for people, ``--json`` for machines, progress bars on long work.  Exit codes: 0 ok,
1 discrepancies or failed items, 2 bad usage or bad input.  The commands live by subject:
:mod:`.cli_queries`, :mod:`.cli_payouts`, :mod:`.cli_audit`, :mod:`.cli_demo`; this module
assembles them.
"""

from __future__ import annotations

import typer

from creator_ledger.ledger import cli_queries
from creator_ledger.ledger.cli_audit import audit
from creator_ledger.ledger.cli_demo import demo
from creator_ledger.ledger.cli_payouts import payouts_app, reconcile_provider_command
from creator_ledger.ledger.cli_support import (
    DatabaseOption,
    JsonOption,
    guarded,
    opened,
    progress_bar,
    settings_for,
)
from creator_ledger.ledger.migrate import migrate as run_migrations
from creator_ledger.ledger.render import console, print_json, print_report

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
app.command()(cli_queries.journal)
app.command()(demo)
app.command()(audit)
reconcile_app.command("provider")(reconcile_provider_command)


# -- migrate ---------------------------------------------------------------------------------


@app.command()
def migrate(database: DatabaseOption = None) -> None:
    """Apply the PostgreSQL schema in migrations/ (idempotent; records what it applied)."""
    settings = settings_for(database)
    if not settings.is_postgres:
        console.print("SQLite needs no migrations: the embedded store creates its schema itself.")
        return
    applied = guarded(lambda: run_migrations(settings))
    console.print(f"applied: {', '.join(applied)}" if applied else "up to date: nothing to apply")


# -- queries ---------------------------------------------------------------------------------


@projections_app.command("catch-up")
def projections_catch_up(database: DatabaseOption = None) -> None:
    """Apply every event not yet in the read models."""
    with opened(database) as cl:
        pending = cl.pending_events()
        with progress_bar("catching up") as bar:
            task = bar.add_task("events", total=pending)
            n = cl.catch_up(progress=lambda k: bar.advance(task, k))
    console.print(f"applied {n:,} events")


@projections_app.command("rebuild")
def projections_rebuild(database: DatabaseOption = None) -> None:
    """Forget the read models and replay every event from the first."""
    with opened(database) as cl:
        total = cl.events_recorded()
        with progress_bar("rebuilding") as bar:
            task = bar.add_task("events", total=total)
            n = cl.rebuild_read_models(progress=lambda k: bar.advance(task, k))
    console.print(f"rebuilt read models from {n:,} events")


# -- reconcile -------------------------------------------------------------------------------


@reconcile_app.command("internal")
def reconcile_internal(database: DatabaseOption = None, json: JsonOption = False) -> None:
    """Read models vs a replay of the events, trial balance, funds, account books."""
    with opened(database) as cl:
        report = guarded(cl.reconcile_internal)
    if json:
        print_json(report.model_dump(mode="json") | {"clean": report.clean})
    else:
        print_report(report)
    raise typer.Exit(0 if report.clean else 1)


# -- demo ------------------------------------------------------------------------------------


def main() -> None:
    app()


if __name__ == "__main__":
    main()
