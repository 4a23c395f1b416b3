"""``creator-ledger balances|fund|trial-balance|statement``: the ledger's queries (the journal:
:mod:`.cli_journal`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from creator_ledger.ledger.cli_support import (
    DatabaseOption,
    JsonOption,
    guarded,
    opened,
    parse_day,
)
from creator_ledger.ledger.render import console, money, print_json, table
from creator_ledger.ledger.results import Statement


def balances(
    creator_ref: str,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Business date YYYY-MM-DD.")] = None,
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """A creator's payable, held and receivable balances (now, or as of a business date)."""
    on = parse_day(as_of) if as_of else None
    with opened(database, create=False) as cl:
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


def fund(fund_key: str, database: DatabaseOption = None, json: JsonOption = False) -> None:
    """A fund's budget, committed, spent and available."""
    with opened(database, create=False) as cl:
        f = guarded(lambda: cl.fund(fund_key))
    if json:
        print_json(f)
        return
    print_fund(f)


def print_fund(f: Any) -> None:
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


def trial_balance(database: DatabaseOption = None, json: JsonOption = False) -> None:
    """The sum of every account's balance, per currency and account kind (nets to zero)."""
    with opened(database, create=False) as cl:
        tb = guarded(cl.trial_balance)
    if json:
        print_json(
            {"by_currency": tb.by_currency, "imbalance": tb.imbalance, "balanced": tb.balanced}
        )
    else:
        print_trial_balance(tb)
    if not tb.balanced:
        raise typer.Exit(1)


def print_trial_balance(tb: Any) -> None:
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


def statement(
    creator_ref: str,
    since: Annotated[str, typer.Option("--since", help="First business date, YYYY-MM-DD.")],
    until: Annotated[str, typer.Option("--until", help="Last business date, YYYY-MM-DD.")],
    database: DatabaseOption = None,
    json: JsonOption = False,
) -> None:
    """A creator's statement for a period: every line, explained."""
    with opened(database, create=False) as cl:
        s = guarded(
            lambda: cl.statement(creator_ref, since=parse_day(since), until=parse_day(until))
        )
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
            console.print(f"  {label:8} {balance_line(b)}")
    console.print(
        table(
            "Lines",
            ["date", "what", "account", "amount", "why", "by"],
            [
                (
                    ln.effective_on,
                    ln.description,
                    ln.account,
                    money(ln.amount_minor, ln.currency),
                    _explain(ln.explanation, ln.currency),
                    ln.actor or "-",
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


# -- projections -----------------------------------------------------------------------------


def balance_line(b: Any) -> str:
    c = b.currency
    return (
        f"{c}: payable {money(b.payable_minor, c)}, held {money(b.held_minor, c)},"
        f" receivable {money(b.receivable_minor, c)}"
    )
