"""The ``inpaint-async`` commands: edit, batch, models, balance, top-up, emulate, demo, mcp."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from .._exceptions import ConfigurationError, InpaintError, ValidationError
from ._errors import (
    EXIT_BUDGET,
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OTHER,
    EXIT_UNKNOWN,
    EXIT_USAGE,
    describe_error,
    exit_code_for,
)

if TYPE_CHECKING:
    from .._client import InpaintClient
    from ..batch import BatchSummary, EditJob

__all__ = ["build_parser", "main"]

_KEYS_HELP = (
    "Credentials come only from the environment: VENICE_API_KEY, or a wallet with "
    "VENICE_WALLET_KEY or VENICE_WALLET_KEYSTORE + VENICE_WALLET_PASSWORD. Never on the "
    "command line."
)


def _exit_epilog() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items())


def _add_edit_params(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="an inpaint model id (default: the server's)")
    parser.add_argument("--aspect-ratio", help='e.g. "16:9"; default: closest to the input')
    parser.add_argument("--resolution", help="1K, 2K or 4K, for models with tiers")
    parser.add_argument("--format", dest="output_format", choices=["png", "jpeg", "webp"])
    parser.add_argument(
        "--safe-mode",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="blur adult output (server default: on)",
    )
    parser.add_argument(
        "--enhance-prompt", action="store_true", default=None, help="let the server rewrite it"
    )


def _edit_params(args: argparse.Namespace) -> dict[str, Any]:
    names = ("model", "aspect_ratio", "resolution", "output_format", "safe_mode", "enhance_prompt")
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``inpaint-async``."""
    parser = argparse.ArgumentParser(
        prog="inpaint-async",
        description="Edit images with the Venice image API. " + _KEYS_HELP,
        epilog=_exit_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--base-url", help="API root (default: VENICE_BASE_URL or https://api.venice.ai/api/v1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    edit = sub.add_parser("edit", help="edit one image")
    edit.add_argument("image", help="input image: a path or an http(s) URL")
    edit.add_argument("prompt", help="what to change")
    edit.add_argument("-o", "--output", required=True, help="where to write the result")
    edit.add_argument("--timeout", type=float, help="read timeout per attempt, seconds")
    _add_edit_params(edit)

    batch = sub.add_parser(
        "batch",
        help="edit a folder or a JSONL manifest, resumably",
        description="Edit every image of a folder, or every line of a JSONL manifest "
        '({"image": ..., "prompt": ..., "output": ..., "params": {...}, "id": ...}).',
    )
    batch.add_argument("source", help="a folder of images or a .jsonl manifest")
    batch.add_argument("--prompt", help="the prompt (a manifest line may set its own)")
    batch.add_argument("--out", required=True, help="folder for the outputs")
    batch.add_argument("--concurrency", default="auto", help="'auto' (default) or a number")
    batch.add_argument("--budget-usd", help="stop launching jobs at this estimated spend")
    batch.add_argument("--journal", help="JSONL journal (default: OUT/inpaint-journal.jsonl)")
    batch.add_argument("--resume", action="store_true", help="continue from an existing journal")
    batch.add_argument(
        "--rerun-unknown",
        action="store_true",
        help="on resume, re-run jobs whose outcome is unknown (they may have been charged)",
    )
    batch.add_argument("--job-timeout", type=float, default=900.0, help="seconds per job")
    batch.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_edit_params(batch)

    models = sub.add_parser("models", help="list the edit models and their prices")
    models.add_argument("--type", default="inpaint", help="model type (default: inpaint)")

    sub.add_parser("balance", help="show the balance of the wallet or API key")

    top_up = sub.add_parser("top-up", help="add USDC credit to the wallet (asks first)")
    top_up.add_argument("amount", help="USD amount, e.g. 5")
    top_up.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    sub.add_parser(
        "emulate", help="serve the offline emulator (see: inpaint-async emulate --help)",
        add_help=False,
    )  # fmt: skip

    demo = sub.add_parser(
        "demo", help="a self-contained tour: emulator, wallet, 402, top-up, batch"
    )
    demo.add_argument("--out", default="inpaint-demo-out", help="output folder")
    demo.add_argument("--jobs", type=int, default=12, help="number of sample images")
    demo.add_argument("--quiet", action="store_true", help="no progress bar; summary only")
    from ._mcp import add_parser as add_mcp_parser

    add_mcp_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if "emulate" in args_list:
        index = args_list.index("emulate")
        if (
            all(a.startswith("-") for a in args_list[:index])
            and "--base-url" not in args_list[:index]
        ):
            from ..testing.__main__ import main as emulate_main

            return emulate_main(args_list[index + 1 :])
    parser = build_parser()
    args = parser.parse_args(args_list)
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    if args.command == "mcp":
        from ._mcp import run as run_mcp

        return run_mcp(args)
    try:
        if args.command == "demo":
            from ._demo import run_demo

            return asyncio.run(
                run_demo(out, err, out_dir=Path(args.out), jobs=args.jobs, quiet=args.quiet)
            )
        return asyncio.run(_dispatch(args, out, err))
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except InpaintError as exc:
        err.print(f"[red]error:[/] {describe_error(exc)}", markup=True, highlight=False)
        return exit_code_for(exc)


def _client(args: argparse.Namespace, *, anonymous_ok: bool = False) -> InpaintClient:
    from .._client import InpaintClient

    try:
        return InpaintClient(base_url=args.base_url)
    except ConfigurationError:
        if not anonymous_ok:
            raise
        return InpaintClient(auth=_Anonymous(), base_url=args.base_url)


class _Anonymous:
    """No credentials: for the public catalogue."""

    async def headers(self, method: str, url: str) -> dict[str, str]:
        return {}


async def _dispatch(args: argparse.Namespace, out: Console, err: Console) -> int:
    command = args.command
    async with _client(args, anonymous_ok=command == "models") as client:
        if command == "edit":
            return await _edit(client, args, out)
        if command == "batch":
            return await _batch(client, args, out, err)
        if command == "models":
            return await _models(client, args, out)
        if command == "balance":
            return await _balance(client, out)
        if command == "top-up":
            return await _top_up(client, args, out, err)
    raise AssertionError(command)  # pragma: no cover


async def _edit(client: InpaintClient, args: argparse.Namespace, out: Console) -> int:
    output = Path(args.output)
    result = await client.images.edit(
        args.image, args.prompt, output=output, timeout=args.timeout, **_edit_params(args)
    )
    out.print(f"wrote {result.path}  ({result.model_id}, request id {result.request_id})")
    if result.balance_usd is not None or result.balance_remaining is not None:
        out.print(f"balance: ${result.balance_remaining or result.balance_usd}")
    return EXIT_OK


def _load_jobs(args: argparse.Namespace) -> list[EditJob]:
    from ..batch import folder_jobs, manifest_jobs

    source = Path(args.source)
    params = _edit_params(args)
    if source.is_dir():
        if not args.prompt:
            raise ValidationError("a folder batch needs --prompt", param="prompt")
        return list(folder_jobs(source, prompt=args.prompt, out_dir=args.out, params=params))
    if source.is_file():
        return list(manifest_jobs(source, prompt=args.prompt, out_dir=args.out, params=params))
    raise ValidationError(f"{source}: no such folder or manifest", param="source")


async def _batch(
    client: InpaintClient, args: argparse.Namespace, out: Console, err: Console
) -> int:
    from ..batch import BatchRunner

    concurrency: int | str = args.concurrency
    if concurrency != "auto":
        try:
            concurrency = int(concurrency)
        except ValueError:
            raise ValidationError(
                "--concurrency is 'auto' or a number", param="concurrency"
            ) from None
    budget = None
    if args.budget_usd is not None:
        try:
            budget = Decimal(args.budget_usd)
        except ArithmeticError:
            raise ValidationError("--budget-usd is a number", param="budget_usd") from None
    jobs = _load_jobs(args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    journal = Path(args.journal) if args.journal else Path(args.out) / "inpaint-journal.jsonl"
    if journal.exists() and journal.stat().st_size > 0 and not args.resume:
        raise ValidationError(
            f"the journal {journal} exists: pass --resume to continue that run, or --journal "
            "for a new one",
            param="journal",
        )
    try:
        runner = BatchRunner(
            client,
            jobs,
            concurrency=concurrency,
            budget_usd=budget,
            journal=journal,
            rerun_unknown=args.rerun_unknown,
            job_timeout=args.job_timeout,
        )
    except ValueError as exc:
        raise ValidationError(str(exc), param="concurrency") from None
    summary = await run_with_progress(runner, out, total=len(jobs), quiet=args.quiet)
    print_summary(summary, out, err, outputs=Path(args.out))
    return batch_exit_code(summary)


async def run_with_progress(
    runner: Any, out: Console, *, total: int | None, quiet: bool, label: str = "editing"
) -> BatchSummary:
    """Iterate a runner, with a progress bar unless ``quiet``; failures go above the bar."""
    from ._progress import BatchProgressBar

    if quiet:
        return await runner.run()  # type: ignore[no-any-return]
    bar = BatchProgressBar(out, total, label=label)
    runner._on_event = bar.on_event
    with bar:
        async for outcome in runner:
            if outcome.status in ("failed", "outcome_unknown"):
                bar.print(
                    f"[red]{outcome.status}[/] {outcome.job.output.name}: "
                    f"{describe_error(outcome.error) if outcome.error else outcome.reason}"
                )
    return runner.summary  # type: ignore[no-any-return]


def print_summary(summary: BatchSummary, out: Console, err: Console, *, outputs: Path) -> None:
    """The totals of a batch, and why it stopped."""
    parts = [
        f"[green]{summary.succeeded} succeeded[/]",
        f"[red]{summary.failed} failed[/]",
        f"[yellow]{summary.outcome_unknown} unknown[/]",
        f"{summary.skipped} skipped",
    ]
    if summary.not_started:
        parts.append(f"{summary.not_started} not started")
    out.print(
        ", ".join(parts) + f" in {summary.elapsed:.1f}s; estimated spend ${summary.spent_usd}"
    )
    if summary.failures:
        out.print("failures: " + ", ".join(f"{k} x{v}" for k, v in summary.failures.items()))
    out.print(f"outputs: {outputs.resolve()}")
    if summary.journal is not None:
        out.print(f"journal: {summary.journal}")
    if summary.stopped_reason:
        err.print(f"[yellow]stopped:[/] {summary.stopped_reason}")
    if summary.skipped_unknown:
        err.print(
            f"{summary.skipped_unknown} job(s) skipped: their outcome is unknown in the journal "
            "(they may have been charged); --rerun-unknown runs them again"
        )
    if summary.outcome_unknown:
        err.print(
            "some outcomes are unknown: those edits may have been charged; --resume skips them, "
            "--resume --rerun-unknown runs them again"
        )


def batch_exit_code(summary: BatchSummary) -> int:
    """0 when all is done; the stopping error's code; 7 for unknown outcomes (new or skipped);
    1 when some jobs failed; 9 at the budget."""
    if summary.stop_error is not None:
        return exit_code_for(summary.stop_error)
    if summary.outcome_unknown or summary.skipped_unknown:
        return EXIT_UNKNOWN
    if summary.failed:
        return EXIT_OTHER
    if summary.stopped_reason:
        return EXIT_BUDGET if "budget" in summary.stopped_reason else EXIT_OTHER
    return EXIT_OK


async def _models(client: InpaintClient, args: argparse.Namespace, out: Console) -> int:
    catalogue = await client.models.list(args.type)
    table = Table(title=f"{args.type} models")
    for column in ("id", "name", "price (USD)", "tiers"):
        table.add_column(column)
    default = catalogue.default
    for model in catalogue:
        pricing = model.pricing
        base = pricing.inpaint.usd if pricing.inpaint is not None else None
        tiers = ", ".join(f"{k} ${v.usd}" for k, v in pricing.resolutions.items())
        if pricing.quality:
            tiers = "; ".join(
                f"{tier}: " + ", ".join(f"{q} ${p.usd}" for q, p in row.items())
                for tier, row in pricing.quality.items()
            )
        name = model.name + (" (default)" if default is not None and model.id == default.id else "")
        table.add_row(model.id, name, f"${base}" if base is not None else "-", tiers or "-")
    out.print(table)
    return EXIT_OK


async def _balance(client: InpaintClient, out: Console) -> int:
    if hasattr(client.auth, "address"):
        balance = await client.wallet.balance()
        out.print(f"wallet {balance.wallet_address}: ${balance.balance_usd}")
        if balance.minimum_top_up_usd is not None:
            out.print(f"minimum top-up: ${balance.minimum_top_up_usd}")
        return EXIT_OK
    import json

    raw = await client.request("GET", "/billing/balance")
    data = json.loads(raw.content)
    usd = (data.get("balances") or {}).get("usd")
    out.print(f"API key balance: ${usd}")
    return EXIT_OK


async def _top_up(
    client: InpaintClient, args: argparse.Namespace, out: Console, err: Console
) -> int:
    from ..x402.topup import to_usd

    amount = to_usd(args.amount)
    if not hasattr(client.auth, "address"):
        raise ConfigurationError(
            "top-up needs a wallet: set VENICE_WALLET_KEY, or VENICE_WALLET_KEYSTORE and "
            "VENICE_WALLET_PASSWORD"
        )
    address = client.auth.address
    if not args.yes:
        if not sys.stdin.isatty():
            err.print("refusing to spend without confirmation: pass --yes")
            return EXIT_USAGE
        from rich.prompt import Confirm

        if not Confirm.ask(f"Top up wallet {address} with ${amount} of USDC on Base?"):
            err.print("cancelled; nothing was signed")
            return EXIT_OTHER
    result = await client.wallet.top_up(amount)
    out.print(
        f"topped up ${result.amount_credited}; balance ${result.new_balance} "
        f"(payment {result.payment_id or '-'})"
    )
    return EXIT_OK
