"""The one retry of the ledger: a unit of work that lost an optimistic-concurrency race is
decided again on fresh state, a bounded number of times."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from creator_ledger.adapters.eventstore import WriteConflictError
from creator_ledger.domain.errors import ConcurrencyError

T = TypeVar("T")

#: A unit of work that keeps losing races with concurrent writers gives up after this many tries.
MAX_ATTEMPTS = 8
#: Back-off after the n-th lost race: n times this.
BACKOFF_S = 0.005


def retry_on_conflict(
    attempt: Callable[[], T],
    *,
    what: str,
    attempts: int = MAX_ATTEMPTS,
    progress: Callable[[], object] | None = None,
    **fields: object,
) -> T:
    """Run ``attempt`` (which loads, decides and saves) until it does not conflict.

    Each try must load what it decides on afresh.  After ``attempts`` lost races, raises
    :class:`~creator_ledger.domain.errors.ConcurrencyError` (nothing was written by the
    losing tries).  An attempt that writes in several transactions and resumes where the last
    one stopped says how far it got by ``progress``: the count of lost races starts again
    whenever that changes (each transaction gets ``attempts`` tries, as if retried alone).
    """
    assert attempts >= 1
    mark = progress() if progress is not None else None
    n = 0
    while n < attempts:
        try:
            return attempt()
        except WriteConflictError:
            if progress is not None and (now := progress()) != mark:
                mark, n = now, 0
            time.sleep(BACKOFF_S * (n + 1))
            n += 1
    msg = f"{what} lost {attempts} races with concurrent writers; nothing was written: try again"
    raise ConcurrencyError(msg, **fields)
