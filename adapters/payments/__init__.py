"""The payment port and its providers (Stripe Connect, in-memory)."""

from adapters.payments.port import (
    BalanceTransaction,
    PaymentProvider,
    Transfer,
    TransferRequest,
)

__all__ = ["BalanceTransaction", "PaymentProvider", "Transfer", "TransferRequest"]
