"""``creator-ledger journal`` (whole entries, as CSV or JSON, page by page) and ``creator-ledger
journal summary`` (per-period totals per account kind, with stable line ids)."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime, time
from typing import Annotated

import typer

from creator_ledger.ledger.cli_support import (
    DatabaseOption,
    JsonOption,
    fail,
    guarded,
    opened,
    optional_day,
)
from creator_ledger.ledger.journal import JournalExportLine, SummaryLine
from creator_ledger.ledger.render import err_console, print_json

journal_app = typer.Typer(
    help="The journal for the general ledger: whole entries (CSV or JSON), or totals per period.",
    invoke_without_command=True,
)

SinceOption = Annotated[
    str | None, typer.Option("--since", help="First business date, YYYY-MM-DD (inclusive).")
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Last business date, YYYY-MM-DD (inclusive).")
]
RecordedSinceOption = Annotated[
    str | None,
    typer.Option(
        "--recorded-since",
        help="Only entries recorded at or after this time: YYYY-MM-DD (00:00 UTC) or an ISO"
        " date-time with its offset.",
    ),
]
AccountKindOption = Annotated[
    str | None,
    typer.Option("--account-kind", help="Only entries posting to this kind, e.g. creator:payable."),
]
CreatorOption = Annotated[
    str | None, typer.Option("--creator", help="Only entries posting to this creator's accounts.")
]
CsvOption = Annotated[bool, typer.Option("--csv", help="CSV (the default).")]

EXPORT_COLUMNS = list(JournalExportLine.model_fields)


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


SUMMARY_COLUMNS = list(SummaryLine.model_fields)


def _recorded_since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(datetime.fromisoformat(text).date(), time(), UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{text!r} is not a date or a date-time: use YYYY-MM-DD or 2026-01-31T09:00:00+00:00")
    if moment.tzinfo is None:
        fail(f"{text!r} has no UTC offset: add one (e.g. +00:00 or Z)")
    return moment


@journal_app.callback()
def journal(
    ctx: typer.Context,
    since: SinceOption = None,
    until: UntilOption = None,
    recorded_since: RecordedSinceOption = None,
    account_kind: AccountKindOption = None,
    creator: CreatorOption = None,
    after: Annotated[
        str | None, typer.Option("--after", help="The cursor a previous page ended with.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=100_000, help="Entries per page (whole entries).")
    ] = 10_000,
    all_pages: Annotated[
        bool, typer.Option("--all", help="Follow the cursor to the last page.")
    ] = False,
    database: DatabaseOption = None,
    json: JsonOption = False,
    csv_: CsvOption = False,
) -> None:
    """Journal entries, whole (every posting of each), in the order they were recorded: CSV for
    the general ledger (or --json).  Without --all, one page: the cursor of the next one is
    printed on stderr (CSV) or given as next_cursor (JSON)."""
    if ctx.invoked_subcommand is not None:
        return
    if json and csv_:
        fail("choose one of --json and --csv")
    on_since, on_until = optional_day(since), optional_day(until)
    recorded = _recorded_since(recorded_since)
    with opened(database, create=False) as cl:
        cursor = after
        lines: list[JournalExportLine] = []
        writer = None if json else csv.writer(sys.stdout, lineterminator="\n")
        if writer is not None:
            writer.writerow(EXPORT_COLUMNS)
        while True:
            page = guarded(
                lambda c=cursor: cl.journal(  # type: ignore[misc]
                    after=c,
                    since=on_since,
                    until=on_until,
                    recorded_since=recorded,
                    account_kind=account_kind,
                    creator_ref=creator,
                    limit=limit,
                )
            )
            if writer is not None:
                for ln in page.lines:
                    writer.writerow([_cell(getattr(ln, c)) for c in EXPORT_COLUMNS])
            else:
                lines.extend(page.lines)
            cursor = page.next_cursor
            if cursor is None or not all_pages:
                break
    if json:
        entries = len({ln.entry_id for ln in lines})
        print_json(
            {"entries": entries, "lines": [ln.model_dump(mode="json") for ln in lines]}
            | {"next_cursor": cursor},
            kind="journal",
        )
    elif cursor is not None:
        err_console.print(f"more entries: go on with --after {cursor}")


@journal_app.command("summary")
def journal_summary(
    period: Annotated[str, typer.Option("--period", help="day, month, quarter or year.")] = "month",
    since: SinceOption = None,
    until: UntilOption = None,
    recorded_since: RecordedSinceOption = None,
    account_kind: AccountKindOption = None,
    creator: CreatorOption = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
    csv_: CsvOption = False,
) -> None:
    """Debits, credits and net per period × account kind × currency, each line with a stable
    id (e.g. 2026-01/creator:payable/USD): what a general-ledger import wants."""
    if json and csv_:
        fail("choose one of --json and --csv")
    if period not in {"day", "month", "quarter", "year"}:
        fail(f"--period {period!r}: use day, month, quarter or year")
    with opened(database, create=False) as cl:
        summary = guarded(
            lambda: cl.journal_summary(
                period=period,  # type: ignore[arg-type]  # checked above
                since=optional_day(since),
                until=optional_day(until),
                recorded_since=_recorded_since(recorded_since),
                account_kind=account_kind,
                creator_ref=creator,
            )
        )
    if json:
        print_json(summary)
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for ln in summary.lines:
        writer.writerow([getattr(ln, c) for c in SUMMARY_COLUMNS])
