"""The limit rows store events in the library's own JSON format, and the bench uses only the
ledger's public API (plus its pure domain and the payment port)."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, UUIDAsHex

from bench.scratch import event_state, renamed
from creator_ledger.adapters.event_codec import DateAsISO

ROOT = Path(__file__).resolve().parents[2]


def test_limit_payloads_are_encoded_as_the_library_encodes_events() -> None:
    transcoder = JSONTranscoder()
    for transcoding in (DatetimeAsISO(), UUIDAsHex(), DateAsISO()):
        transcoder.register(transcoding)
    fields = {
        "timestamp": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "claim_id": UUID("e1f33f6d-134c-5698-82c8-cffabba2b876"),
        "signed_on": date(2026, 1, 1),
        "lines": [["c1", 10, 20, 0, 1]],
        "note": "café",
        "to_held": False,
        "scaled_from_minor": None,
    }
    assert event_state(fields) == transcoder.encode(fields)


ALLOWED = (
    "creator_ledger",
    "creator_ledger.ledger.migrate",
    "creator_ledger.adapters.payments.memory",
    "creator_ledger.adapters.payments.port",
)


def test_the_bench_imports_only_the_public_api_the_pure_domain_and_the_payment_port() -> None:
    bad = []
    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            module = node.module
            if not module.startswith("creator_ledger"):
                continue
            private = [a.name for a in node.names if a.name.startswith("_")]
            if private or not (module in ALLOWED or module.startswith("creator_ledger.domain.")):
                bad.append((path.name, module, private))
    assert bad == []


LEDGER_DEFINITIONS = [
    "CREATE TRIGGER ledger_events_sealed AFTER INSERT ON public.ledger_events REFERENCING NEW"
    " TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION ledger_seal_events()",
    "CREATE OR REPLACE FUNCTION public.ledger_seal_events() ... LOCK TABLE ledger_events IN"
    " EXCLUSIVE MODE; SELECT seal INTO previous FROM ledger_event_seals ...; INSERT INTO"
    " ledger_event_seals (notification_id, seal) ... FROM new_events n",
]
NAMES = {
    "ledger_events_sealed": "x_sealed",
    "ledger_seal_events": "bench_limit.x_seal",
    "ledger_event_seals": "bench_limit.x_seals",
    "ledger_events": "bench_limit.x",
}


def test_the_limit_copy_of_the_seal_trigger_names_only_the_copies() -> None:
    trigger, function = renamed(LEDGER_DEFINITIONS, NAMES)
    assert trigger == (
        "CREATE TRIGGER x_sealed AFTER INSERT ON bench_limit.x REFERENCING NEW TABLE AS"
        " new_events FOR EACH STATEMENT EXECUTE FUNCTION bench_limit.x_seal()"
    )
    assert "LOCK TABLE bench_limit.x IN" in function
    assert function.count("bench_limit.x_seals") == 2
    assert "ledger_" not in trigger + function


def test_a_ledger_name_the_copy_cannot_find_or_replace_fails_loudly() -> None:
    with pytest.raises(AssertionError, match="ledger_event_seals is not in"):
        renamed([LEDGER_DEFINITIONS[0]], NAMES)  # the function's text missing
    # A name the renaming does not cover (here the seal table's) is refused, not written into.
    partial = {k: v for k, v in NAMES.items() if k != "ledger_event_seals"}
    with pytest.raises(AssertionError, match="still names the ledger's"):
        renamed(LEDGER_DEFINITIONS, partial)
