"""Ports (``typing.Protocol``) and their implementations: payment providers, SQL read models.

May import ``domain``; never ``ledger``.
"""
