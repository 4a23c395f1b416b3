"""The bench's view of the server's background writes: a step during which a checkpoint
completed says so (W3's reads start after a checkpoint, and its figures carry what the server
wrote meanwhile)."""

from __future__ import annotations

import pytest

from bench import db
from tests.conftest import pg_admin, pg_url

pytestmark = pytest.mark.postgres


def test_a_checkpoint_during_a_step_is_counted_in_its_background_writes(
    pg_database: str,
) -> None:
    server = pg_url("").rstrip("/")
    before = db.background_writes(server)
    assert set(before) == {"checkpoints", "buffers_checkpoint", "buffers_clean", "buffers_backend"}
    assert all(v >= 0 for v in before.values())
    with pg_admin() as conn:
        conn.execute("CHECKPOINT")
    after = db.writes_since(server, before)
    assert after["checkpoints"] >= 1
    assert all(v >= 0 for v in after.values())
