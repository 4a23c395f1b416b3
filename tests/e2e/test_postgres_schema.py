"""LEDGER_POSTGRES_SCHEMA end to end: migrate into a fresh schema, run commands, queries, a plan
and a rebuild in it, and find nothing of the ledger's in ``public``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest

from creator_ledger import CreatorLedger, Settings
from tests import scenario
from tests.conftest import Clock, pg_admin, pg_url

SCHEMA = "creator_ops"


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env["LEDGER_POSTGRES_SCHEMA"] = SCHEMA
    return subprocess.run(
        [sys.executable, "-m", "creator_ledger", *args, "--database", url],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


@pytest.fixture
def fresh_database(pg_template: str) -> Iterator[str]:
    name = f"{pg_template}_schema"
    with pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield pg_url(name)
    with pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def objects_in(url: str, schema: str) -> list[str]:
    """Tables, indexes, sequences, views, types and functions in ``schema``."""
    import psycopg

    with psycopg.connect(url) as conn:
        relations = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s",
            (schema,),
        ).fetchall()
        types = conn.execute(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
            " WHERE n.nspname = %s AND t.typelem = 0 AND t.typrelid = 0",
            (schema,),
        ).fetchall()
        functions = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s",
            (schema,),
        ).fetchall()
    return sorted(str(r[0]) for r in [*relations, *types, *functions])


@pytest.mark.postgres
def test_the_ledger_lives_in_its_schema_and_leaves_public_untouched(fresh_database: str) -> None:
    url = fresh_database
    migrated = cli(url, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"schema {SCHEMA}" in migrated.stdout
    assert "0001_event_store" in migrated.stdout

    settings = Settings(database_url=url, postgres_schema=SCHEMA)
    with CreatorLedger.open(settings, clock=Clock()) as cl:  # commands
        scenario.fund(cl)
        refs = scenario.creators(cl, 3, payout_ready=True)
        [day] = scenario.pool_program(cl)
        scenario.usage(cl, "pool", day, [(r, "v", 1_000 * (i + 1)) for i, r in enumerate(refs)])
        scenario.close(cl, "pool", day)

    balances = cli(url, "balances", refs[2], "--json")  # a query
    assert balances.returncode == 0, balances.stderr
    assert json.loads(balances.stdout)["balances"][0]["payable_minor"] == 50_000
    plan = cli(url, "payouts", "plan", "--currency", "USD", "--json")  # a plan
    assert plan.returncode == 0, plan.stderr
    assert len(json.loads(plan.stdout)["lines"]) == 3
    rebuilt = cli(url, "projections", "rebuild")  # a rebuild
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert cli(url, "reconcile", "internal").returncode == 0
    verified = cli(url, "verify", "--json")  # the hash chain, sealed in this schema
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["seals"] == json.loads(verified.stdout)["events"] > 0
    assert cli(url, "migrate").stdout.startswith(f"up to date (schema {SCHEMA})")

    assert objects_in(url, "public") == []
    ledger_objects = objects_in(url, SCHEMA)
    for name in (
        "ledger_events",
        "projection_tracking",
        "postings",
        "_yoyo_migration",
        "ledger_event_seals",
        "ledger_snapshot_seals",
        "ledger_seal_events",
        "ledger_append_events",
    ):
        assert name in ledger_objects
    with psycopg.connect(url) as conn:  # the SECURITY DEFINER functions' search path is pinned
        configs = conn.execute(
            "SELECT p.proname, p.proconfig, p.prosecdef FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s AND p.proname IN"
            " ('ledger_seal_events', 'ledger_seal_snapshots', 'ledger_append_events')"
            " ORDER BY p.proname",
            (SCHEMA,),
        ).fetchall()
    pinned = [f"search_path={SCHEMA}, pg_temp"]
    assert configs == [
        ("ledger_append_events", pinned, True),
        ("ledger_seal_events", pinned, True),
        ("ledger_seal_snapshots", pinned, True),
    ]

    # The default schema has no ledger: the ledger says so instead of reading another's.
    elsewhere = subprocess.run(
        [sys.executable, "-m", "creator_ledger", "trial-balance", "--database", url],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")},
        check=False,
    )
    assert elsewhere.returncode == 4
    assert "creator-ledger migrate" in elsewhere.stderr
