"""``creator-ledger verify``: check the hash chain over the stored events and the snapshots
(:mod:`.verify`); export the chain's head, or check the chain against one exported earlier.

Exit 0 when clean, 1 when a link is broken or a snapshot is bad (nothing is exported then), 2
for bad usage (an unreadable or malformed ``--head`` file, an ``--export-head`` file that
exists without ``--force``), 3 and 4 as every command (README "Exit codes").
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated

import typer

from creator_ledger.domain.errors import LedgerError
from creator_ledger.ledger.cli_files import check_output, write_output
from creator_ledger.ledger.cli_support import (
    DatabaseOption,
    JsonOption,
    fail,
    fail_on,
    guarded,
    opened,
    settings_for,
)
from creator_ledger.ledger.render import console, err_console, print_json, table
from creator_ledger.ledger.verify import ChainHead, Verification


def _read_head(path: Path) -> ChainHead:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        fail(f"cannot read the chain head {path}: {e.strerror or e}")
    except UnicodeDecodeError:
        fail(f"{path} is not a chain head: it is not UTF-8 text")
    try:
        data = jsonlib.loads(text)
    except ValueError:
        fail(f"{path} is not a chain head: it is not JSON")
    try:
        return ChainHead.parse(data)
    except LedgerError as e:
        fail_on(e)


def _print(result: Verification) -> None:
    head = result.head
    console.print(
        f"chain: {result.events:,} events, {result.seals:,} seals; head at notification id"
        f" {head.notification_id} (seal {head.seal})"
    )
    if result.checked_head is not None:
        h = result.checked_head
        console.print(f"checked against the exported head at notification id {h.notification_id}")
    if result.broken_links:
        console.print(
            table(
                "Broken links",
                ["kind", "notification id", "aggregate", "version", "what"],
                [
                    (
                        b.kind,
                        b.notification_id,
                        b.originator_id or "-",
                        "-" if b.originator_version is None else b.originator_version,
                        b.message,
                    )
                    for b in result.broken_links
                ],
                right=(1, 3),
            )
        )
    if result.bad_snapshots:
        console.print(
            table(
                "Bad snapshots (never loaded: the aggregates load from their events)",
                ["kind", "aggregate", "version", "what"],
                [(s.kind, s.originator_id, s.version, s.message) for s in result.bad_snapshots],
                right=(2,),
            )
        )
    if result.clean:
        console.print("clean")
    else:
        kinds = ", ".join(f"{n} {k}" for k, n in result.kinds().items())
        console.print(f"broken: {kinds}")


def verify(
    database: DatabaseOption = None,
    json: JsonOption = False,
    head: Annotated[
        Path | None,
        typer.Option(
            "--head",
            help="Also check the chain still has the head exported to this file earlier.",
            dir_okay=False,
        ),
    ] = None,
    export_head: Annotated[
        Path | None,
        typer.Option(
            "--export-head",
            help="Write the chain's head (notification id and seal) to this JSON file, when"
            " clean; keep it outside the database.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the --export-head file if it exists.")
    ] = False,
    no_snapshots: Annotated[
        bool, typer.Option("--no-snapshots", help="Check only the chain, not the snapshots.")
    ] = False,
) -> None:
    """Check the hash chain over the stored events (every broken link, with its kind: edited,
    deleted, reordered, inserted, ...) and the snapshots; exit 1 when anything is broken."""
    expected = _read_head(head) if head is not None else None
    if export_head is not None:
        check_output(export_head, force=force, settings=settings_for(database))
    with opened(database, create=False) as cl:
        result = guarded(lambda: cl.verify(head=expected, snapshots=not no_snapshots))
        settings = cl.settings
    if json:
        print_json(result.model_dump(mode="json") | {"clean": result.clean})
    else:
        _print(result)
    if export_head is not None:
        if result.clean:
            text = jsonlib.dumps(result.head.export(), indent=2) + "\n"
            write_output(export_head, text, force=force, settings=settings)
            err_console.print(
                f"exported the chain head (notification id {result.head.notification_id})"
                f" to {export_head}"
            )
        else:
            err_console.print(f"not exported to {export_head}: the chain is not clean")
    raise typer.Exit(0 if result.clean else 1)
