"""Imports point one way: domain <- adapters <- ledger.  ``domain`` imports the standard
library and ``eventsourcing.domain`` only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imports_of(package: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.extend((str(path.relative_to(ROOT)), alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((str(path.relative_to(ROOT)), node.module))
    assert found, f"no imports found under {package}"
    return found


def test_domain_imports_only_the_standard_library_and_eventsourcing_domain() -> None:
    bad = [
        (where, module)
        for where, module in imports_of("domain")
        if module.split(".")[0] not in sys.stdlib_module_names
        and module != "eventsourcing.domain"
        and not module.startswith("creator_ledger.domain")
    ]
    assert bad == []


@pytest.mark.parametrize("package", ["domain", "adapters"])
def test_nothing_below_the_application_layer_imports_it(package: str) -> None:
    bad = [
        (where, module)
        for where, module in imports_of(package)
        if module.startswith("creator_ledger.ledger") or module == "creator_ledger"
    ]
    assert bad == []


def test_domain_does_not_import_adapters() -> None:
    assert [
        (w, m) for w, m in imports_of("domain") if m.startswith("creator_ledger.adapters")
    ] == []


def test_the_domain_reads_no_clock_and_makes_no_random_ids() -> None:
    forbidden = ("datetime.now(", "date.today(", "uuid4(", "time.time(", "random.")
    offenders = [
        (path.name, f)
        for path in (ROOT / "domain").rglob("*.py")
        for f in forbidden
        if f in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
