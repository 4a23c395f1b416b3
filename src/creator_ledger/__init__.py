"""creator-ledger: an event-sourced, double-entry payments ledger for platforms that pay creators.

The installed import name is ``creator_ledger``; its parts live in the repository's top-level
folders and install under it, so they cannot collide with an adopting service's own
``domain`` or ``adapters`` packages:

* ``creator_ledger`` — the public Python API (this module re-exports :mod:`creator_ledger.ledger`);
* ``creator_ledger.ledger`` — the application layer (``ledger/``);
* ``creator_ledger.domain`` — the pure model (``domain/``);
* ``creator_ledger.adapters`` — ports and their implementations (``adapters/``);
* ``creator_ledger.migrations`` — the PostgreSQL schema (``migrations/``).

    from creator_ledger import CreatorLedger
"""

from creator_ledger.ledger import *  # noqa: F403 - the public API, re-exported
from creator_ledger.ledger import __all__ as _api

__version__ = "0.2.0"
__all__ = [*_api, "__version__"]  # noqa: PLE0604 - the re-exported API's names, and the version
