"""The README's Python API example runs as written, on a fresh embedded ledger, and what it
builds is what the README says: alice and bob are paid from the pool, the books balance and the
chain verifies."""

from __future__ import annotations

from pathlib import Path

import pytest

from creator_ledger import CreatorLedger

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _example() -> str:
    section = README.split("## Python API", 1)[1]
    return section.split("```python", 1)[1].split("```", 1)[0]


def test_the_python_api_example_runs_and_its_ledger_is_sound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # CreatorLedger.open() uses ./creator-ledger.sqlite
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
    exec(compile(_example(), "README.md (Python API)", "exec"), {"__name__": "readme"})
    assert (tmp_path / "creator-ledger.sqlite").exists()
    with CreatorLedger.open() as cl:
        assert cl.trial_balance().balanced
        assert cl.reconcile_internal().clean
        assert cl.verify().clean
        assert any(b.payable_minor > 0 for b in cl.balances("alice").balances)
