"""``creator-ledger verify`` in a subprocess: exit codes, --json, --export-head and --head."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from creator_ledger import CreatorLedger, Settings
from tests import scenario
from tests.e2e.test_cli import run


def _ledger(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    with CreatorLedger.open(Settings(database_url=url)) as cl:
        scenario.fund(cl)
        scenario.creators(cl, 3, payout_ready=True)
    return url


def test_verify_exits_0_when_clean_and_exports_the_head_once(tmp_path: Path) -> None:
    url = _ledger(tmp_path)
    done = run("verify", "--database", url)
    assert done.returncode == 0, done.stderr
    assert "clean" in done.stdout
    head = tmp_path / "head.json"
    exported = run("verify", "--database", url, "--export-head", str(head), "--json")
    assert exported.returncode == 0, exported.stderr
    out = json.loads(exported.stdout)
    assert out["format"] == "creator-ledger/verify/v1"
    assert out["clean"] is True
    written = json.loads(head.read_text())
    assert written == {"format": "creator-ledger/chain-head/v1", **out["head"]}
    assert len(written["seal"]) == 64
    again = run("verify", "--database", url, "--export-head", str(head))
    assert again.returncode == 2
    assert "exists already" in again.stderr
    assert json.loads(head.read_text()) == written  # not overwritten
    forced = run("verify", "--database", url, "--export-head", str(head), "--force")
    assert forced.returncode == 0, forced.stderr
    checked = run("verify", "--database", url, "--head", str(head), "--json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["checked_head"] == out["head"]


def test_verify_exits_1_listing_each_broken_link_and_exports_nothing(tmp_path: Path) -> None:
    url = _ledger(tmp_path)
    head = tmp_path / "head.json"
    assert run("verify", "--database", url, "--export-head", str(head)).returncode == 0
    conn = sqlite3.connect(tmp_path / "ledger.sqlite")
    conn.execute("DROP TRIGGER stored_events_no_update")  # whoever has the file can
    conn.execute("DROP TRIGGER stored_events_no_delete")
    conn.execute("UPDATE stored_events SET state = CAST(state || ' ' AS BLOB) WHERE rowid = 2")
    conn.execute("DELETE FROM stored_events WHERE rowid = 4")
    conn.commit()
    conn.close()
    done = run("verify", "--database", url, "--json")
    assert done.returncode == 1
    links = json.loads(done.stdout)["broken_links"]
    assert [(b["kind"], b["notification_id"]) for b in links] == [("edited", 2), ("deleted", 4)]
    table = run("verify", "--database", url, "--head", str(head))
    assert table.returncode == 1
    assert "edited" in table.stdout
    assert "deleted" in table.stdout
    assert "broken: 1 edited, 1 deleted" in table.stdout
    other = tmp_path / "other.json"
    refused = run("verify", "--database", url, "--export-head", str(other))
    assert refused.returncode == 1
    assert not other.exists()
    assert "not exported" in refused.stderr
    reconciled = run("reconcile", "internal", "--database", url, "--json")
    assert reconciled.returncode == 1
    assert json.loads(reconciled.stdout)["checks"]["chain"] == 2


def test_verify_refuses_a_bad_head_file_with_exit_2(tmp_path: Path) -> None:
    url = _ledger(tmp_path)
    missing = run("verify", "--database", url, "--head", str(tmp_path / "nope.json"))
    assert missing.returncode == 2
    assert "cannot read the chain head" in missing.stderr
    for text in ("not json", '{"notification_id": -1, "seal": "00"}', "[1, 2]"):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        done = run("verify", "--database", url, "--head", str(bad))
        assert done.returncode == 2, (text, done.stderr)
        assert "not a chain head" in done.stderr
    assert run("verify", "--database", str(tmp_path / "missing.sqlite")).returncode == 2


def test_an_event_that_no_longer_decodes_exits_5_naming_it_and_verify_exits_1(
    tmp_path: Path,
) -> None:
    """Not an internal error (70, "a bug"): every command that reads the changed event says
    which event cannot be read and to run verify, with exit 5; verify lists the edited link."""
    url = _ledger(tmp_path)
    conn = sqlite3.connect(tmp_path / "ledger.sqlite")
    conn.execute("DROP TRIGGER stored_events_no_update")  # whoever has the file can
    conn.execute("UPDATE stored_events SET state = CAST('not json{' AS BLOB) WHERE rowid = 3")
    conn.commit()
    conn.close()
    for args in (("reconcile", "internal"), ("projections", "rebuild"), ("audit",)):
        done = run(*args, "--database", url)
        assert done.returncode == 5, (args, done.returncode, done.stderr)
        assert done.stderr.startswith("error: the stored event ")
        assert "cannot be read" in done.stderr
        assert "run `creator-ledger verify`" in done.stderr.lower()
        assert "internal error" not in done.stderr
        assert "Traceback" not in done.stderr
    verified = run("verify", "--database", url, "--json")
    assert verified.returncode == 1, verified.stderr
    links = json.loads(verified.stdout)["broken_links"]
    assert [(b["kind"], b["notification_id"]) for b in links] == [("edited", 3)]
