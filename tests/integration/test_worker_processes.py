"""``creator-ledger worker`` as real processes on PostgreSQL: woken by NOTIFY (its poll
interval is far longer than the test waits), two at once never apply an event twice, and
SIGTERM stops them cleanly (exit 0)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from creator_ledger import CreatorLedger, Settings
from tests import scenario
from tests.conftest import Clock


def start_worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "creator_ledger",
            "--log-format",
            "json",
            "--log-level",
            "INFO",
            "worker",
            "--poll-interval-s",
            "600",  # only a notification can wake it within the test
            "--no-duties",
            "--database",
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env=env,
    )


def log_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def wait_for(what: str, predicate: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.postgres
def test_two_workers_follow_notifications_apply_each_event_once_and_stop_on_sigterm(
    pg_database: str, tmp_path: Path
) -> None:
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    workers = [start_worker(pg_database, log) for log in logs]
    try:
        for log in logs:
            wait_for(
                "the workers to listen",
                lambda log=log: any(
                    r["message"] == "listening for new events" for r in log_lines(log)
                ),
            )
        with CreatorLedger.open(Settings(database_url=pg_database), clock=Clock()) as cl:
            scenario.fund(cl)
            for batch in range(20):  # 20 commits, each notifying both workers
                scenario.creators(cl, 25, prefix=f"b{batch}-")
            [day] = scenario.pool_program(cl)
            scenario.usage(cl, "pool", day, [(f"b0-{i}", "v", 10 + i) for i in range(25)])
            scenario.close(cl, "pool", day)
            total = cl.events_recorded()
            read_models = cl.parts.projector.read_models
            started = time.monotonic()
            wait_for("the read models to catch up", lambda: read_models.position() == total, 30)
            assert time.monotonic() - started < 30  # woken, not polled (every 600 s)
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                assert worker.wait(timeout=30) == 0
            applied = []
            for log in logs:
                [stopped] = [r for r in log_lines(log) if r["message"] == "worker stopped"]
                applied.append(int(stopped["events"]))  # type: ignore[call-overload]
            assert sum(applied) == total  # every event applied once, by one of the two
            assert cl.reconcile_internal().clean
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
