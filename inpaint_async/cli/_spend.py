"""Money on the command line: the top-up flags of ``edit``/``batch``, the ledger file, and the
``top-up`` command (the offer shown before the question, the payee pin).

The CLI always keeps a wallet's spend ledger in a file (default: the state directory, see
:func:`~inpaint_async.spend.default_ledger_path`; ``--ledger PATH`` overrides), so that caps hold
across runs and across several CLI processes at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from decimal import Decimal
from typing import TYPE_CHECKING

from .._constants import ENV_PAYEE
from .._exceptions import ConfigurationError, ValidationError
from ._errors import EXIT_OK, EXIT_OTHER, EXIT_USAGE
from ._output import Output, safe

if TYPE_CHECKING:
    from .._client import InpaintClient
    from ..spend import TopUpPolicy

__all__ = ["add_ledger_flag", "add_top_up_flags", "prepare_client", "top_up_command"]


def add_ledger_flag(parser: argparse.ArgumentParser) -> None:
    """``--ledger PATH`` (default: the wallet's file in the state directory)."""
    parser.add_argument(
        "--ledger",
        metavar="PATH",
        help="the wallet's spend-ledger file (default: $XDG_STATE_HOME/inpaint-async/"
        "ledger-<wallet>.sqlite3, else ~/.local/state/inpaint-async/...)",
    )


def add_top_up_flags(parser: argparse.ArgumentParser) -> None:
    """The automatic top-up flags of ``edit`` and ``batch`` (off unless given)."""
    group = parser.add_argument_group(
        "automatic top-ups (wallet only; off unless --top-up-amount and --max-top-up-total "
        "are given)"
    )
    group.add_argument(
        "--top-up-amount", metavar="USD", help="top the wallet up by this much on a 402"
    )
    group.add_argument(
        "--max-top-up-total",
        metavar="USD",
        help="never sign more than this in automatic top-ups (counted in the ledger file)",
    )
    group.add_argument(
        "--max-top-up-per-day",
        metavar="USD",
        help="never sign more than this in automatic top-ups in any 24 hours",
    )
    add_ledger_flag(parser)


def _usd_flag(args: argparse.Namespace, name: str) -> Decimal | None:
    value = getattr(args, name, None)
    if value is None:
        return None
    from ..spend import to_usd

    return to_usd(value, "--" + name.replace("_", "-"))


def _policy(args: argparse.Namespace, ledger: str | None) -> TopUpPolicy | None:
    from ..spend import TopUpPolicy

    amount = _usd_flag(args, "top_up_amount")
    total = _usd_flag(args, "max_top_up_total")
    per_day = _usd_flag(args, "max_top_up_per_day")
    if amount is None and total is None and per_day is None:
        return None
    if amount is None or total is None:
        raise ValidationError(
            "automatic top-ups need both --top-up-amount and --max-top-up-total",
            param="top_up_amount" if amount is None else "max_top_up_total",
        )
    payee = os.environ.get(ENV_PAYEE, "").strip()
    return TopUpPolicy(
        amount_usd=amount,
        max_total_usd=total,
        max_per_day_usd=per_day,
        allowed_payees=[payee] if payee else None,
        ledger=ledger,
    )


def prepare_client(client: InpaintClient, args: argparse.Namespace) -> InpaintClient:
    """Bind a wallet's ledger file and apply the top-up flags; returns the client to use.

    Raises:
        ConfigurationError: top-up flags without a wallet.
        LedgerError: the ledger file cannot be used.
    """
    from ..spend import bind_ledger, default_ledger_path, spender_id

    address = getattr(client.auth, "address", None)
    if not isinstance(address, str):
        if _usd_flag(args, "top_up_amount") is not None or args_has_caps(args):
            raise ConfigurationError(
                "automatic top-ups need a wallet: set VENICE_WALLET_KEY, or "
                "VENICE_WALLET_KEYSTORE and VENICE_WALLET_PASSWORD"
            )
        return client
    spender = spender_id(client.auth)
    given = getattr(args, "ledger", None)
    path = str(given) if given else str(default_ledger_path(spender))
    bind_ledger(spender, path)
    policy = _policy(args, path)
    return client if policy is None else client.with_options(top_up=policy)


def args_has_caps(args: argparse.Namespace) -> bool:
    """Whether any top-up cap flag was given."""
    return any(
        getattr(args, n, None) is not None for n in ("max_top_up_total", "max_top_up_per_day")
    )


def add_top_up_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``top-up`` command."""
    top_up = sub.add_parser(
        "top-up",
        help="add USDC credit to the wallet (shows the offer, then asks)",
        description="Discover the server's offer, show its payee, network, asset and amount, "
        "ask, then sign and send. --payee (or VENICE_PAYEE) pins the payee: an offer to "
        "anyone else is never signed, --yes or not.",
    )
    top_up.add_argument("amount", help="USD amount, e.g. 5")
    top_up.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    top_up.add_argument(
        "--payee",
        metavar="ADDRESS",
        help="only pay this address (default: $VENICE_PAYEE); --yes never skips it",
    )
    add_ledger_flag(top_up)


async def top_up_command(client: InpaintClient, args: argparse.Namespace, output: Output) -> int:
    """``top-up AMOUNT [--payee ADDRESS] [--yes]``."""
    from ..spend import to_usd

    amount = to_usd(args.amount)
    address = getattr(client.auth, "address", None)
    if not isinstance(address, str):
        raise ConfigurationError(
            "top-up needs a wallet: set VENICE_WALLET_KEY, or VENICE_WALLET_KEYSTORE and "
            "VENICE_WALLET_PASSWORD"
        )
    pin = (args.payee or os.environ.get(ENV_PAYEE, "")).strip()
    pins = [pin] if pin else None
    offer = await client.wallet.top_up_offer(amount, allowed_payees=pins)
    output.note(
        f"top-up offer: pay ${safe(amount)} to {safe(offer.pay_to)} "
        f"({'pinned' if pins else 'NOT pinned: pass --payee or set VENICE_PAYEE'}), "
        f"network {safe(offer.network)}, asset {safe(offer.asset)}, from wallet {safe(address)}"
    )
    if not args.yes:
        if not sys.stdin.isatty():
            output.note("refusing to spend without confirmation: pass --yes")
            return EXIT_USAGE
        from rich.prompt import Confirm

        if not Confirm.ask(f"Pay ${amount} of USDC to {offer.pay_to}?", console=output.err):
            output.note("cancelled; nothing was signed")
            return EXIT_OTHER
    # Pinned to what was shown: a server that changes its payee now gets nothing.
    assert offer.pay_to is not None
    result = await client.wallet.top_up(amount, allowed_payees=[offer.pay_to])
    if output.json:
        output.emit(
            {
                "amount_credited_usd": result.amount_credited,
                "new_balance_usd": result.new_balance,
                "payment_id": result.payment_id,
                "payee": offer.pay_to,
                "network": offer.network,
                "asset": offer.asset,
            }
        )
        return EXIT_OK
    output.say(
        f"topped up ${safe(result.amount_credited)}; balance ${safe(result.new_balance)} "
        f"(payment {safe(result.payment_id or '-')}, paid to {safe(offer.pay_to)})"
    )
    return EXIT_OK
