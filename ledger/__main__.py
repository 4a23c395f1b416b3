"""``python -m ledger`` is ``creator-ledger``."""

from ledger.cli import main

main()
