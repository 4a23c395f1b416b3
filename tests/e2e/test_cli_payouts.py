"""Payout commands in subprocesses against the Stripe-compatible fake: the dry run, the run's
workflow with two different actors (propose, approve, execute, status, audit), plan files that
are only views, two executions at once, and an executor killed with SIGKILL mid-run."""

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
from creator_ledger.ledger.plan import PayoutPlan
from tests.conftest import Clock
from tests.fakes.stripe_server import FakeStripeServer, Fault, fake_stripe
from tests.scenario import ACTOR, close, creators, fund, pool_program, usage

N = 12


@pytest.fixture
def server() -> Iterator[FakeStripeServer]:
    with fake_stripe() as fake:
        fake.set_time(int(time.time()))
        yield fake


#: Who proposes the runs, and who approves them (the executor is LEDGER_ACTOR).
PROPOSER = "op:proposer@example.com"
APPROVER = "op:approver@example.com"
EXECUTOR = "op:payments-operator@example.com"


def env_for(server: FakeStripeServer, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "LEDGER_DATABASE_URL": url,
        "STRIPE_SECRET_KEY": server.api_key,
        "STRIPE_API_BASE": server.base_url,
        "LEDGER_ACTOR": EXECUTOR,
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
    """The dry run's file: what a proposal would record."""
    path = tmp_path / "plan.json"
    dry = cli("payouts", "plan", "--currency", "USD", "--out", str(path), env=env)
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing is paid or written" in dry.stdout
    assert "payout_hold" in dry.stdout
    return path, json.loads(path.read_text())


def released(tmp_path: Path, env: dict[str, str]) -> tuple[str, dict[str, object]]:
    """Proposed by PROPOSER and approved by APPROVER; the run id and its plan file's body."""
    path = tmp_path / "run.json"
    proposed = cli("payouts", "propose", "--out", str(path), "--json", "--actor", PROPOSER, env=env)
    assert proposed.returncode == 0, proposed.stderr
    run_id = json.loads(proposed.stdout)["run_id"]
    approved = cli("payouts", "approve", run_id, "--json", "--actor", APPROVER, env=env)
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["status"] == "approved"
    return run_id, json.loads(path.read_text())


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


def test_propose_approve_execute_with_two_actors_pays_exactly_the_run(
    server: FakeStripeServer, sqlite_url: str, tmp_path: Path
) -> None:
    seed(sqlite_url, server)
    env = env_for(server, sqlite_url)
    _, dry = plan_file(tmp_path, env)
    proposed = cli("payouts", "propose", "--json", "--actor", PROPOSER, env=env)
    assert proposed.returncode == 0, proposed.stderr
    run = json.loads(proposed.stdout)
    assert (run["run_id"], run["status"], run["proposed_by"]) == (
        dry["run_id"],
        "proposed",
        PROPOSER,
    )
    run_id = run["run_id"]
    # Nobody is paid before another person approves, and the proposer cannot approve.
    early = cli("payouts", "execute", run_id, env=env)
    assert early.returncode == 2
    assert "approve it first" in early.stderr
    own = cli("payouts", "approve", run_id, "--actor", PROPOSER, env=env)
    assert own.returncode == 2
    assert "cannot approve it too" in own.stderr
    no_actor = cli("payouts", "approve", run_id, env={**env, "LEDGER_ACTOR": ""})
    assert no_actor.returncode == 2
    assert "--actor or LEDGER_ACTOR" in no_actor.stderr
    assert server.transfers() == []
    approved = cli("payouts", "approve", run_id, "--actor", APPROVER, env=env)
    assert approved.returncode == 0, approved.stderr
    assert f"approvals: 1 of 1 ({APPROVER})" in approved.stdout
    paid = cli("payouts", "execute", run_id, "--json", env=env)
    assert paid.returncode == 0, paid.stderr
    result = json.loads(paid.stdout)
    assert (result["paid"], result["failed"], result["unresolved"], result["complete"]) == (
        N - 1,
        0,
        0,
        True,
    )
    assert_paid_once(server, dry, env)
    status = json.loads(cli("payouts", "status", run_id, "--json", env=env).stdout)
    assert status["by_status"] == {"paid": N - 1}
    assert status["run"]["status"] == "finished"
    assert (status["run"]["proposed_by"], status["run"]["approved_by"]) == (PROPOSER, [APPROVER])
    assert status["executed_by"] == [EXECUTOR]
    shown = cli("payouts", "status", run_id, env=env)
    assert f"proposed by {PROPOSER}" in shown.stdout
    assert f"executed by {EXECUTOR}" in shown.stdout
    audit = json.loads(cli("audit", "--run", run_id, "--json", env=env).stdout)
    assert [(e["command"], e["actor"]) for e in audit["entries"]] == [
        ("propose_payout_run", PROPOSER),
        ("approve_payout_run", APPROVER),
        ("execute", EXECUTOR),
    ]
    again = cli("payouts", "execute", run_id, "--json", env=env)
    assert again.returncode == 0
    assert len(server.transfers()) == N - 1
    csv_out = cli("payouts", "plan", "--csv", env=env)
    assert csv_out.stdout.splitlines()[0].startswith("kind,creator_ref")


def test_a_rejected_run_pays_nothing(
    server: FakeStripeServer, sqlite_url: str, tmp_path: Path
) -> None:
    seed(sqlite_url, server)
    env = env_for(server, sqlite_url)
    proposed = cli("payouts", "propose", "--json", "--actor", PROPOSER, env=env)
    run_id = json.loads(proposed.stdout)["run_id"]
    no_reason = cli("payouts", "reject", run_id, "--actor", APPROVER, env=env)
    assert no_reason.returncode == 2  # --reason is required
    rejected = cli(
        "payouts", "reject", run_id, "--reason", "wrong month", "--actor", APPROVER, env=env
    )
    assert rejected.returncode == 0, rejected.stderr
    assert "rejected by op:approver@example.com: wrong month" in rejected.stdout
    refused = cli("payouts", "execute", run_id, env=env)
    assert refused.returncode == 2
    assert "was rejected" in refused.stderr
    assert server.transfers() == []


def test_an_edited_plan_file_is_refused(
    server: FakeStripeServer, sqlite_url: str, tmp_path: Path
) -> None:
    seed(sqlite_url, server)
    env = env_for(server, sqlite_url)
    run_id, plan = released(tmp_path, env)
    path = tmp_path / "edited.json"
    plan["total_minor"] = 1
    path.write_text(json.dumps(plan))
    refused = cli("payouts", "execute", str(path), env=env)
    assert refused.returncode == 2
    assert "edited or damaged" in refused.stderr
    # Edited and sealed again (its hash recomputed): still refused, as it is not the run.
    resealed = PayoutPlan.model_validate({**plan, "total_minor": plan["total_minor"]})
    lines = [dict(x) for x in resealed.model_dump()["lines"]]
    lines[0]["destination"] = "acct_attacker"
    forged = PayoutPlan.model_validate({**resealed.model_dump(), "lines": lines}).sealed()
    path.write_text(forged.model_dump_json())
    refused = cli("payouts", "execute", str(path), env=env)
    assert refused.returncode == 2
    assert "differs from the run recorded in the ledger" in refused.stderr
    assert "acct_attacker" in refused.stderr
    assert server.transfers() == []
    assert run_id == plan["run_id"]


def test_out_never_overwrites_a_file_or_the_ledger_and_says_why(
    server: FakeStripeServer, sqlite_url: str, tmp_path: Path
) -> None:
    seed(sqlite_url, server)
    env = env_for(server, sqlite_url)
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    existing = tmp_path / "existing.json"
    existing.write_text("keep me")
    link = tmp_path / "link.json"
    link.symlink_to(database)
    cases = {
        str(existing): "exists already",
        str(database): "the ledger's own database",
        str(link): "the ledger's own database",
        str(tmp_path): "is a directory",
        str(tmp_path / "missing" / "plan.json"): "does not exist",
    }
    for target, why in cases.items():
        for command in (["plan"], ["propose", "--actor", PROPOSER]):
            done = cli("payouts", *command, "--out", target, env=env)
            assert done.returncode == 2, (target, done.stdout, done.stderr)
            assert why in done.stderr, (target, done.stderr)
            assert "Traceback" not in done.stderr
        forced = cli("payouts", "plan", "--out", target, "--force", env=env)
        assert forced.returncode == (0 if target == str(existing) else 2), (target, forced.stderr)
    assert database.read_bytes().startswith(b"SQLite format 3\x00")  # still the ledger
    assert cli("trial-balance", env=env).returncode == 0
    assert json.loads(existing.read_text())["format"] == "creator-ledger/payout-plan/v1"
    # Nothing was proposed by the refused commands: the ledger has no run.
    audit = json.loads(cli("audit", "--json", env=env).stdout)
    assert "propose_payout_run" not in {e["command"] for e in audit["entries"]}


@pytest.mark.postgres
def test_two_processes_executing_one_plan_at_once_pay_each_payout_once(
    server: FakeStripeServer, pg_database: str, tmp_path: Path
) -> None:
    seed(pg_database, server)
    env = env_for(server, pg_database)
    run_id, plan = released(tmp_path, env)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "creator_ledger",
                "payouts",
                "execute",
                run_id,
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
    run_id, plan = released(tmp_path, env)
    # The first transfer is committed at the fake but its answer is held back, and the executor
    # (sending one at a time) is killed with SIGKILL while it waits: payouts requested, one
    # sent, nothing recorded.
    server.faults.push(Fault.TIMEOUT_AFTER_COMMIT, path=r"/v1/transfers", times=1, delay_s=30)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "creator_ledger",
            "payouts",
            "execute",
            run_id,
            "--concurrency",
            "1",
        ],
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
    resumed = cli("payouts", "execute", run_id, "--json", env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert json.loads(resumed.stdout)["paid"] == N - 1
    assert_paid_once(server, plan, env)
