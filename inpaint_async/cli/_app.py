"""The ``inpaint-async`` commands: edit, batch, models, balance, top-up, emulate, demo, report, conformance, mcp."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from .._constants import H_CF_RAY
from .._exceptions import ConfigurationError, InpaintError, OutputWriteError, ValidationError
from .._version import __version__
from ._errors import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    exit_code_for,
)
from ._output import Output, safe
from ._progress import BatchDisplay, batch_exit_code, print_summary
from ._report import add_batch_option, add_parser, run_report, write_batch_report
from ._spend import add_top_up_command, add_top_up_flags, prepare_client, top_up_command

if TYPE_CHECKING:
    from .._client import InpaintClient
    from ..batch import EditJob

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
    parser.add_argument(
        "--quality",
        choices=["low", "medium", "high"],
        help="quality tier, for models with tiers (sent as a one-image multi-edit)",
    )
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
    names = (
        "model", "aspect_ratio", "resolution", "quality", "output_format", "safe_mode",
        "enhance_prompt",
    )  # fmt: skip
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
    parser.add_argument("--version", action="version", version=f"inpaint-async {__version__}")
    parser.add_argument("--json", action="store_true", help=_JSON_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    edit = sub.add_parser("edit", help="edit one image")
    edit.add_argument("image", help="input image: a path or an http(s) URL")
    edit.add_argument("prompt", help="what to change")
    edit.add_argument("-o", "--output", required=True, help="where to write the result")
    edit.add_argument("--timeout", type=float, help="read timeout per attempt, seconds")
    _add_edit_params(edit)
    add_top_up_flags(edit)

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
    batch.add_argument(
        "--allow-unpriced",
        action="store_true",
        help="with --budget-usd, run jobs whose catalogue price is missing, zero, negative or "
        "absurdly small (counted at $0) instead of refusing them",
    )
    batch.add_argument("--journal", help="JSONL journal (default: OUT/inpaint-journal.jsonl)")
    batch.add_argument("--resume", action="store_true", help="continue from an existing journal")
    batch.add_argument(
        "--rerun-unknown",
        action="store_true",
        help="on resume, re-run jobs whose outcome is unknown (they may have been charged)",
    )
    batch.add_argument("--job-timeout", type=float, default=900.0, help="seconds per job")
    batch.add_argument(
        "--allow-outside-paths",
        action="store_true",
        help="let a manifest read inputs outside its folder and write outputs outside --out",
    )
    batch.add_argument("--quiet", action="store_true", help="no progress bar")
    add_batch_option(batch)
    _add_edit_params(batch)
    add_top_up_flags(batch)

    models = sub.add_parser("models", help="list the edit models and their prices")
    models.add_argument("--type", default="inpaint", help="model type (default: inpaint)")

    sub.add_parser("balance", help="show the balance of the wallet or API key")

    add_top_up_command(sub)

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
    add_parser(sub)
    from ._conformance import add_parser as add_conformance

    add_conformance(sub)
    from ._mcp import add_parser as add_mcp_parser

    add_mcp_parser(sub)
    add_json_flag(sub)
    return parser


_JSON_HELP = (
    "print the result as one JSON document on stdout (batch: one JSON line per event); "
    "progress and logs stay on stderr"
)


def add_json_flag(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Give every subcommand ``--json`` (after the command name too), commands registered by
    other modules included; call it last in :func:`build_parser`."""
    for command in sub.choices.values():
        if "--json" not in command._option_string_actions:
            command.add_argument(
                "--json", action="store_true", default=argparse.SUPPRESS, help=_JSON_HELP
            )


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

            rest = args_list[index + 1 :]
            if "--json" in args_list[:index] and "--json" not in rest:
                rest.append("--json")
            return emulate_main(rest)
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command == "mcp":
        from ._mcp import run as run_mcp

        return run_mcp(args)
    output = Output.from_args(args)
    try:
        if args.command == "demo":
            from ._demo import run_demo

            return asyncio.run(
                run_demo(output, out_dir=Path(args.out), jobs=args.jobs, quiet=args.quiet)
            )
        if args.command == "report":
            return run_report(args, output)
        if args.command == "conformance":
            from ._conformance import run as run_conformance

            return asyncio.run(run_conformance(args, output))
        return asyncio.run(_dispatch(args, output))
    except KeyboardInterrupt:
        output.note("interrupted")
        return EXIT_INTERRUPTED
    except InpaintError as exc:
        return output.fail(exc, exit_code_for(exc))


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


