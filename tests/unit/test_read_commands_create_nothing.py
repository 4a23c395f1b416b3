"""Read commands never create a ledger: a mistyped SQLite path is an error saying so (and how
to create one), and nothing appears on disk, neither the file nor its folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from creator_ledger import CreatorLedger, Settings
from creator_ledger.domain.errors import NotFoundError
from creator_ledger.ledger.cli import app
from tests.conftest import Clock
from tests.scenario import fund

READ_COMMANDS = [
    ["balances", "alice"],
    ["fund", "fund"],
    ["trial-balance"],
    ["statement", "alice", "--since", "2026-01-01", "--until", "2026-01-31"],
    ["journal"],
    ["reconcile", "internal"],
    ["reconcile", "provider"],
    ["payouts", "plan", "--currency", "USD"],
    ["payouts", "status", "run-1"],
    ["projections", "catch-up"],
    ["projections", "rebuild"],
]


def test_opening_a_missing_ledger_for_reading_is_refused_and_creates_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "typo" / "nested" / "ledger.sqlite"
    settings = Settings(database_url=f"sqlite:///{path}")
    with pytest.raises(NotFoundError, match=r"no ledger at .*ledger\.sqlite: the file does not"):
        CreatorLedger.open(settings, create=False)
    assert not (tmp_path / "typo").exists()
    with CreatorLedger.open(settings, clock=Clock()) as cl:  # creating is the default
        fund(cl)
    with CreatorLedger.open(settings, create=False) as cl:  # ... and then it can be read
        assert cl.fund("fund").budget_minor == 100_000_000


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_read_commands_refuse_a_missing_sqlite_file_and_create_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "typo" / "ledger.sqlite"
    result = CliRunner().invoke(
        app,
        [*command, "--database", f"sqlite:///{path}"],
        env={"LEDGER_PAYMENT_PROVIDER": "memory"},
    )
    assert result.exit_code == 2, result.output
    assert "no ledger at" in result.output
    assert "creator-ledger demo --database" in result.output
    assert not (tmp_path / "typo").exists()


def test_the_installed_command_says_the_same(tmp_path: Path) -> None:
    path = tmp_path / "typo" / "ledger.sqlite"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "creator_ledger",
            "trial-balance",
            "--database",
            f"sqlite:///{path}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "no ledger at" in done.stderr
    assert not (tmp_path / "typo").exists()
