"""x402: the 402 bodies and their classification, and top-up payment building. Pure, no I/O.

- :mod:`.models` and :mod:`._parse`: the 402 and wallet-endpoint bodies as pydantic models, and the
  402 → typed error classification;
- :mod:`.payment`: rail selection, amount checks and the EIP-3009 authorization header.

Topping up (:class:`~inpaint_async.TopUpPolicy`, the ledger that holds the money state, the top-up
procedure) lives in :mod:`inpaint_async.spend`.

``import inpaint_async`` loads none of this: it loads when a wallet tops up or a 402 is parsed.
"""

from ._parse import payment_required_error
from .models import (
    Pagination,
    PaymentRequiredBody,
    PaymentRequirement,
    PaymentResource,
    SiwxChallenge,
    SiwxChallengeInfo,
    TopUpInstructions,
    TopUpResult,
    TransactionsPage,
    WalletBalance,
    WalletCreditRequired,
    WalletTransaction,
)
from .payment import (
    MAX_PAYMENT_TIMEOUT_SECONDS,
    PaymentRailError,
    SignedPayment,
    TypedDataSigner,
    build_payment_header,
    decode_payment_response,
    new_payment_nonce,
    select_base_usdc,
    sign_payment,
    transfer_with_authorization_typed_data,
    usd_to_base_units,
    validate_amount,
)

__all__ = [
    "MAX_PAYMENT_TIMEOUT_SECONDS",
    "Pagination",
    "PaymentRailError",
    "PaymentRequiredBody",
    "PaymentRequirement",
    "PaymentResource",
    "SignedPayment",
    "SiwxChallenge",
    "SiwxChallengeInfo",
    "TopUpInstructions",
    "TopUpResult",
    "TransactionsPage",
    "TypedDataSigner",
    "WalletBalance",
    "WalletCreditRequired",
    "WalletTransaction",
    "build_payment_header",
    "decode_payment_response",
    "new_payment_nonce",
    "payment_required_error",
    "select_base_usdc",
    "sign_payment",
    "transfer_with_authorization_typed_data",
    "usd_to_base_units",
    "validate_amount",
]
