"""The limit rows store events in the library's own JSON format, and the bench uses only the
ledger's public API (plus its pure domain and the payment port)."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, UUIDAsHex

from bench.scratch import event_state
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
