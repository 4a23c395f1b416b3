"""``bench.isolated.in_fresh_process``: a workload in a spawned process of its own, its figures
with its own peak RSS; its error or its silence raised in the bench."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from bench.isolated import in_fresh_process


def figures(n: int) -> dict[str, Any]:
    ballast = bytearray(n * 2**20)  # n MiB, touched
    ballast[::4096] = b"x" * len(ballast[::4096])
    return {"pid": os.getpid(), "n": n}


def fails() -> dict[str, Any]:
    raise ValueError("the rebuild broke")


def hangs() -> dict[str, Any]:
    time.sleep(30)
    return {}


def test_the_workload_runs_in_another_process_and_reports_its_own_peak_rss() -> None:
    ballast = bytearray(512 * 2**20)  # the bench's own heap, which the child must not report
    ballast[::4096] = b"x" * len(ballast[::4096])
    got = in_fresh_process(figures, 64, timeout_s=60)
    assert got["pid"] != os.getpid()
    assert got["n"] == 64
    assert 64 <= got["peak_rss_mib"] < 400
    del ballast


def test_an_error_in_the_workload_is_raised_with_its_traceback() -> None:
    with pytest.raises(RuntimeError, match=r"(?s)fails failed in its process.*the rebuild broke"):
        in_fresh_process(fails, timeout_s=60)


def test_a_workload_that_gives_no_result_in_time_is_stopped_and_raised() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="hangs gave no result within 2 s"):
        in_fresh_process(hangs, timeout_s=2)
    assert time.monotonic() - started < 20
