"""The command line in a subprocess, as an operator or a cron job runs it."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "creator_ledger", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    done = run("demo", "--creators", "60", "--database", str(path))
    assert done.returncode == 0, done.stderr
    return path


def test_the_demo_keeps_its_ledger_where_a_path_or_a_sqlite_url_says(tmp_path: Path) -> None:
    """``--database`` takes what the other commands take (``sqlite:///path``) as well as a path:
    the file is made there (not a folder named ``sqlite:``), and the other commands read it."""
    path = tmp_path / "kept.sqlite"
    done = run("demo", "--creators", "30", "--database", f"sqlite:///{path}")
    assert done.returncode == 0, done.stderr
    assert path.is_file()
    assert f"ledger kept in {path}" in done.stdout
    assert not (Path.cwd() / "sqlite:").exists()
    assert run("trial-balance", "--database", f"sqlite:///{path}").returncode == 0


def test_the_demo_refuses_a_database_it_cannot_make_fresh_and_makes_nothing(
    tmp_path: Path,
) -> None:
    existing = tmp_path / "existing.sqlite"
    existing.write_bytes(b"keep me")
    cases = {
        "postgresql://postgres@127.0.0.1:5432/x": "fresh SQLite file",
        f"sqlite:///{existing}": "exists already",
        str(existing): "exists already",
        str(tmp_path): "exists already",
        str(tmp_path / "missing" / "demo.sqlite"): "does not exist",
        str(existing / "demo.sqlite"): "is a file, not a folder",
        "": "empty",
    }
    for database, message in cases.items():
        done = run("demo", "--creators", "30", "--database", database)
        assert done.returncode == 2, (database, done.stderr)
        assert message in done.stderr, (database, done.stderr)
        assert "postgres@" not in done.stderr or "://..." in done.stderr
    assert existing.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.sqlite"]


def test_the_demo_prints_the_same_story_for_the_same_seed() -> None:
    first = run("demo", "--creators", "60", "--seed", "3")
    second = run("demo", "--creators", "60", "--seed", "3")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    out = first.stdout
    for expected in (
        "Fund creator-fund-2026",
        "200,000,000.00 USD",
        "TOTAL (must be zero)",
        "Statement of creator-0007",
        "rejected",
        "clean",
        "proposed by op:ana@finance.example",
        "approvals: 1 of 1 (op:ben@controller.example)",
        "executed by svc:payout-runner",
        "tax_info_missing",
        "payout_account_changed_recently",
    ):
        assert expected in out
    other = run("demo", "--creators", "60", "--seed", "4")
    assert other.stdout != first.stdout


def test_reconcile_internal_exits_0_when_clean_and_1_listing_every_discrepancy(
    demo_db: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{demo_db}"
    clean = run("reconcile", "internal", "--json", "--database", url)
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["clean"] is True

    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(demo_db.read_bytes())
    with sqlite3.connect(broken) as conn:
        conn.execute(
            "UPDATE balances SET balance_minor = balance_minor + 1 WHERE rowid IN"
            " (SELECT rowid FROM balances WHERE kind = 'creator:payable' LIMIT 2)"
        )
    report = run("reconcile", "internal", "--json", "--database", f"sqlite:///{broken}")
    assert report.returncode == 1
    body = json.loads(report.stdout)
    assert body["clean"] is False
    assert body["checks"]["replay"] == 2
    assert body["checks"]["postings"] == 2
    assert body["checks"]["books"] == 0  # the account books agree with the events
    assert body["checks"]["trial-balance"] == 1


def test_queries_print_tables_or_json(demo_db: Path) -> None:
    url = f"sqlite:///{demo_db}"
    balances = run("balances", "creator-0003", "--json", "--database", url)
    assert balances.returncode == 0, balances.stderr
    assert json.loads(balances.stdout)["balances"][0]["currency"] == "USD"
    assert (
        "payable"
        in run("balances", "creator-0003", "--as-of", "2026-01-02", "--database", url).stdout
    )
    statement = run(
        "statement",
        "creator-0003",
        "--since",
        "2026-01-01",
        "--until",
        "2026-03-31",
        "--database",
        url,
    )
    assert "receipt-88123" in statement.stdout
    assert "rejected" in statement.stdout
    tb = run("trial-balance", "--json", "--database", url)
    assert tb.returncode == 0
    assert json.loads(tb.stdout)["balanced"] is True
    journal = run("journal", "--limit", "5", "--database", url)
    assert journal.stdout.splitlines()[0].startswith("entry_id,effective_on")
    rows = list(csv.DictReader(io.StringIO(journal.stdout)))
    assert len({r["entry_id"] for r in rows}) == 5  # --limit counts whole entries
    assert sum(int(r["amount_minor"]) for r in rows) == 0
    assert "--after" in journal.stderr
    assert journal.stdout.splitlines()[0].endswith(",actor")
    assert all(r["actor"] == "op:demo" for r in rows)


def test_bad_usage_exits_2_with_a_clear_message(demo_db: Path) -> None:
    url = f"sqlite:///{demo_db}"
    unknown = run("balances", "nobody", "--database", url)
    assert unknown.returncode == 2
    assert "unknown creator 'nobody'" in unknown.stderr
    bad_date = run("balances", "creator-0003", "--as-of", "yesterday", "--database", url)
    assert bad_date.returncode == 2
    assert "YYYY-MM-DD" in bad_date.stderr


def test_a_rebuild_from_the_cli_reproduces_the_read_models(demo_db: Path) -> None:
    url = f"sqlite:///{demo_db}"
    before = run("trial-balance", "--json", "--database", url).stdout
    rebuilt = run("projections", "rebuild", "--database", url)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt read models from" in rebuilt.stdout
    assert run("trial-balance", "--json", "--database", url).stdout == before
    assert run("reconcile", "internal", "--database", url).returncode == 0


@pytest.mark.postgres
def test_migrate_applies_the_schema_once(pg_template: str) -> None:
    from tests.conftest import pg_admin, pg_url

    name = f"{pg_template}_cli"
    with pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        first = run("migrate", "--database", pg_url(name))
        assert first.returncode == 0, first.stderr
        assert "0001_event_store" in first.stdout
        again = run("migrate", "--database", pg_url(name))
        assert again.returncode == 0
        assert "up to date" in again.stdout
    finally:
        with pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_journal_pages_csv_and_json_agree_and_each_page_balances(demo_db: Path) -> None:
    url = f"sqlite:///{demo_db}"
    whole = run("journal", "--all", "--limit", "3", "--database", url)
    assert whole.returncode == 0, whole.stderr
    rows = list(csv.DictReader(io.StringIO(whole.stdout)))
    assert list(rows[0])[:8] == [
        "entry_id",
        "effective_on",
        "entry_kind",
        "account_kind",
        "owner",
        "currency",
        "amount_minor",
        "description",
    ]
    assert {"line_id", "creator_ref", "event_id", "recorded_at"} <= set(rows[0])
    assert any(r["creator_ref"].startswith("creator-") for r in rows)

    first = json.loads(run("journal", "--json", "--limit", "3", "--database", url).stdout)
    assert first["format"] == "creator-ledger/journal/v1"
    assert first["entries"] == 3
    lines = list(first["lines"])
    cursor = first["next_cursor"]
    while cursor is not None:
        page = json.loads(
            run("journal", "--json", "--limit", "50", "--after", cursor, "--database", url).stdout
        )
        assert sum(ln["amount_minor"] for ln in page["lines"]) == 0  # whole entries
        lines += page["lines"]
        cursor = page["next_cursor"]
    assert [ln["line_id"] for ln in lines] == [r["line_id"] for r in rows]

    summary = run("journal", "summary", "--period", "month", "--json", "--database", url)
    assert summary.returncode == 0, summary.stderr
    body = json.loads(summary.stdout)
    assert body["format"] == "creator-ledger/journal-summary/v1"
    assert {ln["line_id"].split("/")[0] for ln in body["lines"]} >= {"2026-01"}
    assert set(body["net_by_currency"].values()) == {0}
    as_csv = run("journal", "summary", "--database", url)
    assert as_csv.stdout.startswith("line_id,period,account_kind,currency,debit_minor")


def test_json_outputs_carry_their_format_and_the_version_is_printed(demo_db: Path) -> None:
    url = f"sqlite:///{demo_db}"
    for args, kind in (
        (["balances", "creator-0003"], "balances"),
        (["trial-balance"], "trial-balance"),
        (["reconcile", "internal"], "reconcile-internal"),
        (["payouts", "plan", "--currency", "USD"], "payout-plan"),
    ):
        done = run(*args, "--json", "--database", url)
        assert json.loads(done.stdout)["format"].startswith("creator-ledger/"), args
        if kind != "payout-plan":
            assert json.loads(done.stdout)["format"] == f"creator-ledger/{kind}/v1"
    from creator_ledger import __version__

    version = run("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"creator-ledger {__version__}"
