"""``creator-ledger audit``: who did what — every command with its actor, time, idempotency
key and effect, for a creator, a payout run or a time window, a page at a time."""

from __future__ import annotations

from typing import Annotated

import typer

from creator_ledger.ledger.cli_support import (
    DatabaseOption,
    JsonOption,
    guarded,
    opened,
    optional_day,
)
from creator_ledger.ledger.render import console, print_json


def audit(
    creator: Annotated[
        str | None, typer.Option("--creator", help="Commands that concern this creator.")
    ] = None,
    run: Annotated[str | None, typer.Option("--run", help="Commands of this payout run.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Recorded on or after this UTC day.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Recorded on or before this UTC day.")
    ] = None,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="Where the page before ended (its next cursor).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1_000)] = 50,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """The audit trail: every command, oldest first, with who issued it, when, its
    idempotency key and what it did."""
    first, last = optional_day(since), optional_day(until)
    with opened(database) as cl:
        page = guarded(
            lambda: cl.audit(
                creator_ref=creator,
                run_id=run,
                since=first,
                until=last,
                cursor=cursor,
                limit=limit,
            )
        )
    if json:
        print_json(page)
        return
    if not page.entries:
        console.print("no commands")
    for e in page.entries:
        console.print(
            f"#{e.position}  {e.recorded_at:%Y-%m-%d %H:%M:%S} UTC  {e.actor}  {e.command}"
            f"  (key {e.idempotency_key})"
        )
        console.print(f"    {e.effect}", soft_wrap=True)
    if page.next_cursor is not None:
        console.print(f"more: creator-ledger audit ... --cursor {page.next_cursor}")
