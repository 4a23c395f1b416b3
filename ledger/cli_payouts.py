"""``creator-ledger payouts plan|propose|show|approve|reject|execute|status|settle`` and
``creator-ledger reconcile provider``.

A payout run goes ``propose`` (one actor) -> ``approve`` (another) -> ``execute`` -> ``status``;
``plan`` is the dry run, which writes nothing.  Every command that writes to the ledger needs
``--actor`` (or ``LEDGER_ACTOR``).  Files (``--out``) are views: they never overwrite an existing
file without ``--force``, nor the ledger's own database.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from creator_ledger.ledger.bootstrap import build_provider
from creator_ledger.ledger.cli_files import check_output, write_output
from creator_ledger.ledger.cli_payouts_render import (
    print_plan,
    print_run,
    print_run_summary,
    print_status,
    write_plan_csv,
)
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
from creator_ledger.ledger.plan import PayoutPlan
from creator_ledger.ledger.render import console, print_json, print_report
from creator_ledger.ledger.transfers import DEFAULT_CONCURRENCY, MAX_CONCURRENCY

payouts_app = typer.Typer(
    help="Payout runs: plan (the dry run), propose, approve or reject, execute, status, settle.",
    no_args_is_help=True,
)

CurrencyOption = Annotated[str, typer.Option(help="ISO 4217 currency of the run.")]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Pay at most what was payable at the end of this business day (less what was"
        " paid since).",
    ),
]
ThresholdOption = Annotated[
    int | None, typer.Option(help="Minimum payout in minor units (default: per currency).")
]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace the --out file if it exists.")]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key",
        help="The command's idempotency key (a repeat with the same key changes nothing);"
        " default: derived from the command.",
    ),
]


def _out_option(what: str) -> object:
    return typer.Option("--out", help=f"Write {what} (JSON, with its content hash) to this file.")


@payouts_app.command("plan")
def plan_command(
    currency: CurrencyOption = "USD",
    as_of: AsOfOption = None,
    threshold: ThresholdOption = None,
    out: Annotated[Path | None, _out_option("the plan")] = None,
    force: ForceOption = False,
    csv_: Annotated[bool, typer.Option("--csv", help="Print every line as CSV.")] = False,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """The dry run: who would be paid what, and why everyone else is left out. Writes nothing
    to the ledger (propose records it as a run)."""
    on = optional_day(as_of)
    with opened(database, create=False) as cl:
        if out is not None:
            check_output(out, force=force, settings=cl.settings)
        plan = guarded(lambda: cl.plan(currency=currency, as_of=on, threshold_minor=threshold))
        if out is not None:
            write_output(out, plan.to_json(), force=force, settings=cl.settings)
    if json:
        print_json(plan)
    elif csv_:
        write_plan_csv(plan)
    else:
        print_plan(plan)
        if out is not None:
            console.print(
                f"plan saved to {out}; record it as a run with: creator-ledger payouts propose"
            )


@payouts_app.command("propose")
def propose_command(
    currency: CurrencyOption = "USD",
    as_of: AsOfOption = None,
    threshold: ThresholdOption = None,
    out: Annotated[Path | None, _out_option("the run's plan")] = None,
    force: ForceOption = False,
    idempotency_key: KeyOption = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
    actor: ActorOption = None,
) -> None:
    """Record the plan the ledger gives now as a payout run, proposed by --actor. Proposing the
    same plan again is the same run. It pays nothing until another actor approves it."""
    who = actor_or_fail(actor)
    on = optional_day(as_of)
    with opened(database) as cl:
        if out is not None:
            check_output(out, force=force, settings=cl.settings)
        # By default a key of what is proposed and of the ledger's state: a retry of an
        # interrupted proposal is one command, and proposing again later is a new one (of the
        # same run, if nothing changed).
        floor = "default" if threshold is None else threshold
        key = idempotency_key or (
            f"propose:{currency.upper()}:{on or 'now'}:{floor}:{cl.events_recorded()}"
        )
        run = guarded(
            lambda: cl.propose(
                currency=currency,
                as_of=on,
                threshold_minor=threshold,
                idempotency_key=key,
                actor=who,
            )
        )
        plan = cl.run_plan(run.run_id)
        if out is not None:
            write_output(out, plan.to_json(), force=force, settings=cl.settings)
    if json:
        print_json(run)
        return
    print_plan(plan, title=f"[bold]Payout run {run.run_id}[/bold] proposed by {run.proposed_by}")
    print_run_summary(run)
    if out is not None:
        console.print(f"the run's plan saved to {out} (a view: the run is in the ledger)")


@payouts_app.command("show")
def show_command(
    run_id: str,
    out: Annotated[Path | None, _out_option("the run's plan")] = None,
    force: ForceOption = False,
    csv_: Annotated[bool, typer.Option("--csv", help="Print every line as CSV.")] = False,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """What a proposed run pays and leaves out, as the ledger recorded it (for approvers)."""
    with opened(database) as cl:
        if out is not None:
            check_output(out, force=force, settings=cl.settings)
        run = guarded(lambda: cl.payout_run(run_id))
        plan = guarded(lambda: cl.run_plan(run_id))
        if out is not None:
            write_output(out, plan.to_json(), force=force, settings=cl.settings)
    if json:
        print_json(plan)
    elif csv_:
        buffer = io.StringIO()
        write_plan_csv(plan, buffer)
        typer.echo(buffer.getvalue(), nl=False)
    else:
        print_plan(plan, title=f"[bold]Payout run {run_id}[/bold] as recorded")
        print_run_summary(run)


@payouts_app.command("approve")
def approve_command(
    run_id: str,
    idempotency_key: KeyOption = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
    actor: ActorOption = None,
) -> None:
    """Approve a proposed run as --actor (never its proposer; each approver counts once)."""
    who = actor_or_fail(actor)
    key = idempotency_key or f"approve:{run_id}:{who}"
    with opened(database) as cl:
        run = guarded(lambda: cl.approve(run_id, idempotency_key=key, actor=who))
    if json:
        print_json(run)
    else:
        print_run_summary(run)


@payouts_app.command("reject")
def reject_command(
    run_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why the run is rejected (recorded).")],
    idempotency_key: KeyOption = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
    actor: ActorOption = None,
) -> None:
    """End a run that has not started paying; it pays nothing."""
    who = actor_or_fail(actor)
    key = idempotency_key or f"reject:{run_id}"
    with opened(database) as cl:
        run = guarded(lambda: cl.reject(run_id, reason=reason, idempotency_key=key, actor=who))
    if json:
        print_json(run)
    else:
        print_run_summary(run)


@payouts_app.command("execute")
def execute_command(
    run: Annotated[
        str,
        typer.Argument(
            metavar="RUN",
            help="The run id; or a plan file, which must be its run's recorded plan line by line.",
        ),
    ],
    batch_size: Annotated[int, typer.Option(min=1, max=5_000)] = 2_000,
    concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_CONCURRENCY,
            help="Transfers sent at once: about the provider's rate limit times its latency"
            " (100/s x 0.3 s = 30); sends are paced to LEDGER_PROVIDER_RATE_PER_S.",
        ),
    ] = DEFAULT_CONCURRENCY,
    database: DatabaseOption = None,
    json: JsonOption = False,
    actor: ActorOption = None,
) -> None:
    """Pay an approved run: only what the ledger re-derives for it (refused if anything it was
    computed from changed: propose again). Safe to run again: a run interrupted anywhere
    resumes, and nobody is paid twice. Exit 1 if anything failed or is unresolved."""
    who = actor_or_fail(actor)
    target: str | PayoutPlan = run
    if Path(run).is_file():
        target = guarded(lambda: PayoutPlan.load(Path(run)))
    with opened(database) as cl:
        run_id = target.run_id if isinstance(target, PayoutPlan) else run
        lines = guarded(lambda: cl.payout_run(run_id)).payouts
        provider = guarded(lambda: build_provider(cl.settings))
        with progress_bar("paying") as bar:
            task = bar.add_task("payouts", total=2 * lines)
            result = guarded(
                lambda: cl.execute(
                    target,
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
    """A run's state, who proposed, approved and executed it, and what it has paid, failed
    and still waits for."""
    with opened(database, create=False) as cl:
        status = guarded(lambda: cl.payout_status(run_id))
    if status.run is None and not status.by_status:
        fail(f"no payout run {run_id!r}")
    if json:
        print_json(status)
        return
    print_status(status)


@payouts_app.command("settle")
def settle_command(
    payout_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why it is settled (recorded).")],
    idempotency_key: KeyOption = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
    actor: ActorOption = None,
) -> None:
    """End a payout stuck in transit: paid if the provider has its transfer; else failed back
    to payable, once 25 hours have passed since it was requested (its idempotency key can no
    longer replay). Never re-sent under a new key."""
    who = actor_or_fail(actor)
    key = idempotency_key or f"settle:{payout_id}"
    with opened(database) as cl:
        provider = guarded(lambda: build_provider(cl.settings))
        done = guarded(
            lambda: cl.settle_payout(
                payout_id, provider, reason=reason, idempotency_key=key, actor=who
            )
        )
    if json:
        print_json(done)
        return
    console.print(f"payout {done.payout_id} (run {done.run_id}) is {done.status}: {done.detail}")


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
