"""Authentication: an API key (:class:`BearerAuth`) or a wallet (:class:`WalletAuth`, SIWX)."""

from ._base import Auth, BearerAuth
from .wallet import WalletAuth

__all__ = ["Auth", "BearerAuth", "WalletAuth"]
