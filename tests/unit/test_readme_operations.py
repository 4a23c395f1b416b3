"""The README documents what operators rely on: every exit code, every JSON format, the
production section; and a CHANGELOG exists."""

from __future__ import annotations

from pathlib import Path

from creator_ledger.ledger.cli_support import ExitCode

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_exit_code_is_in_the_readme_table() -> None:
    for code in ExitCode:
        assert f"\n| {int(code)} | " in README, code


def test_the_readme_has_a_running_in_production_section_covering_each_duty() -> None:
    section = README.split("## Running in production", 1)[1].split("\n## ", 1)[0]
    for subject in (
        "**Roles.**",
        "**Migrate.**",
        "**Worker.**",
        "**Serve.**",
        "**Metrics**",
        "**Logging.**",
        "**Backups.**",
        "creator-ledger verify",
        "reconcile internal",
    ):
        assert subject in section, subject


def test_the_metrics_the_code_defines_are_the_ones_the_readme_lists() -> None:
    from creator_ledger.ledger import metrics

    names = {
        line.split("``")[1]
        for line in (metrics.__doc__ or "").splitlines()
        if line.startswith("``creator_ledger_")
    }
    assert len(names) >= 10
    for name in names:
        assert name in README, name


def test_there_is_a_changelog() -> None:
    assert (ROOT / "CHANGELOG.md").read_text(encoding="utf-8").startswith("# Changelog")


def test_progress_bars_draw_on_stderr_so_stdout_stays_clean() -> None:
    from creator_ledger.ledger.cli_support import progress_bar

    assert progress_bar("rebuilding").console.stderr is True
