"""How the payout commands print: plans, runs and their workflow, execution results."""

from __future__ import annotations

import csv
import sys
from typing import TextIO

from creator_ledger.ledger.plan import PayoutPlan, plan_summary
from creator_ledger.ledger.render import console, money, table
from creator_ledger.ledger.results import PayoutRunSummary, RunResult, RunStatus

#: Rows of each kind a table shows; --json, --csv and --out have them all.
SHOWN = 25


def print_plan(plan: PayoutPlan, *, title: str | None = None) -> None:
    c = plan.currency
    s = plan_summary(plan)
    console.print(
        title or f"[bold]Payout plan {plan.run_id}[/bold] (dry run: nothing is paid or written)"
    )
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


def write_plan_csv(plan: PayoutPlan, stream: TextIO | None = None) -> None:
    out = csv.writer(stream or sys.stdout)
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
            f"{result.unresolved} payout(s) still wait for the provider's answer: run execute"
            " again; a payout the provider will never settle is ended with payouts settle"
        )


def approvals_text(run: PayoutRunSummary) -> str:
    given = ", ".join(run.approved_by) or "none"
    return f"{len(run.approved_by)} of {run.approvals_needed} ({given})"


def print_run_summary(run: PayoutRunSummary) -> None:
    """A run's workflow: its state, who proposed and approved it, what it pays."""
    c = run.currency
    console.print(f"[bold]Payout run {run.run_id}[/bold]: {run.status}")
    console.print(
        f"  {c} as of {run.as_of or 'now'}; proposed by {run.proposed_by}"
        f" at {run.proposed_at:%Y-%m-%d %H:%M} UTC"
    )
    console.print(f"  approvals: {approvals_text(run)}")
    console.print(
        f"  pays {run.payouts:,} payout(s), {money(run.total_minor, c)}; recovers"
        f" {money(run.offset_total_minor, c)} in {run.offsets:,} offset(s); leaves out"
        f" {run.excluded:,} ({money(run.excluded_total_minor, c)})"
    )
    if run.excluded_by_reason:
        reasons = ", ".join(f"{r}: {n}" for r, n in run.excluded_by_reason.items())
        console.print(f"  left out because {reasons}")
    if run.rejected_by is not None:
        console.print(f"  rejected by {run.rejected_by}: {run.rejection_reason}")
    if run.status == "proposed" and run.approvals_missing:
        console.print(
            f"  needs {run.approvals_missing} more approval(s) by someone other than"
            f" {run.proposed_by}: creator-ledger payouts approve {run.run_id} --actor ..."
        )
    elif run.status == "approved":
        console.print(f"  released: creator-ledger payouts execute {run.run_id}")


def print_status(status: RunStatus) -> None:
    if status.run is not None:
        print_run_summary(status.run)
    if status.executed_by:
        console.print(f"  executed by {', '.join(status.executed_by)}")
    c = status.currency or "USD"
    if status.by_status:
        console.print(
            table(
                "Payouts",
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
    for p in status.unresolved[:SHOWN]:
        console.print(f"  waiting for the provider: payout {p}")
