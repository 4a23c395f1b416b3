"""``creator-ledger demo``: the seed story on a fresh embedded ledger, and what it prints."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from creator_ledger.adapters.payments.port import PaymentProvider
from creator_ledger.ledger import bootstrap
from creator_ledger.ledger import demo as demo_story
from creator_ledger.ledger.cli_payouts_render import print_plan, print_run, print_status
from creator_ledger.ledger.cli_queries import (
    balance_line,
    print_fund,
    print_statement,
    print_trial_balance,
)
from creator_ledger.ledger.cli_support import fail, guarded, progress_bar
from creator_ledger.ledger.facade import CreatorLedger
from creator_ledger.ledger.render import console, money, print_report, table
from creator_ledger.ledger.settings import Settings


def demo_file(database: str | None) -> Path | None:
    """The new SQLite file ``--database`` names (a path, or a ``sqlite:///`` URL as the other
    commands take it), or None; exit 2, with nothing made, for any other URL, a file or
    directory that exists, a folder that does not, or a "folder" that is a file."""
    if database is None:
        return None
    if "://" in database:
        if not database.startswith("sqlite:///"):
            fail(
                f"--database {database.split('://', 1)[0]}://...: the demo plays on a fresh"
                " SQLite file; give its path (demo.sqlite) or sqlite:///path/demo.sqlite"
            )
        database = database.removeprefix("sqlite:///")
    if not database.strip():
        fail("--database is empty: give the path of a new SQLite file (demo.sqlite)")
    path = Path(database)
    if path.exists() or path.is_symlink():
        fail(f"{path} exists already: the demo needs a fresh ledger, give a new file")
    if path.parent.exists() and not path.parent.is_dir():
        fail(f"{path.parent} is a file, not a folder: give a path in a folder")
    if not path.parent.is_dir():
        fail(f"folder {path.parent} does not exist: create it first, or keep the demo elsewhere")
    return path


def demo(
    seed: Annotated[
        int, typer.Option(help="Seed of the story; the same seed prints the same output.")
    ] = 7,
    creators: Annotated[int, typer.Option(min=30, max=200_000, help="How many creators.")] = 1_000,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="SQLite file to keep: a path (demo.sqlite) or sqlite:///path; it must not exist."
            " Default: a temporary one.",
        ),
    ] = None,
) -> None:
    """Play the seed story on a fresh embedded (SQLite) ledger and print what it did."""
    kept = demo_file(database)
    with tempfile.TemporaryDirectory(prefix="creator-ledger-demo-") as tmp:
        path = kept or Path(tmp) / "demo.sqlite"
        clock = demo_story.StoryClock(demo_story.at(demo_story.START, 0))
        provider = bootstrap.memory_provider(clock=clock)
        settings = Settings(
            database_url=f"sqlite:///{path}",
            payment_provider="memory",
            new_account_hold_days=demo_story.NEW_ACCOUNT_HOLD_DAYS,
        )
        with CreatorLedger.open(settings, clock=clock) as cl:
            steps = demo_story.STEPS
            with progress_bar("seed story") as bar:
                task = bar.add_task("steps", total=len(steps))
                result = guarded(
                    lambda: demo_story.play(
                        cl,
                        clock=clock,
                        provider=provider,
                        seed=seed,
                        creators=creators,
                        progress=lambda _m: bar.advance(task),
                    )
                )
            print_demo(cl, result, provider)
        if kept is not None:
            console.print(f"\nledger kept in {kept}")


def print_demo(cl: CreatorLedger, result: demo_story.DemoResult, provider: PaymentProvider) -> None:
    console.print(
        f"[bold]creator-ledger demo[/bold] — seed {result.seed}, {result.creators:,} creators\n"
    )
    print_fund(cl.fund(demo_story.FUND))
    owed = cl.owed("USD", top=10)
    console.print(
        table(
            f"Creator balances: {owed.creators:,} creators are owed"
            f" {money(owed.total_minor, 'USD')} (top 10)",
            ["creator", "payable", "held", "receivable"],
            [
                (
                    top.creator_ref,
                    *(
                        money(getattr(b, f), "USD")
                        for f in ("payable_minor", "held_minor", "receivable_minor")
                    ),
                )
                for top in owed.largest
                for b in cl.balances(top.creator_ref).balances
            ],
            right=(1, 2, 3),
        )
    )
    for ref in (demo_story.creator_ref(21), demo_story.NDA_CREATOR):
        for b in cl.balances(ref).balances:
            console.print(f"  {ref}: {balance_line(b)}")
    counted_in = result.facts["late_usage_counted_in"]
    console.print(f"  late usage for {demo_story.START} was counted in period {counted_in}")
    print_trial_balance(cl.trial_balance())
    assert result.plan is not None
    assert result.status is not None
    console.print("\n[bold]Second payout run[/bold]: the dry run an operator sees first")
    print_plan(result.plan)
    for run in result.runs:
        print_run(run)
    console.print(
        "\n[bold]Second payout run[/bold]: proposed, approved by another person, executed"
    )
    print_status(result.status)
    print_statement(
        cl.statement(result.statement_creator, since=demo_story.START, until=date(2026, 6, 30))
    )
    print_statement(
        cl.statement(demo_story.NDA_CREATOR, since=demo_story.START, until=date(2026, 6, 30))
    )
    print_report(cl.reconcile_internal())
    window = (demo_story.at(demo_story.START, 0), demo_story.at(date(2026, 7, 1), 0))
    print_report(cl.reconcile_provider(provider, since=window[0], until=window[1]))
