"""Every command against a missing database, an unmigrated one and bad URLs: one line on stderr
that names the host, a documented exit code, no traceback (unless --debug), fast; and no
secret the test set (the database password, the Stripe key, the webhook secret) in any output,
error or log line of any command."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import PG_HOST, PG_PORT, PG_USER, pg_admin

PASSWORD = "S3CRET-DB-PASSWORD"
STRIPE_KEY = "sk_test_51SECRETSTRIPEKEY0123456789"
WEBHOOK_SECRET = "whsec_SECRETWEBHOOK0123456789"
SECRETS = (PASSWORD, STRIPE_KEY, WEBHOOK_SECRET, "SECRETSTRIPEKEY", "SECRETWEBHOOK")

#: Every command that opens the ledger, with the arguments it needs.
COMMANDS: list[list[str]] = [
    ["balances", "alice"],
    ["fund", "fund-1"],
    ["trial-balance"],
    ["statement", "alice", "--since", "2026-01-01", "--until", "2026-01-31"],
    ["journal"],
    ["journal", "summary", "--period", "month"],
    ["projections", "catch-up"],
    ["projections", "rebuild"],
    ["reconcile", "internal", "--json"],
    ["reconcile", "provider", "--json"],
    ["payouts", "plan", "--currency", "USD", "--json"],
    ["payouts", "status", "usd-2026-06-30-0000000000000000"],
    ["worker", "--once"],
    ["serve", "--port", "1"],
]


def env(**extra: str) -> dict[str, str]:
    out = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEDGER_", "STRIPE_")) and k != "PGPASSWORD"
    }
    out.update(
        {
            "STRIPE_SECRET_KEY": STRIPE_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "LEDGER_PAYMENT_PROVIDER": "memory",
            "LEDGER_CONNECT_TIMEOUT_S": "2",
            "LEDGER_ACTOR": "op:tester@example.com",
            **extra,
        }
    )
    return out


def run(
    url: str, args: list[str], *, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "creator_ledger",
            "--log-format",
            "json",
            "--log-level",
            "DEBUG",
            *args,
            "--database",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env(**(extra_env or {})),
        check=False,
    )
    return done, time.monotonic() - started


def run_all(
    url: str, commands: list[list[str]] | None = None
) -> list[tuple[list[str], subprocess.CompletedProcess[str], float]]:
    todo = commands or COMMANDS
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda a: run(url, a), todo))
    return [(a, r, s) for a, (r, s) in zip(todo, results, strict=True)]


def assert_one_clear_line(
    results: list[tuple[list[str], subprocess.CompletedProcess[str], float]],
    *,
    code: int,
    says: str,
    within_s: float,
) -> None:
    for args, done, seconds in results:
        what = " ".join(args)
        assert done.returncode == code, (what, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr, what
        errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1, (what, done.stderr)
        assert says in errors[0], (what, errors[0])
        assert seconds < within_s, (what, seconds)
        for secret in SECRETS:
            assert secret not in done.stdout + done.stderr, (what, secret)


def pg(dbname: str, *, password: str = PASSWORD, port: str = PG_PORT, host: str = PG_HOST) -> str:
    return f"postgresql://{PG_USER}:{password}@{host}:{port}/{dbname}"


@pytest.fixture
def blank_database(pg_template: str) -> Iterator[str]:
    """A PostgreSQL database that exists and was never migrated."""
    name = f"{pg_template}_blank"
    with pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections and never answers (a hung server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.postgres
def test_every_command_against_a_missing_database_says_create_it_and_migrate_exit_4(
    pg_template: str,
) -> None:
    results = run_all(pg(f"{pg_template}_does_not_exist"))
    assert_one_clear_line(results, code=4, says="does not exist on", within_s=30)
    assert all("creator-ledger migrate" in r.stderr for _, r, _ in results)


@pytest.mark.postgres
def test_every_command_against_an_unmigrated_database_says_run_migrate_exit_4(
    blank_database: str,
) -> None:
    results = run_all(pg(blank_database))
    assert_one_clear_line(results, code=4, says="run `creator-ledger migrate`", within_s=30)
    assert all(f"{PG_HOST}:{PG_PORT}" in r.stderr for _, r, _ in results)


def test_every_command_against_a_closed_port_names_the_host_exit_3() -> None:
    results = run_all(pg("ledger", port="1"))
    assert_one_clear_line(
        results, code=3, says="cannot reach PostgreSQL at 127.0.0.1:1", within_s=30
    )


def test_a_database_that_never_answers_fails_within_the_connect_timeout(
    silent_server: int,
) -> None:
    results = run_all(pg("ledger", port=str(silent_server)), [["balances", "alice"], ["journal"]])
    # LEDGER_CONNECT_TIMEOUT_S=2: a little start-up time on top, never the library's 30 s.
    assert_one_clear_line(
        results, code=3, says=f"cannot reach PostgreSQL at 127.0.0.1:{silent_server}", within_s=15
    )


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://ledger:{PASSWORD}@db.example.com/ledger",
        f"postgress://ledger:{PASSWORD}@db.example.com/ledger",
        f"ledger:{PASSWORD}@db.example.com/ledger",
    ],
)
def test_an_unsupported_url_is_bad_usage_without_its_password(url: str) -> None:
    for args in (["migrate"], ["balances", "alice"]):
        done, _ = run(url, args)
        assert done.returncode == 2, done.stderr
        assert "unsupported database URL" in done.stderr
        assert "SQLite needs no migrations" not in done.stdout
        assert PASSWORD not in done.stdout + done.stderr
        assert "***" in done.stderr


def test_debug_prints_the_traceback_and_keeps_the_exit_code() -> None:
    debug = subprocess.run(
        [sys.executable, "-m", "creator_ledger", "--debug", "balances", "alice"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env(LEDGER_DATABASE_URL=pg("ledger", port="1")),
        check=False,
    )
    assert debug.returncode == 3
    assert "Traceback" in debug.stderr
    assert PASSWORD not in debug.stdout + debug.stderr


@pytest.mark.postgres
def test_no_output_error_or_log_line_of_any_command_shows_a_secret(
    pg_database: str, tmp_path: Path
) -> None:
    """On a working database, with DEBUG JSON logs: every command, then an unreachable
    provider (exit 3, naming its host)."""
    url = pg_database.replace(f"{PG_USER}@", f"{PG_USER}:{PASSWORD}@")
    ok = [c for c in COMMANDS if c[0] not in {"serve", "payouts"} or c[1] == "plan"]
    results = run_all(url, ok)
    for args, done, _ in results:
        output = done.stdout + done.stderr
        assert "Traceback" not in output, args
        for secret in SECRETS:
            assert secret not in output, (args, secret)
        for line in done.stderr.splitlines():
            if line.startswith("{"):
                json.loads(line)  # every log line is one JSON object
    unreachable, _ = run(
        url,
        ["reconcile", "provider", "--json"],
        extra_env={
            "LEDGER_PAYMENT_PROVIDER": "stripe",
            "STRIPE_API_BASE": "http://127.0.0.1:1",
            "LEDGER_STRIPE_MAX_NETWORK_RETRIES": "0",
        },
    )
    assert unreachable.returncode == 3, unreachable.stderr
    assert "cannot reach Stripe at 127.0.0.1:1" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    for secret in SECRETS:
        assert secret not in unreachable.stdout + unreachable.stderr
