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


def money(amount_minor: int | None, currency: str) -> str:
    return "-" if amount_minor is None else format_minor(amount_minor, currency)


def print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        text = value.model_dump_json(indent=2)
    else:
        text = json.dumps(value, indent=2, default=str, sort_keys=False)
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
