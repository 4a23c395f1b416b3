"""One workload in a fresh process: W5 and its limit row, each in its own.

Measured in the bench's own process, a rebuild ran 25-30% slower than the same rebuild in a
fresh one (12.6 s where a fresh process took 9.5-10 s, 339,184 events): by then the process held
~550 MiB of earlier workloads' objects, and a rebuild run first in a process with a large heap
pays for growing it where a second rebuild reuses the pages the first one freed (11.9 s, then
9.8 s, measured).  The limit row ran after it and reused those pages.  Each side now runs in a
spawned process of its own, so neither inherits the other's heap or the suite's, and reports
its own peak RSS (``VmHWM``, the high-water mark of its own address space, the interpreter and
imports included; not ``ru_maxrss``, which Linux carries over from the parent at the fork).
"""

from __future__ import annotations

import faulthandler
import multiprocessing as mp
import queue
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.workloads import child_timeout_s

__all__ = ["in_fresh_process"]


def in_fresh_process(
    target: Callable[..., dict[str, Any]], *args: Any, timeout_s: float
) -> dict[str, Any]:
    """``target(*args)`` (a module-level function: it is pickled by name) in a spawned process;
    its figures with the process's ``peak_rss_mib``.  Its error, or its silence past
    ``timeout_s``, is raised here."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(
        target=_child, args=(target, args, out, timeout_s), name=f"bench-{target.__name__}"
    )
    proc.start()
    try:
        status, value = out.get(timeout=timeout_s)
    except queue.Empty:
        proc.kill()
        msg = f"{target.__name__} gave no result within {timeout_s:.0f} s"
        raise TimeoutError(msg) from None
    finally:
        proc.join(timeout=60)
    if status != "ok":
        msg = f"{target.__name__} failed in its process:\n{value}"
        raise RuntimeError(msg)
    figures: dict[str, Any] = value
    return figures


def _child(
    target: Callable[..., dict[str, Any]], args: tuple[Any, ...], out: Any, timeout_s: float
) -> None:
    faulthandler.dump_traceback_later(child_timeout_s(timeout_s), exit=True)
    try:
        figures = target(*args)
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        out.put(("error", traceback.format_exc()))
        return
    out.put(("ok", figures | {"peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak resident memory: ``VmHWM`` of ``/proc/self/status`` (Linux)."""
    with Path("/proc/self/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    msg = "no VmHWM in /proc/self/status"
    raise RuntimeError(msg)
