"""Authentication: an API key (:class:`BearerAuth`) or a wallet (:class:`WalletAuth`, SIWX)."""

from ._base import Auth, BearerAuth
from ._signer import LocalSigner, Signer
from .wallet import WalletAuth

__all__ = ["Auth", "BearerAuth", "LocalSigner", "Signer", "WalletAuth"]
