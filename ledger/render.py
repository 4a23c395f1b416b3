"""Tables for people (rich) and JSON for machines: how the CLI prints results."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from creator_ledger.domain.money import format_minor
from creator_ledger.ledger.reconcile import ReconciliationReport

console = Console(highlight=False, soft_wrap=False, width=120)
#: Progress bars and notes for people: stderr, so stdout stays clean for --json and --csv.
err_console = Console(highlight=False, soft_wrap=False, width=120, stderr=True)


def money(amount_minor: int | None, currency: str) -> str:
    return "-" if amount_minor is None else format_minor(amount_minor, currency)


def output_format(kind: str | None = None) -> str:
    """The ``format`` of a command's JSON: ``creator-ledger/<command path>/v1`` (e.g.
    ``creator-ledger/balances/v1``, ``creator-ledger/payouts-plan/v1``), from the running
    command unless ``kind`` is given.  The README lists them; a change of shape is a new
    version."""
    if kind is None:
        kind = "-".join(COMMAND_PATH) or "output"
    return f"creator-ledger/{kind}/v{JSON_FORMAT_VERSION}"


#: The running command's words (``["payouts", "plan"]``), set by the CLI before it runs.
COMMAND_PATH: list[str] = []


#: The version of every ``--json`` output's shape (the ``format`` field says it).
JSON_FORMAT_VERSION = 1


def print_json(value: Any, *, kind: str | None = None) -> None:
    """``value`` as indented JSON on stdout, with a ``format`` field first (one it has already,
    such as a payout plan's, is kept)."""
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    if isinstance(data, dict) and "format" not in data:
        data = {"format": output_format(kind), **data}
    text = json.dumps(data, indent=2, default=str, sort_keys=False, ensure_ascii=False)
    sys.stdout.write(text + "\n")


def table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, right: Iterable[int] = ()
) -> Table:
    t = Table(title=title, title_justify="left", show_lines=False)
    right_cols = set(right)
    for i, c in enumerate(columns):
        t.add_column(c, justify="right" if i in right_cols else "left")
    for row in rows:
        t.add_row(*(str(v) for v in row))
    return t


def print_report(report: ReconciliationReport) -> None:
    console.print(
        table(
            f"Reconciliation ({report.kind})",
            ["check", "discrepancies"],
            [(name, n) for name, n in report.checks.items()],
            right=(1,),
        )
    )
    if report.discrepancies:
        console.print(
            table(
                "Discrepancies",
                ["check", "subject", "expected", "actual", "what"],
                [
                    (d.check, d.subject, d.expected, d.actual, d.message)
                    for d in report.discrepancies
                ],
            )
        )
    console.print("clean" if report.clean else f"{len(report.discrepancies)} discrepancies")
