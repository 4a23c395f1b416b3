"""No silent hangs: every workload runs under a wall-clock guard.

``with watchdog.guard("W1 period close"):`` starts a timer.  If the block has not finished when
it expires, the bench says which workload hung and for how long, dumps every Python thread's
stack, prints ``pg_stat_activity`` (and ungranted locks) for the bench's databases, stops the
child processes it started and exits with :data:`EXIT_TIMEOUT`.  A ``faulthandler`` timer set a
little later is the backstop for a hang that holds the GIL (it dumps the stacks from C and
exits even if no Python code can run).

PostgreSQL's ``statement_timeout`` is set for every connection the bench process and its
children open (``PGOPTIONS``, read by libpq), so a statement that runs away is cancelled by
the server too — see :func:`set_statement_timeout`.
"""

from __future__ import annotations

import faulthandler
import multiprocessing as mp
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

import psycopg

EXIT_TIMEOUT = 3
#: The faulthandler backstop fires this long after the Python watchdog.
BACKSTOP_S = 30.0


def set_statement_timeout(timeout_s: float) -> None:
    """``statement_timeout`` for every libpq connection of this process and its children."""
    ms = max(1, int(timeout_s * 1000))
    options = os.environ.get("PGOPTIONS", "")
    os.environ["PGOPTIONS"] = f"{options} -c statement_timeout={ms}".strip()


class Watchdog:
    """Guards workloads; see the module docstring."""

    def __init__(
        self,
        timeout_s: float,
        *,
        server: str | None = None,
        dbnames: Sequence[str] = (),
        exit_code: int = EXIT_TIMEOUT,
    ) -> None:
        assert timeout_s > 0
        self.timeout_s = timeout_s
        self.server = server
        self.dbnames = list(dbnames)
        self.exit_code = exit_code

    @contextmanager
    def guard(self, workload: str, timeout_s: float | None = None) -> Iterator[None]:
        """Run the block under a timer (guards do not nest: faulthandler keeps one timer)."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        done = threading.Event()
        started = time.monotonic()
        thread = threading.Thread(
            target=self._watch, args=(workload, limit, started, done), daemon=True
        )
        thread.start()
        faulthandler.dump_traceback_later(limit + BACKSTOP_S, exit=True)
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()
            done.set()
            thread.join()

    def _watch(self, workload: str, limit: float, started: float, done: threading.Event) -> None:
        if done.wait(limit):
            return
        self.fire(workload, time.monotonic() - started)

    def fire(self, workload: str, elapsed_s: float) -> None:
        """Report the hang and end the process (never returns)."""
        out = sys.stderr
        try:
            print(
                f"\nBENCH TIMEOUT: workload {workload!r} did not finish in {elapsed_s:,.0f} s"
                f" (--timeout-s {self.timeout_s:,.0f}); Python stacks:",
                file=out,
                flush=True,
            )
            faulthandler.dump_traceback(file=out, all_threads=True)
            self._dump_activity(out)
            for child in mp.active_children():
                print(f"stopping child process {child.pid} ({child.name})", file=out, flush=True)
                child.kill()
            print(f"BENCH TIMEOUT: {workload!r} hung; exiting {self.exit_code}", file=out)
            out.flush()
        finally:
            os._exit(self.exit_code)

    def _dump_activity(self, out: TextIO) -> None:
        if self.server is None or not self.dbnames:
            return
        try:
            with psycopg.connect(
                f"{self.server}/postgres",
                autocommit=True,
                connect_timeout=5,
                options="-c statement_timeout=5000",
            ) as conn:
                rows = conn.execute(
                    "SELECT pid, datname, state, wait_event_type, wait_event,"
                    " clock_timestamp() - xact_start, clock_timestamp() - query_start,"
                    " left(query, 300)"
                    " FROM pg_stat_activity WHERE datname = ANY(%s) AND pid <> pg_backend_pid()"
                    " ORDER BY xact_start NULLS LAST",
                    (self.dbnames,),
                ).fetchall()
                print(f"pg_stat_activity for {', '.join(self.dbnames)}:", file=out)
                for r in rows:
                    print(
                        f"  pid {r[0]} db {r[1]} state {r[2]} wait {r[3]}/{r[4]}"
                        f" xact {r[5]} query-age {r[6]}: {r[7]!r}",
                        file=out,
                    )
                locks = conn.execute(
                    "SELECT l.pid, l.locktype, l.mode, l.relation::regclass::text"
                    " FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                    " WHERE NOT l.granted AND a.datname = ANY(%s)",
                    (self.dbnames,),
                ).fetchall()
                for pid, locktype, mode, relation in locks:
                    print(f"  waiting: pid {pid} {locktype} {mode} on {relation}", file=out)
                out.flush()
        except Exception as exc:  # noqa: BLE001 - a hang report must not fail on its diagnostics
            print(f"(pg_stat_activity unavailable: {exc})", file=out, flush=True)
