"""The pure model of creator-ledger: money, aggregates, events, policies and posting rules.

Nothing here does I/O, reads the clock or makes ids: time and ids are passed in.
Imports: the standard library and ``eventsourcing.domain`` only.
"""
