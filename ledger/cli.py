"""The ``creator-ledger`` command line: parse, build, one call, print.

Tables for people, ``--json`` for machines, progress bars on long work.  Exit codes: 0 ok,
1 discrepancies or failed items, 2 bad usage or bad input.
"""

from __future__ import annotations

import csv
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from creator_ledger.adapters.payments.port import PaymentProvider
from creator_ledger.ledger import bootstrap
from creator_ledger.ledger import demo as demo_story
from creator_ledger.ledger.cli_payouts import (
    payouts_app,
    print_plan,
    print_run,
    reconcile_provider_command,
)
from creator_ledger.ledger.cli_support import (
    DatabaseOption,
    JsonOption,
    fail,
    guarded,
    opened,
    progress_bar,
)
from creator_ledger.ledger.facade import CreatorLedger
from creator_ledger.ledger.migrate import migrate as run_migrations
from creator_ledger.ledger.render import console, money, print_json, print_report, table
from creator_ledger.ledger.results import Statement
from creator_ledger.ledger.settings import Settings

T = TypeVar("T")

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

# -- migrate ---------------------------------------------------------------------------------


@app.command()
def migrate(database: DatabaseOption = None) -> None:
    """Apply the PostgreSQL schema in migrations/ (idempotent; records what it applied)."""
    settings = Settings.from_env() if not database else Settings(database_url=database)
    if not settings.is_postgres:
        console.print("SQLite needs no migrations: the embedded store creates its schema itself.")
        return
    applied = guarded(lambda: run_migrations(settings))
    console.print(f"applied: {', '.join(applied)}" if applied else "up to date: nothing to apply")


# -- queries ---------------------------------------------------------------------------------


