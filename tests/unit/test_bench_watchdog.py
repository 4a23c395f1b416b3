"""The bench never hangs silently: a guarded block that overruns its timeout names the
workload, dumps the Python stacks and exits non-zero."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from bench.watchdog import EXIT_TIMEOUT, Watchdog

ROOT = Path(__file__).resolve().parents[2]


def test_a_hung_workload_is_reported_with_its_stacks_and_the_process_exits_non_zero() -> None:
    script = textwrap.dedent(
        """
        import time
        from bench.watchdog import Watchdog

        def stuck_in_a_pipeline():
            time.sleep(60)

        with Watchdog(0.5).guard("W9 the hanging one"):
            stuck_in_a_pipeline()
        print("not reached")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == EXIT_TIMEOUT
    assert "BENCH TIMEOUT: workload 'W9 the hanging one'" in done.stderr
    assert "stuck_in_a_pipeline" in done.stderr
    assert "not reached" not in done.stdout


def test_a_workload_that_finishes_in_time_is_left_alone() -> None:
    with Watchdog(5).guard("quick"):
        total = sum(range(1_000))
    assert total == 499_500