async def _dispatch(args: argparse.Namespace, output: Output) -> int:
    command = args.command
    async with _client(args, anonymous_ok=command == "models") as root:
        client = prepare_client(root, args) if command in ("edit", "batch", "top-up") else root
        if command == "edit":
            return await _edit(client, args, output)
        if command == "batch":
            return await _batch(client, args, output)
        if command == "models":
            return await _models(client, args, output)
        if command == "balance":
            return await _balance(client, output)
        if command == "top-up":
            return await top_up_command(client, args, output)
    raise AssertionError(command)  # pragma: no cover


#: Output file extensions and the ``output_format`` they mean.
FORMAT_OF_SUFFIX = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}


def format_for_output(output: Path, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the ``output_format`` the output file's extension names.

    A known extension (.png, .jpg/.jpeg, .webp) sets the format; a ``--format`` that disagrees
    with it is an error (the bytes would not be what the name says). Another extension keeps
    the given format (the server's default is PNG).

    Raises:
        ValidationError: the extension and the format disagree.
    """
    implied = FORMAT_OF_SUFFIX.get(output.suffix.lower())
    given = params.get("output_format")
    if implied is None:
        return params
    if given is not None and str(given).lower() != implied:
        raise ValidationError(
            f"{output.name} names a {implied.upper()} file but the format is {given}: "
            f"change the extension or drop --format",
            param="output_format",
        )
    return {**params, "output_format": implied}


async def check_models(client: InpaintClient, models: set[str]) -> None:
    """Load the edit catalogue so the SDK checks each request against it (an unknown model
    id fails here, before any paid request)."""
    from .._checks import resolve_model

    catalogue = await client.models.list("inpaint")
    for model in sorted(models):
        resolve_model(catalogue, model)


async def _edit(client: InpaintClient, args: argparse.Namespace, output: Output) -> int:
    path = Path(args.output)
    params = format_for_output(path, _edit_params(args))
    await check_models(client, {params["model"]} if "model" in params else set())
    try:
        result = await client.images.edit(
            args.image, args.prompt, output=path, timeout=args.timeout, **params
        )
    except OutputWriteError as exc:
        raise _keep_paid_image(exc) from None
    balance = result.balance_remaining or result.balance_usd
    if output.json:
        output.emit(
            {
                "path": result.path,
                "model": result.model_id,
                "request_id": result.request_id,
                "content_type": result.content_type,
                "balance_usd": balance,
            }
        )
        return EXIT_OK
    output.say(
        f"wrote {safe(result.path)}  ({safe(result.model_id)}, request id "
        f"{safe(result.request_id)})"
    )
    if balance is not None:
        output.say(f"balance: ${safe(balance)}")
    return EXIT_OK


def _keep_paid_image(exc: OutputWriteError) -> OutputWriteError:
    """A paid image held only in memory would die with this process: save it to the temp dir."""
    if exc.data is None or exc.saved_to is not None:
        return exc
    import tempfile

    suffix = exc.output.suffix or ".png"
    try:
        fd, name = tempfile.mkstemp(prefix="inpaint-paid-", suffix=suffix)
        with os.fdopen(fd, "wb") as fh:
            fh.write(exc.data)
    except OSError:
        return exc
    return OutputWriteError(
        exc.message,
        request_id=exc.request_id,
        output=exc.output,
        saved_to=Path(name),
        content_type=exc.content_type,
    )


def _load_jobs(args: argparse.Namespace) -> list[EditJob]:
    from ..batch import folder_jobs, manifest_jobs

    source = Path(args.source)
    params = _edit_params(args)
    if source.is_dir():
        if not args.prompt:
            raise ValidationError("a folder batch needs --prompt", param="prompt")
        jobs = list(folder_jobs(source, prompt=args.prompt, out_dir=args.out, params=params))
    elif source.is_file():
        jobs = list(
            manifest_jobs(
                source,
                prompt=args.prompt,
                out_dir=args.out,
                params=params,
                allow_outside_paths=args.allow_outside_paths,
            )
        )
    else:
        raise ValidationError(f"{safe(source)}: no such folder or manifest", param="source")
    return [
        job.model_copy(update={"params": format_for_output(job.output, dict(job.params))})
        for job in jobs
    ]


async def _batch(client: InpaintClient, args: argparse.Namespace, output: Output) -> int:
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
    # The runner checks its options (job timeout, concurrency) before any request, the
    # catalogue check included.
    display = BatchDisplay(output, total=len(jobs), quiet=args.quiet)
    try:
        runner = BatchRunner(
            client,
            jobs,
            on_event=display.on_event,
            concurrency=concurrency,
            budget_usd=budget,
            journal=journal,
            rerun_unknown=args.rerun_unknown,
            job_timeout=args.job_timeout,
            allow_unpriced=args.allow_unpriced,
        )
    except ValidationError:
        raise
    except ValueError as exc:
        raise ValidationError(str(exc), param="concurrency") from None
    models = {str(job.params["model"]) for job in jobs if job.params.get("model")}
    await check_models(client, models)
    summary = await display.run(runner)
    print_summary(summary, output, outputs=Path(args.out))
    write_batch_report(args, summary, journal, output)
    return batch_exit_code(summary)


async def _models(client: InpaintClient, args: argparse.Namespace, output: Output) -> int:
    catalogue = await client.models.list(args.type)
    default = catalogue.default
    rows = []
    for model in catalogue:
        pricing = model.pricing
        base = pricing.inpaint.usd if pricing.inpaint is not None else None
        tiers = ", ".join(f"{k} ${v.usd}" for k, v in pricing.resolutions.items())
        if pricing.quality:
            tiers = "; ".join(
                f"{tier}: " + ", ".join(f"{q} ${p.usd}" for q, p in row.items())
                for tier, row in pricing.quality.items()
            )
        is_default = default is not None and model.id == default.id
        rows.append((model, base, tiers, is_default))
    if output.json:
        output.emit(
            {
                "type": args.type,
                "default": default.id if default is not None else None,
                "models": [
                    {
                        "id": model.id,
                        "name": model.name,
                        "default": is_default,
                        "price_usd": base,
                        "pricing": model.pricing,
                    }
                    for model, base, _, is_default in rows
                ],
            }
        )
        return EXIT_OK
    table = Table(title=f"{safe(args.type)} models")
    # Ids are what users copy: never truncated or wrapped; the other columns fold instead.
    table.add_column("id", no_wrap=True, overflow="ignore")
    table.add_column("name", overflow="fold")
    table.add_column("price (USD)", no_wrap=True)
    table.add_column("tiers", overflow="fold")
    for model, base, tiers, is_default in rows:
        name = model.name + (" (default)" if is_default else "")
        table.add_row(
            safe(model.id), safe(name), f"${base}" if base is not None else "-", safe(tiers or "-")
        )
    width = None
    if not output.out.is_terminal:
        # A pipe has no width: size the table to its content so nothing is cut.
        from rich.measure import Measurement

        wide = output.out.options.update(width=10_000)
        width = Measurement.get(output.out, wide, table).maximum
    output.out.print(table, width=width)
    return EXIT_OK


async def _balance(client: InpaintClient, output: Output) -> int:
    if hasattr(client.auth, "address"):
        balance = await client.wallet.balance()
        if output.json:
            output.emit(
                {
                    "kind": "wallet",
                    "address": balance.wallet_address,
                    "balance_usd": balance.balance_usd,
                    "minimum_top_up_usd": balance.minimum_top_up_usd,
                }
            )
            return EXIT_OK
        output.say(f"wallet {safe(balance.wallet_address)}: ${safe(balance.balance_usd)}")
        if balance.minimum_top_up_usd is not None:
            output.say(f"minimum top-up: ${safe(balance.minimum_top_up_usd)}")
        return EXIT_OK
    import json

    from .._exceptions import UnexpectedResponseError

    raw = await client.request("GET", "/billing/balance")
    try:
        data = json.loads(raw.content)
        usd = (data.get("balances") or {}).get("usd")
    except (ValueError, RecursionError, AttributeError):
        raise UnexpectedResponseError(
            "GET /billing/balance did not return the expected JSON",
            request_id=raw.headers.get(H_CF_RAY),
        ) from None
    if output.json:
        output.emit({"kind": "api_key", "balance_usd": usd})
        return EXIT_OK
    output.say(f"API key balance: ${safe(usd)}")
    return EXIT_OK
