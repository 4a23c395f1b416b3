"""``creator-ledger payouts plan|execute|status`` and ``creator-ledger reconcile provider``."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from creator_ledger.ledger.bootstrap import build_provider
from creator_ledger.ledger.cli_support import (
    ActorOption,
    DatabaseOption,
    JsonOption,
    actor_or_fail,
    fail,
    guarded,
    opened,
    optional_day,
    progress_bar,
)
from creator_ledger.ledger.plan import PayoutPlan, plan_summary
from creator_ledger.ledger.render import console, money, print_json, print_report, table
from creator_ledger.ledger.results import RunResult

payouts_app = typer.Typer(
    help="Payout runs: plan (the dry run), execute, status.", no_args_is_help=True
)

#: Rows of each kind a table shows; --json, --csv and --out have them all.
SHOWN = 25


def print_plan(plan: PayoutPlan) -> None:
    c = plan.currency
    s = plan_summary(plan)
    console.print(f"[bold]Payout plan {plan.run_id}[/bold] (dry run: nothing is paid or written)")
    console.print(
        table(
            "Totals",
            [
                "currency",
                "payouts",
                "total",
                "offsets",
                "offset total",
                "excluded",
                "excluded total",
            ],
            [
                (
                    c,
                    s["payouts"],
                    money(s["total_minor"], c),
                    s["offsets"],
                    money(s["offset_total_minor"], c),
                    s["excluded"],
                    money(s["excluded_total_minor"], c),
                )
            ],
            right=(1, 2, 3, 4, 5, 6),
        )
    )
    if plan.lines:
        rows: list[tuple[str, ...]] = [
            (
                x.creator_ref,
                x.destination,
                money(x.payable_minor, c),
                money(x.offset_minor, c),
                money(x.amount_minor, c),
            )
            for x in plan.lines[:SHOWN]
        ]
        more = f" (first {SHOWN} of {len(plan.lines)})" if len(plan.lines) > SHOWN else ""
        console.print(
            table(
                f"Payouts{more}",
                ["creator", "account", "payable", "offset", "pays"],
                rows,
                right=(2, 3, 4),
            )
        )
    if plan.offsets:
        rows = [
            (o.creator_ref, money(o.receivable_minor, c), money(o.amount_minor, c))
            for o in plan.offsets[:SHOWN]
        ]
        console.print(
            table(
                "Receivable offsets (recovered from earnings)",
                ["creator", "owed", "recovered now"],
                rows,
                right=(1, 2),
            )
        )
    if plan.excluded:
        by_reason = ", ".join(f"{r}: {n}" for r, n in s["excluded_by_reason"].items())
        rows = [
            (x.creator_ref, money(x.payable_minor, c), ", ".join(x.reasons), x.detail)
            for x in plan.excluded[:SHOWN]
        ]
        more = f" (first {SHOWN} of {len(plan.excluded)})" if len(plan.excluded) > SHOWN else ""
        console.print(
            table(
                f"Left out{more} — {by_reason}",
                ["creator", "balance", "reasons", "why"],
                rows,
                right=(1,),
            )
        )


def write_plan_csv(plan: PayoutPlan) -> None:
    out = csv.writer(sys.stdout)
    out.writerow(
        [
            "kind",
            "creator_ref",
            "creator_id",
            "destination",
            "payable_minor",
            "offset_minor",
            "amount_minor",
            "currency",
            "reasons",
        ]
    )
    for x in plan.lines:
        out.writerow(
            [
                "payout",
                x.creator_ref,
                x.creator_id,
                x.destination,
                x.payable_minor,
                x.offset_minor,
                x.amount_minor,
                plan.currency,
                "",
            ]
        )
    for o in plan.offsets:
        out.writerow(
            ["offset", o.creator_ref, o.creator_id, "", "", o.amount_minor, "", plan.currency, ""]
        )
    for e in plan.excluded:
        out.writerow(
            [
                "excluded",
                e.creator_ref,
                e.creator_id,
                "",
                e.payable_minor,
                "",
                0,
                plan.currency,
                ";".join(e.reasons),
            ]
        )


@payouts_app.command("plan")
def plan_command(
    currency: Annotated[str, typer.Option(help="ISO 4217 currency of the run.")] = "USD",
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Pay at most what was payable at the end of this business day."
        ),
    ] = None,
    threshold: Annotated[
        int | None, typer.Option(help="Minimum payout in minor units (default: per currency).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Save the plan (JSON, with its content hash) to execute later."),
    ] = None,
    csv_: Annotated[bool, typer.Option("--csv", help="Print every line as CSV.")] = False,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """The dry run: who would be paid what, and why everyone else is left out. Writes nothing."""
    on = optional_day(as_of)
    with opened(database, create=False) as cl:
        plan = guarded(lambda: cl.plan(currency=currency, as_of=on, threshold_minor=threshold))
    if out is not None:
        plan.save(out)
    if json:
        print_json(plan)
    elif csv_:
        write_plan_csv(plan)
    else:
        print_plan(plan)
        if out is not None:
            console.print(f"plan saved to {out}; pay it with: creator-ledger payouts execute {out}")


def print_run(result: RunResult) -> None:
    c = result.currency
    console.print(
        table(
            f"Run {result.run_id}",
            ["planned", "requested", "paid", "failed", "unresolved", "paid total", "skipped"],
            [
                (
                    result.planned,
                    result.requested,
                    result.paid,
                    result.failed,
                    result.unresolved,
                    money(result.paid_minor, c),
                    len(result.skipped),
                )
            ],
            right=(0, 1, 2, 3, 4, 5, 6),
        )
    )
    for f in result.failures[:SHOWN]:
        console.print(f"  failed {f['payout_id']} (creator {f['creator_id']}): {f['failure']}")
    for sk in result.skipped[:SHOWN]:
        console.print(f"  skipped creator {sk.creator_id}: {sk.reason}")
    if result.unresolved:
        console.print(
            f"{result.unresolved} payout(s) still wait for the provider's answer: run execute again"
        )


@payouts_app.command("execute")
def execute_command(
    plan_file: Path,
    batch_size: Annotated[int, typer.Option(min=1, max=5_000)] = 2_000,
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="Transfers sent at once.")] = 1,
    database: DatabaseOption = None,
    json: JsonOption = False,
    actor: ActorOption = None,
) -> None:
    """Pay exactly a saved plan (refused if its balances changed). Safe to run again: a run
    interrupted anywhere resumes, and nobody is paid twice. Exit 1 if anything failed or is
    unresolved."""
    who = actor_or_fail(actor)
    plan = guarded(lambda: PayoutPlan.load(plan_file))
    with opened(database) as cl:
        provider = guarded(lambda: build_provider(cl.settings))
        with progress_bar("paying") as bar:
            task = bar.add_task("payouts", total=2 * len(plan.lines))
            result = guarded(
                lambda: cl.execute(
                    plan,
                    provider,
                    actor=who,
                    batch_size=batch_size,
                    send_concurrency=concurrency,
                    progress=lambda _p, n: bar.advance(task, n),
                )
            )
    if json:
        print_json(result.model_dump(mode="json") | {"complete": result.complete})
    else:
        print_run(result)
    raise typer.Exit(0 if result.complete and not result.failed else 1)


@payouts_app.command("status")
def status_command(run_id: str, database: DatabaseOption = None, json: JsonOption = False) -> None:
    """What a run has paid, failed and still waits for."""
    with opened(database, create=False) as cl:
        status = guarded(lambda: cl.payout_status(run_id))
    if not status.by_status:
        fail(f"no payouts for run {run_id!r}")
    if json:
        print_json(status)
        return
    c = status.currency or "USD"
    console.print(
        table(
            f"Run {run_id}",
            ["status", "payouts", "amount"],
            [
                (k, n, money(status.amount_by_status_minor[k], c))
                for k, n in sorted(status.by_status.items())
            ],
            right=(1, 2),
        )
    )
    for f in status.failures[:SHOWN]:
        console.print(f"  failed {f['payout_id']}: {f['failure']}")


def reconcile_provider_command(
    since: Annotated[
        str | None,
        typer.Option("--since", help="First day (UTC) of payouts to check; default 30 days ago."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last day (UTC); default today.")
    ] = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """Ledger payouts against the provider's transfers; in-transit clearing nets to zero."""
    today = datetime.now(UTC).date()
    first = optional_day(since) or today - timedelta(days=30)
    last = optional_day(until) or today
    window = (
        datetime(first.year, first.month, first.day, tzinfo=UTC),
        datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1),
    )
    with opened(database, create=False) as cl:
        provider = guarded(lambda: build_provider(cl.settings))
        report = guarded(lambda: cl.reconcile_provider(provider, since=window[0], until=window[1]))
    if json:
        print_json(report.model_dump(mode="json") | {"clean": report.clean})
    else:
        print_report(report)
    raise typer.Exit(0 if report.clean else 1)
