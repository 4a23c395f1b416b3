"""``python -m creator_ledger`` is ``creator-ledger``."""

from creator_ledger.ledger.cli import main

main()
