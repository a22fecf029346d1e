"""Run the emulator from the shell: `python -m inpaint_async.testing` (or `inpaint-async emulate`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from ._faults import FAULT_KINDS, FaultPlan
from ._settings import DEVIATIONS

if TYPE_CHECKING:
    from ._app import Emulator

__all__ = ["build_parser", "main"]


def build_parser(prog: str = "inpaint-async emulate") -> argparse.ArgumentParser:
    """The argument parser (the CLI's `emulate` subcommand can reuse it)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve an offline emulator of the Venice image API on loopback.",
        epilog="Fault kinds: "
        + ", ".join(k if k != "latency" else "latency:<s>" for k in FAULT_KINDS),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port (default 8787; 0 = any)")
    parser.add_argument(
        "--rpm", type=int, default=20, help="requests per minute per payer and model"
    )
    parser.add_argument("--admin", action="store_true", help="enable the /_emulator/ admin API")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="[ROUTE=]KIND[:P]",
        help="inject a fault, e.g. 503:0.1 or /image/edit=reset:0.02 (repeatable)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault plan")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added per image request"
    )
    parser.add_argument(
        "--max-output-side", type=int, default=None, help="cap the long side of output images"
    )
    parser.add_argument(
        "--fund-wallet",
        action="append",
        default=[],
        metavar="ADDR=USD",
        help="give a wallet prepaid credit (repeatable)",
    )
    parser.add_argument(
        "--balance", default="100", metavar="USD", help="balance of the printed test API key"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print how to connect as one JSON line (base_url, api_key, pay_to, wallets)",
    )
    parser.add_argument(
        "--deviate",
        action="append",
        default=[],
        choices=sorted(DEVIATIONS),
        help="behave unlike the real API in this way (repeatable; see `inpaint-async conformance`)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, print how to connect, and serve until Ctrl-C. Returns an exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    wallets: dict[str, Decimal] = {}
    for spec in args.fund_wallet:
        address, sep, usd = spec.partition("=")
        try:
            if not sep or not address.startswith("0x") or len(address) != 42:
                raise ValueError
            wallets[address] = Decimal(usd)
        except (ValueError, InvalidOperation):
            parser.error(f"--fund-wallet wants 0xADDRESS=USD, got {spec!r}")
    try:
        faults = FaultPlan.from_specs(args.fault, seed=args.seed)
        balance = Decimal(args.balance)
    except (ValueError, InvalidOperation) as exc:
        parser.error(str(exc))
    # KeyboardInterrupt: where signal handlers cannot be installed (Windows).
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args, faults, wallets, balance))
    print("\nemulator stopped", file=sys.stderr)
    return 0


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM, as aiohttp's ``run_app`` stops on them.

    Installed explicitly, and before anything is printed (a caller that reads the base URL may
    signal at once): a process started in the background by a non-interactive shell inherits an
    ignored SIGINT, and Python keeps it ignored, so Ctrl-C or ``kill -INT`` would otherwise never
    stop the emulator. Without signal handlers (Windows), Ctrl-C raises ``KeyboardInterrupt``.
    """
    import signal

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        installed.append(sig)
    try:
        yield stop
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _serve(
    args: argparse.Namespace, faults: FaultPlan, wallets: dict[str, Decimal], balance: Decimal
) -> None:
    with _stop_on_signals() as stop:
        await _run(args, faults, wallets, balance, stop)


async def _run(
    args: argparse.Namespace,
    faults: FaultPlan,
    wallets: dict[str, Decimal],
    balance: Decimal,
    stop: asyncio.Event,
) -> None:
    from ._app import Emulator

    key = "VENICE_INFERENCE_KEY_emulator_" + secrets.token_hex(12)
    emu = Emulator(
        host=args.host,
        port=args.port,
        api_keys={key: balance},
        rate_limit_rpm=args.rpm,
        admin=args.admin,
        faults=faults,
        seed=args.seed,
        latency=args.latency,
        max_output_side=args.max_output_side,
        wallets=wallets,
        deviations=args.deviate,
    )
    await emu.start()
    try:
        _announce(args, emu, key, balance, wallets)
        await stop.wait()
    finally:
        await emu.stop()


def _announce(
    args: argparse.Namespace, emu: Emulator, key: str, balance: Decimal, wallets: dict[str, Decimal]
) -> None:
    """Print how to connect: one JSON line with ``--json``, else the instructions."""
    if args.json:
        import json

        document = {
            "base_url": emu.base_url,
            "api_key": key,
            "api_key_balance_usd": str(balance),
            "pay_to": emu.pay_to,
            "admin_url": f"{emu.url}/_emulator" if args.admin else None,
            "wallets": {address: str(usd) for address, usd in wallets.items()},
        }
        print(json.dumps(document), flush=True)
        return
    lines = [
        "inpaint_async emulator (offline; no real money moves)",
        f"  base URL   {emu.base_url}",
        f"  API key    {key}  (${balance})",
        f"  env        export VENICE_BASE_URL={emu.base_url} VENICE_API_KEY={key}",
        "  wallets    sign SIWX with domain 127.0.0.1; fund one with --fund-wallet 0xADDR=25,",
        f"             a signed top-up to {emu.base_url}/x402/top-up (payTo {emu.pay_to}),",
    ]
    if args.admin:
        lines.append(
            f'             or: curl -X PUT {emu.url}/_emulator/balances -d \'{{"0xADDR": "25"}}\''
        )
    else:
        lines.append("             or start with --admin and PUT /_emulator/balances")
    for address, usd in wallets.items():
        lines.append(f"  funded     {address}  (${usd})")
    if args.fault:
        lines.append(f"  faults     {', '.join(args.fault)} (seed {args.seed})")
    if args.deviate:
        lines.append(f"  deviates   {', '.join(args.deviate)} (unlike the real API)")
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
