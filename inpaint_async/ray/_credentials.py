"""Where a Ray worker finds its credentials: never in a task's arguments, only a pointer to them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .._constants import ENV_API_KEY, ENV_WALLET_KEY, ENV_WALLET_KEYSTORE, ENV_WALLET_PASSWORD
from .._exceptions import ConfigurationError
from ..auth import Auth, BearerAuth

__all__ = ["WorkerCredentials"]


@dataclass(frozen=True, slots=True)
class WorkerCredentials:
    """A pointer to credentials that each worker reads from its own environment.

    Only the *names* of environment variables (and a keystore's path) travel in Ray's task
    arguments; the key itself is read inside the worker. On a local cluster the workers inherit
    the driver's environment; on a real cluster set the variables on every node (or put the
    keystore file on every node and its password in the environment).

    Attributes:
        kind: ``api_key`` (``env`` holds the key), ``wallet_key`` (``env`` holds a hex private
            key) or ``wallet_keystore`` (``keystore`` is the file, ``env`` holds its password).
        env: The environment variable to read.
        keystore: The keystore file (``wallet_keystore`` only).
    """

    kind: Literal["api_key", "wallet_key", "wallet_keystore"]
    env: str
    keystore: str | None = None

    @classmethod
    def api_key(cls, env: str = ENV_API_KEY) -> WorkerCredentials:
        """An API key in the environment variable ``env`` (default ``VENICE_API_KEY``)."""
        return cls("api_key", env)

    @classmethod
    def wallet_key(cls, env: str = ENV_WALLET_KEY) -> WorkerCredentials:
        """A hex wallet key in ``env`` (default ``VENICE_WALLET_KEY``)."""
        return cls("wallet_key", env)

    @classmethod
    def wallet_keystore(
        cls, path: str | os.PathLike[str], password_env: str = ENV_WALLET_PASSWORD
    ) -> WorkerCredentials:
        """An encrypted keystore file at ``path`` (on every node); its password in ``password_env``."""
        return cls("wallet_keystore", password_env, os.fspath(path))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerCredentials:
        """The variables a client would read: ``VENICE_API_KEY``, else the wallet variables."""
        env = os.environ if environ is None else environ
        if env.get(ENV_API_KEY, "").strip():
            return cls.api_key()
        if env.get(ENV_WALLET_KEY, "").strip():
            return cls.wallet_key()
        keystore = env.get(ENV_WALLET_KEYSTORE, "").strip()
        if keystore:
            return cls.wallet_keystore(keystore)
        raise ConfigurationError(
            "no credentials for the workers: set VENICE_API_KEY, VENICE_WALLET_KEY or "
            "VENICE_WALLET_KEYSTORE (+ VENICE_WALLET_PASSWORD) in the environment, or pass "
            "auth=WorkerCredentials(...)"
        )

    def load(self, environ: Mapping[str, str] | None = None) -> Auth:
        """Build the auth from this process's environment (called inside each worker).

        Raises:
            ConfigurationError: the variable is unset or the key is malformed (the message
                names the variable, never its value).
        """
        env = os.environ if environ is None else environ
        value = env.get(self.env, "").strip()
        if not value:
            raise ConfigurationError(
                f"the environment variable {self.env} is not set in this Ray worker"
            )
        if self.kind == "api_key":
            return BearerAuth(value)
        from ..auth.wallet import WalletAuth

        if self.kind == "wallet_key":
            return WalletAuth(value)
        assert self.keystore is not None
        return WalletAuth.from_env(
            environ={ENV_WALLET_KEYSTORE: self.keystore, ENV_WALLET_PASSWORD: value}
        )
