"""Comparing plans: why a proposed run no longer matches what the ledger derives
(:func:`staleness`), and how a plan file differs from the run it names (:func:`differences`)."""

from __future__ import annotations

from creator_ledger.ledger.plan import PayoutPlan


def staleness(plan: PayoutPlan, current: PayoutPlan) -> str:
    """Why ``plan`` (a proposed run) no longer matches what the ledger gives now
    (``current``)."""
    before = {x.creator_id: (x.destination, x.amount_minor) for x in plan.lines}
    now = {x.creator_id: (x.destination, x.amount_minor) for x in current.lines}
    changed = sorted(c for c in before.keys() | now.keys() if before.get(c) != now.get(c))
    excl_before = {x.creator_id: x.reasons for x in plan.excluded}
    excl_now = {x.creator_id: x.reasons for x in current.excluded}
    changed_excl = sorted(
        c for c in excl_before.keys() | excl_now.keys() if excl_before.get(c) != excl_now.get(c)
    )
    parts = [
        f"the balances, gates or payout settings run {plan.run_id} was computed from have"
        " changed since it was proposed"
    ]
    if changed:
        parts.append(f"{len(changed)} payout line(s) differ (e.g. creator {changed[0]})")
    if changed_excl:
        parts.append(f"{len(changed_excl)} exclusion(s) differ (e.g. creator {changed_excl[0]})")
    if plan.offsets != current.offsets:
        parts.append("receivable offsets differ")
    parts.append("propose again (creator-ledger payouts propose), and have the new run approved")
    return "; ".join(parts)


#: What a plan file must agree with its recorded run on: everything but the view's own
#: bookkeeping (its hash, and the read-model position it was computed at).
_COMPARED = {"content_hash", "read_model_position"}


def differences(given: PayoutPlan, recorded: PayoutPlan, *, limit: int = 5) -> list[str]:
    """How a plan file (``given``) differs from the run it names as the ledger recorded it:
    the run's own fields, then line by line (creator, destination, amounts), the offsets and
    the exclusions; at most ``limit`` differences, and nothing when they agree."""
    out: list[str] = []
    mine = given.model_dump(exclude=_COMPARED | {"lines", "offsets", "excluded"})
    theirs = recorded.model_dump(exclude=_COMPARED | {"lines", "offsets", "excluded"})
    out += [
        f"{k} is {mine[k]!r} in the file, {theirs[k]!r} in the ledger"
        for k in mine
        if mine[k] != theirs[k]
    ]
    for what, a, b in (
        ("line", given.lines, recorded.lines),
        ("offset", given.offsets, recorded.offsets),
        ("exclusion", given.excluded, recorded.excluded),
    ):
        if len(a) != len(b):
            out.append(f"the file has {len(a)} {what}s, the ledger {len(b)}")
        for n, (x, y) in enumerate(zip(a, b, strict=False), start=1):
            xs, ys = x.model_dump(), y.model_dump()
            out += [
                f"{what} {n} {k} is {xs[k]!r} in the file, {ys[k]!r} in the ledger"
                for k in xs
                if xs[k] != ys[k]
            ]
    return out[:limit]
