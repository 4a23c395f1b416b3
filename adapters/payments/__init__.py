"""The payment port and its providers (Stripe Connect, in-memory)."""

from creator_ledger.adapters.payments.port import (
    BalanceTransaction,
    PaymentProvider,
    Transfer,
    TransferRequest,
)

__all__ = ["BalanceTransaction", "PaymentProvider", "Transfer", "TransferRequest"]
