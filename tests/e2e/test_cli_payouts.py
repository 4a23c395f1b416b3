"""Payout commands in subprocesses against the Stripe-compatible fake: the dry run, execution,
two executions at once, and an executor killed with SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from creator_ledger import CreatorLedger, Settings
from tests.conftest import Clock
from tests.fakes.stripe_server import FakeStripeServer, Fault, fake_stripe
from tests.scenario import ACTOR, close, creators, fund, pool_program, usage

N = 12


@pytest.fixture
def server() -> Iterator[FakeStripeServer]:
    with fake_stripe() as fake:
        fake.set_time(int(time.time()))
        yield fake


def env_for(server: FakeStripeServer, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "LEDGER_DATABASE_URL": url,
        "STRIPE_SECRET_KEY": server.api_key,
        "STRIPE_API_BASE": server.base_url,
        "LEDGER_ACTOR": "op:payments-operator@example.com",
    }


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "creator_ledger", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def seed(url: str, server: FakeStripeServer) -> None:
    with CreatorLedger.open(Settings(database_url=url), clock=Clock()) as cl:
        fund(cl)
        refs = creators(cl, N)
        for ref in refs:
            cl.link_payout_account(
                creator_ref=ref,
                account_ref=server.create_account(),
                status="active",
                idempotency_key=f"a/{ref}",
                actor=ACTOR,
            )
            cl.set_kyc_status(
                creator_ref=ref,
                kyc_status="verified",
                tax_status="verified",
                idempotency_key=f"k/{ref}",
                actor=ACTOR,
            )
        cl.place_hold(
            creator_ref=refs[0],
            hold_id="review",
            kind="payout",
            reason="manual review",
            idempotency_key="h",
            actor=ACTOR,
        )
        [period] = pool_program(cl, pool_minor=1_200_000)
        usage(cl, "pool", period, [(r, "v", 1) for r in refs])
        close(cl, "pool", period)


def plan_file(tmp_path: Path, env: dict[str, str]) -> tuple[Path, dict[str, object]]:
    path = tmp_path / "plan.json"
    dry = cli("payouts", "plan", "--currency", "USD", "--out", str(path), env=env)
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing is paid or written" in dry.stdout
    assert "payout_hold" in dry.stdout
    return path, json.loads(path.read_text())


def assert_paid_once(
    server: FakeStripeServer, plan: dict[str, object], env: dict[str, str]
) -> None:
    lines = plan["lines"]
    assert isinstance(lines, list)
    counts = server.transfer_counts_by_payout()
    assert len(counts) == len(lines) == N - 1
    assert set(counts.values()) == {1}
    report = cli("reconcile", "provider", "--json", env=env)
    assert report.returncode == 0, report.stdout + report.stderr
    assert json.loads(report.stdout)["clean"] is True


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


def test_plan_then_execute_pays_exactly_the_plan(
    server: FakeStripeServer, sqlite_url: str, tmp_path: Path
) -> None:
    seed(sqlite_url, server)
    env = env_for(server, sqlite_url)
    path, plan = plan_file(tmp_path, env)
    paid = cli("payouts", "execute", str(path), "--json", env=env)
    assert paid.returncode == 0, paid.stderr
    result = json.loads(paid.stdout)
    assert (result["paid"], result["failed"], result["unresolved"], result["complete"]) == (
        N - 1,
        0,
        0,
        True,
    )
    assert_paid_once(server, plan, env)
    status = cli("payouts", "status", str(plan["run_id"]), "--json", env=env)
    assert json.loads(status.stdout)["by_status"] == {"paid": N - 1}
    again = cli("payouts", "execute", str(path), "--json", env=env)
    assert again.returncode == 0
    assert len(server.transfers()) == N - 1
    csv_out = cli("payouts", "plan", "--csv", env=env)
    assert csv_out.stdout.splitlines()[0].startswith("kind,creator_ref")


def test_an_edited_plan_file_is_refused(
    server: FakeStripeServer, sqlite_url: str, tmp_path: Path
) -> None:
    seed(sqlite_url, server)
    env = env_for(server, sqlite_url)
    path, plan = plan_file(tmp_path, env)
    plan["total_minor"] = 1
    path.write_text(json.dumps(plan))
    refused = cli("payouts", "execute", str(path), env=env)
    assert refused.returncode == 2
    assert "edited or damaged" in refused.stderr
    assert server.transfers() == []


@pytest.mark.postgres
def test_two_processes_executing_one_plan_at_once_pay_each_payout_once(
    server: FakeStripeServer, pg_database: str, tmp_path: Path
) -> None:
    seed(pg_database, server)
    env = env_for(server, pg_database)
    path, plan = plan_file(tmp_path, env)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "creator_ledger",
                "payouts",
                "execute",
                str(path),
                "--batch-size",
                "3",
                "--json",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert_paid_once(server, plan, env)


def test_an_executor_killed_mid_run_is_finished_by_the_next_run(
    server: FakeStripeServer, sqlite_url: str, tmp_path: Path
) -> None:
    seed(sqlite_url, server)
    env = env_for(server, sqlite_url)
    path, plan = plan_file(tmp_path, env)
    # The first transfer is committed at the fake but its answer is held back, and the executor
    # is killed with SIGKILL while it waits: payouts requested, one sent, nothing recorded.
    server.faults.push(Fault.TIMEOUT_AFTER_COMMIT, path=r"/v1/transfers", times=1, delay_s=30)
    proc = subprocess.Popen(
        [sys.executable, "-m", "creator_ledger", "payouts", "execute", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(server.transfers()) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert len(server.transfers()) == 1
    resumed = cli("payouts", "execute", str(path), "--json", env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert json.loads(resumed.stdout)["paid"] == N - 1
    assert_paid_once(server, plan, env)
