"""The projector pauses the cyclic garbage collector while it projects, and gives it back as
it found it: on, or off when someone else had turned it off; nested, from two threads, and
when the work fails."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from creator_ledger import CreatorLedger, Settings
from creator_ledger.ledger.gc_pause import gc_paused


@pytest.fixture(autouse=True)
def _gc_on_after() -> Iterator[None]:
    yield
    gc.enable()


def test_paused_inside_and_on_again_after_even_when_the_work_fails() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_turned_off_by_someone_else_stays_off() -> None:
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_on_again_only_when_the_last_thread_is_out() -> None:
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with gc_paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    with gc_paused():
        thread.start()
        assert inside.wait(5)
    assert not gc.isenabled()  # the other thread is still projecting
    release.set()
    thread.join(5)
    assert gc.isenabled()


def test_a_catch_up_and_a_rebuild_leave_the_collector_on() -> None:
    cl = CreatorLedger.open(Settings(database_url="memory://"))
    try:
        cl.enrol_creators(
            creators=[("c1", "C1", "US")],
            effective_at=datetime(2026, 1, 1, tzinfo=UTC),
            idempotency_key="enrol",
            actor="op:test",
        )
        assert cl.catch_up() > 0
        assert gc.isenabled()
        assert cl.rebuild_read_models() > 0
        assert gc.isenabled()
    finally:
        cl.close()


def test_a_plan_is_computed_with_the_collector_paused_and_leaves_it_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A payout plan builds a model per line (~600,000 objects at 100,000 creators): the
    collector is off while it does, and on again after, even when the plan is refused."""
    from creator_ledger.ledger import planner

    seen: list[bool] = []
    compute_plan = planner.compute_plan

    def spy(**kwargs: object) -> object:
        seen.append(gc.isenabled())
        return compute_plan(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(planner, "compute_plan", spy)
    cl = CreatorLedger.open(Settings(database_url="memory://"))
    try:
        cl.plan(currency="USD")
        assert seen == [False]
        assert gc.isenabled()
        with pytest.raises(ValueError, match="currency"):
            cl.plan(currency="XXQ")
        assert gc.isenabled()
    finally:
        cl.close()


FREEZE_ONCE = """
import gc, json
from datetime import UTC, datetime
from creator_ledger import CreatorLedger, Settings, freeze_startup_heap
with CreatorLedger.open(Settings(database_url="memory://")) as cl:
    frozen = freeze_startup_heap()
    counts = [frozen, gc.get_freeze_count(), freeze_startup_heap(), gc.get_freeze_count()]
    cl.enrol_creators(
        creators=[("c1", "C1", "US")],
        effective_at=datetime(2026, 1, 1, tzinfo=UTC),
        idempotency_key="enrol",
        actor="op:test",
    )
    cl.catch_up()  # a batch, paused: the frozen start-up heap stays frozen
    counts.append(gc.get_freeze_count())
    counts.append(gc.isenabled())
print(json.dumps(counts))
"""


def test_a_long_lived_process_freezes_its_start_up_heap_once_and_a_batch_leaves_it_frozen() -> None:
    # In a process of its own: freezing is for the whole process, and this one runs the tests.
    done = subprocess.run(
        [sys.executable, "-c", FREEZE_ONCE], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    frozen, count, again, count_again, after_batch, enabled = json.loads(done.stdout)
    assert frozen > 10_000  # modules, classes, functions, the opened ledger
    assert count == frozen
    assert again == 0  # frozen already: left as it is
    assert count_again == frozen
    # Still frozen (not handed back to the collector by the pause); frozen objects that lose
    # their last reference are freed as usual, so the count may only go down.
    assert frozen - 1_000 < after_batch <= frozen
    assert enabled is True
