"""The house rules, checked on the source:

* imports point one way: domain <- adapters <- ledger; ``domain`` imports the standard library
  and ``eventsourcing.domain`` only, and reads no clock and makes no random ids;
* only the composition root (``ledger/bootstrap.py``) builds concrete adapters or imports
  ``stripe``;
* only the event-store adapter touches the ``eventsourcing`` library's application, recorders,
  tables and private methods;
* everything imports the installed names (``creator_ledger...``), never the bare folder names,
  which would collide with an adopting service's own ``domain`` or ``adapters``;
* no module passes ~400 lines without a reason written at its top.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "adapters", "ledger")
BOOTSTRAP = "ledger/bootstrap.py"
EVENT_STORE = "adapters/eventstore.py"
#: The event store adapter: the store, and how it encodes what it writes (its transcoder).
EVENT_STORE_ADAPTER = (EVENT_STORE, "adapters/event_codec.py")
#: Concrete adapter classes: built only by the composition root (named elsewhere only for types).
CONCRETE = {
    "EventStore",
    "ReadModels",
    "SqliteDatabase",
    "PostgresDatabase",
    "InMemoryProvider",
    "StripeConnectProvider",
}
MAX_LINES = 400


def sources(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def imports(path: Path, *, runtime_only: bool = False) -> list[tuple[str, list[str]]]:
    """(module, names) of every absolute import in ``path``; with ``runtime_only``, imports
    under ``if TYPE_CHECKING:`` are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped.update(id(n) for b in node.body for n in ast.walk(b))
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, [a.name for a in node.names]))
    return out


def offenders(
    folders: tuple[str, ...], bad: Callable[[str, str, list[str]], bool]
) -> list[tuple[str, str]]:
    """(file, module) of every import that ``bad(file, module, names)`` says breaks a rule."""
    return [
        (rel(path), module)
        for path in sources(*folders)
        for module, names in imports(path)
        if bad(rel(path), module, names)
    ]


def test_the_sources_are_found() -> None:
    assert len(sources(*PACKAGES)) > 30
    with_imports = [
        p for p in sources(*PACKAGES) if re.search(r"^(from|import) ", p.read_text(), re.M)
    ]
    assert all(imports(p) for p in with_imports)


def test_domain_imports_only_the_standard_library_and_eventsourcing_domain() -> None:
    def bad(_where: str, module: str, _names: list[str]) -> bool:
        top = module.split(".", maxsplit=1)[0]
        return not (
            top in sys.stdlib_module_names
            or module == "eventsourcing.domain"
            or module.startswith("creator_ledger.domain")
        )

    assert offenders(("domain",), bad) == []


@pytest.mark.parametrize("package", ["domain", "adapters"])
def test_nothing_below_the_application_layer_imports_it(package: str) -> None:
    def bad(_where: str, module: str, _names: list[str]) -> bool:
        return module == "creator_ledger" or module.startswith("creator_ledger.ledger")

    assert offenders((package,), bad) == []


def test_domain_does_not_import_adapters() -> None:
    def bad(_where: str, module: str, _names: list[str]) -> bool:
        return module.startswith("creator_ledger.adapters")

    assert offenders(("domain",), bad) == []


def test_the_domain_reads_no_clock_and_makes_no_random_ids() -> None:
    forbidden = ("datetime.now(", "date.today(", "uuid4(", "time.time(", "random.")
    found = [
        (rel(path), f)
        for path in sources("domain")
        for f in forbidden
        if f in path.read_text(encoding="utf-8")
    ]
    assert found == []


@pytest.mark.parametrize("folder", ["domain", "adapters", "ledger", "tests", "bench", "src"])
def test_code_imports_the_installed_names_never_the_bare_folders(folder: str) -> None:
    def bad(_where: str, module: str, _names: list[str]) -> bool:
        return module.split(".", maxsplit=1)[0] in {"domain", "adapters", "ledger", "migrations"}

    assert offenders((folder,), bad) == []


def test_only_the_composition_root_builds_concrete_adapters_or_imports_stripe() -> None:
    found = []
    for path in sources("ledger"):
        if rel(path) == BOOTSTRAP:
            continue
        for module, names in imports(path, runtime_only=True):
            if module.split(".")[0] == "stripe":
                found.append((rel(path), module))
            if module.startswith("creator_ledger.adapters") and CONCRETE & set(names):
                found.append((rel(path), f"{module}: {sorted(CONCRETE & set(names))}"))
            if module in {
                "creator_ledger.adapters.payments.memory",
                "creator_ledger.adapters.payments.stripe_connect",
                "creator_ledger.adapters.sql",
            }:
                found.append((rel(path), module))
    assert found == []


def test_the_bootstrap_module_is_the_composition_root() -> None:
    names = {n for _, ns in imports(ROOT / BOOTSTRAP) for n in ns}
    assert {"EventStore", "ReadModels", "InMemoryProvider", "StripeConnectProvider"} <= names


def test_only_the_event_store_adapter_touches_the_library_beyond_its_domain_module() -> None:
    def bad(where: str, module: str, _names: list[str]) -> bool:
        if where in EVENT_STORE_ADAPTER:
            return False
        return module.startswith("eventsourcing") and module != "eventsourcing.domain"

    assert offenders(PACKAGES, bad) == []


def test_no_code_outside_the_event_store_names_the_library_tables_or_private_methods() -> None:
    library = (
        "ledger_events",
        "ledger_snapshots",
        "stored_events",
        "stored_snapshots",
        "._record(",
        "._notify(",
        "._take_snapshots(",
        ".repository",
        ".recorder",
        ".mapper",
    )
    found = [
        (rel(path), name)
        for path in sources(*PACKAGES)
        if rel(path) not in EVENT_STORE_ADAPTER
        for name in library
        if name in path.read_text(encoding="utf-8")
    ]
    assert found == []


def test_no_module_passes_400_lines_without_a_reason_at_its_top() -> None:
    long = []
    for path in sources(*PACKAGES):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_LINES:
            docstring = ast.get_docstring(ast.parse(text)) or ""
            if "400 lines" not in docstring:
                long.append((rel(path), text.count("\n")))
    assert long == []
