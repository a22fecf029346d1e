"""Authentication: an API key (:class:`BearerAuth`) or a wallet (:class:`WalletAuth`, SIWX)."""

from ._base import Auth, BearerAuth

__all__ = ["Auth", "BearerAuth"]
