"""Files the CLI writes: never over what it should not.

Every ``--out`` goes through :func:`write_output`: a file that exists is refused unless
``--force``; the ledger's own database (its SQLite file and that file's ``-wal``, ``-shm`` and
``-journal`` companions) is never written over, whatever the path that names it (a symbolic
link, a hard link, ``..``); a directory, or a folder that does not exist, is a clear error.
All of them exit 2 (bad usage) before anything is written.
"""

from __future__ import annotations

from pathlib import Path

from creator_ledger.ledger.cli_support import fail
from creator_ledger.ledger.settings import Settings

#: What SQLite keeps beside a database file.
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def ledger_files(settings: Settings) -> list[Path]:
    """The files that are the ledger's database (none for PostgreSQL or memory://)."""
    if settings.is_postgres or settings.is_memory:
        return []
    db = settings.sqlite_path
    return [db.with_name(db.name + suffix) for suffix in SQLITE_COMPANIONS]


def _same(path: Path, other: Path) -> bool:
    if path.resolve() == other.resolve():
        return True
    try:
        return path.samefile(other)  # a hard link names the same file
    except OSError:
        return False


def check_output(path: Path, *, force: bool, settings: Settings) -> None:
    """Exit 2 unless ``path`` may be written (see the module docstring)."""
    if path.is_dir():
        fail(f"{path} is a directory: give the name of a file to write")
    folder = path.parent
    if not folder.exists():
        fail(f"folder {folder} does not exist: create it first, or write somewhere else")
    if not folder.is_dir():
        fail(f"{folder} is not a folder: cannot write {path}")
    if any(_same(path, db) for db in ledger_files(settings)):
        fail(f"{path} is the ledger's own database: it is never written over")
    if (path.exists() or path.is_symlink()) and not force:
        fail(f"{path} exists already: choose another file, or --force to replace it")


def write_output(path: Path, text: str, *, force: bool, settings: Settings) -> None:
    """Write ``text`` to ``path`` after :func:`check_output`; without ``force`` the file is
    created exclusively, so one that appears meanwhile is not overwritten either."""
    check_output(path, force=force, settings=settings)
    try:
        with path.open("w" if force else "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        fail(f"{path} exists already: choose another file, or --force to replace it")
    except OSError as e:
        fail(f"cannot write {path}: {e.strerror or e}")