@app.command()
def balances(
    creator_ref: str,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Business date YYYY-MM-DD.")] = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """A creator's payable, held and receivable balances (now, or as of a business date)."""
    on = _date(as_of) if as_of else None
    with opened(database) as cl:
        result = guarded(lambda: cl.balances(creator_ref, as_of=on))
    if json:
        print_json(result)
        return
    console.print(
        table(
            f"Balances of {creator_ref}" + (f" as of {on}" if on else ""),
            ["currency", "payable", "held", "receivable"],
            [
                (
                    b.currency,
                    money(b.payable_minor, b.currency),
                    money(b.held_minor, b.currency),
                    money(b.receivable_minor, b.currency),
                )
                for b in result.balances
            ],
            right=(1, 2, 3),
        )
    )


@app.command()
def fund(fund_key: str, database: DatabaseOption = None, json: JsonOption = False) -> None:
    """A fund's budget, committed, spent and available."""
    with opened(database) as cl:
        f = guarded(lambda: cl.fund(fund_key))
    if json:
        print_json(f)
        return
    _print_fund(f)


def _print_fund(f: Any) -> None:
    c = f.currency
    console.print(
        table(
            f"Fund {f.fund_key} — {f.name}",
            ["budget", "committed", "spent", "available"],
            [
                (
                    money(f.budget_minor, c),
                    money(f.committed_minor, c),
                    money(f.spent_minor, c),
                    money(f.available_minor, c),
                )
            ],
            right=(0, 1, 2, 3),
        )
    )


@app.command("trial-balance")
def trial_balance(database: DatabaseOption = None, json: JsonOption = False) -> None:
    """The sum of every account's balance, per currency and account kind (nets to zero)."""
    with opened(database) as cl:
        tb = guarded(cl.trial_balance)
    if json:
        print_json(
            {"by_currency": tb.by_currency, "imbalance": tb.imbalance, "balanced": tb.balanced}
        )
    else:
        _print_trial_balance(tb)
    if not tb.balanced:
        raise typer.Exit(1)


def _print_trial_balance(tb: Any) -> None:
    rows = []
    for currency, kinds in tb.by_currency.items():
        for kind, total in kinds.items():
            rows.append((currency, kind, money(total, currency)))
        rows.append((currency, "TOTAL (must be zero)", money(sum(kinds.values()), currency)))
    console.print(
        table(
            "Trial balance (debit +, credit -)",
            ["currency", "account", "balance"],
            rows,
            right=(2,),
        )
    )


@app.command()
def statement(
    creator_ref: str,
    since: Annotated[str, typer.Option("--since", help="First business date, YYYY-MM-DD.")],
    until: Annotated[str, typer.Option("--until", help="Last business date, YYYY-MM-DD.")],
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """A creator's statement for a period: every line, explained."""
    with opened(database) as cl:
        s = guarded(lambda: cl.statement(creator_ref, since=_date(since), until=_date(until)))
    if json:
        print_json(s)
    else:
        print_statement(s)


def _explain(e: dict[str, Any], currency: str) -> str:
    if "qualified_views" in e:
        text = (
            f"{e['program']} rule v{e['rule_version']}: {e['qualified_views']:,}"
            f" of {e['total_qualified_views']:,} views"
        )
        if "pool_minor" in e:
            text += f" = {e.get('share_pct', '0')}% of pool {money(e['pool_minor'], currency)}"
        if e.get("rate_micros_per_mille"):
            text += f" at {e['rate_micros_per_mille'] / 1_000_000:g} minor units per 1,000"
        if e.get("scaled_down_from_minor"):
            text += (
                f", scaled down pro rata (period cap {money(e.get('period_cap_minor'), currency)})"
            )
        if e.get("capped"):
            text += f", capped at {money(e.get('creator_cap_minor'), currency)}"
        return text
    if "instalment" in e:
        return f"agreement {e['agreement']}, instalment {e['instalment']}"
    if "item" in e:
        return f"claim {e['claim']}, item {e['item']} (see reimbursement items)"
    if "agreement" in e:
        return f"agreement {e['agreement']}: credited but unvested on the breach date"
    if "payout" in e:
        return f"payout {e['payout']}"
    return ", ".join(f"{k}={v}" for k, v in e.items())


def print_statement(s: Statement) -> None:
    console.print(f"[bold]Statement of {s.creator_ref}[/bold]  {s.since} .. {s.until}")
    for label, balances_ in (("opening", s.opening), ("closing", s.closing)):
        for b in balances_:
            console.print(f"  {label:8} {_balance_line(b)}")
    console.print(
        table(
            "Lines",
            ["date", "what", "account", "amount", "why"],
            [
                (
                    ln.effective_on,
                    ln.description,
                    ln.account,
                    money(ln.amount_minor, ln.currency),
                    _explain(ln.explanation, ln.currency),
                )
                for ln in s.lines
            ],
            right=(3,),
        )
    )
    if s.bonuses:
        console.print(
            table(
                "Exclusivity bonuses (vesting at the statement's end)",
                [
                    "agreement",
                    "total",
                    "credited",
                    "vested",
                    "rule",
                    "status",
                    "forfeited",
                    "clawed back",
                ],
                [
                    (
                        v.agreement_key,
                        money(v.total_minor, v.currency),
                        money(v.credited_minor, v.currency),
                        money(v.vested_minor, v.currency),
                        v.vesting,
                        v.status,
                        money(v.forfeited_minor, v.currency),
                        money(v.clawback_minor, v.currency),
                    )
                    for v in s.bonuses
                ],
            )
        )
    if s.reimbursements:
        console.print(
            table(
                "Reimbursement items",
                ["claim", "item", "receipt", "claimed", "decision", "approved", "reason"],
                [
                    (
                        r.claim_key,
                        f"{r.item_id}: {r.description}",
                        r.receipt_ref,
                        money(r.claimed_minor, r.currency),
                        r.status,
                        money(r.approved_minor, r.currency),
                        r.reason,
                    )
                    for r in s.reimbursements
                ],
            )
        )
    for h in s.holds:
        console.print(f"  hold {h['hold_id']} ({h['kind']}): {h['reason']}")


@app.command()
def journal(
    since: Annotated[str | None, typer.Option("--since")] = None,
    until: Annotated[str | None, typer.Option("--until")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000_000)] = 100_000,
    database: DatabaseOption = None,
) -> None:
    """Export journal lines as CSV (for the general ledger)."""
    with opened(database) as cl:
        rows = cl.journal_lines(
            since=_date(since) if since else None,
            until=_date(until) if until else None,
            limit=limit,
        )
        out = csv.writer(sys.stdout)
        out.writerow(
            [
                "entry_id",
                "effective_on",
                "entry_kind",
                "account_kind",
                "owner",
                "currency",
                "amount_minor",
                "description",
            ]
        )
        for r in rows:
            out.writerow(
                (
                    r.entry_id,
                    r.effective_on,
                    r.entry_kind,
                    r.account_kind,
                    r.owner,
                    r.currency,
                    r.amount_minor,
                    r.description,
                )
            )


# -- projections -----------------------------------------------------------------------------


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


reconcile_app.command("provider")(reconcile_provider_command)


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


@app.command()
def demo(
    seed: Annotated[
        int, typer.Option(help="Seed of the story; the same seed prints the same output.")
    ] = 7,
    creators: Annotated[int, typer.Option(min=30, max=200_000, help="How many creators.")] = 1_000,
    database: Annotated[
        Path | None,
        typer.Option(
            "--database", help="SQLite file to keep (must not exist); default: a temporary one."
        ),
    ] = None,
) -> None:
    """Play the seed story on a fresh embedded (SQLite) ledger and print what it did."""
    if database is not None and database.exists():
        fail(f"{database} exists already: the demo needs a fresh ledger")
    with tempfile.TemporaryDirectory(prefix="creator-ledger-demo-") as tmp:
        path = database or Path(tmp) / "demo.sqlite"
        clock = demo_story.StoryClock(demo_story.at(demo_story.START, 0))
        provider = bootstrap.memory_provider(clock=clock)
        settings = Settings(database_url=f"sqlite:///{path}", payment_provider="memory")
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
        if database is not None:
            console.print(f"\nledger kept in {database}")


def print_demo(cl: CreatorLedger, result: demo_story.DemoResult, provider: PaymentProvider) -> None:
    console.print(
        f"[bold]creator-ledger demo[/bold] — seed {result.seed}, {result.creators:,} creators\n"
    )
    _print_fund(cl.fund(demo_story.FUND))
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
            console.print(f"  {ref}: {_balance_line(b)}")
    counted_in = result.facts["late_usage_counted_in"]
    console.print(f"  late usage for {demo_story.START} was counted in period {counted_in}")
    _print_trial_balance(cl.trial_balance())
    assert result.plan is not None
    console.print("\n[bold]Second payout run[/bold]: the dry run an operator sees first")
    print_plan(result.plan)
    for run in result.runs:
        print_run(run)
    print_statement(
        cl.statement(result.statement_creator, since=demo_story.START, until=date(2026, 6, 30))
    )
    print_statement(
        cl.statement(demo_story.NDA_CREATOR, since=demo_story.START, until=date(2026, 6, 30))
    )
    print_report(cl.reconcile_internal())
    window = (demo_story.at(demo_story.START, 0), demo_story.at(date(2026, 7, 1), 0))
    print_report(cl.reconcile_provider(provider, since=window[0], until=window[1]))


def _balance_line(b: Any) -> str:
    c = b.currency
    return (
        f"{c}: payable {money(b.payable_minor, c)}, held {money(b.held_minor, c)},"
        f" receivable {money(b.receivable_minor, c)}"
    )


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{text!r} is not a date: use YYYY-MM-DD")
        raise


def main() -> None:
    app()


if __name__ == "__main__":
    main()
