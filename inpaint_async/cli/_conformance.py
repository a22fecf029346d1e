"""``inpaint-async conformance``: does a server behave as the SDK assumes?

A small contract suite, run against the emulator by default or, with ``--live``, against the real
API with the user's own key or wallet, under a hard spend cap (``--max-usd``, default $0.20). Each
check reports what the SDK assumes and what the server did:

* ``ok``       the server does what the SDK assumes;
* ``differs``  it does not (the report says what the SDK does about it);
* ``info``     a behaviour the sources disagree on (``quality`` on ``/image/edit``): what it is here;
* ``skipped``  not run (the spend cap, or the auth does not allow it);
* ``error``    the check could not complete.

Money: each paid call is sent once (no retries), uses the cheapest model the catalogue offers, and
its catalogue price is counted as spent whatever the answer, before it is sent; a call that would
take the total past ``--max-usd`` is skipped. Free checks (the catalogue, 402 shape, errors,
SIWX) come first. This command is never run against the real API in CI.
"""

from __future__ import annotations

import argparse
import base64
import io
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal, cast

from .._exceptions import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InpaintError,
    PaymentRequiredError,
    ValidationError,
    X402DiscoveryError,
)
from ._errors import EXIT_OK, EXIT_OTHER
from ._output import Output, safe

if TYPE_CHECKING:
    from .._client import InpaintClient
    from ..types.catalogue import Model, ModelCatalogue
    from ..types.params import Quality
    from ..types.results import ImageResult

__all__ = ["Finding", "Report", "add_parser", "run", "run_conformance"]

Status = Literal["ok", "differs", "info", "skipped", "error"]

DEFAULT_MAX_USD = Decimal("0.20")
_PROMPT = "conformance check: return the image unchanged"
_PROBE_FIELD = "inpaint_async_conformance_probe"
_NO_SUCH_MODEL = "inpaint-async-conformance-no-such-model"
#: Headers every successful image response is assumed to carry.
_IMAGE_HEADERS = ("content-type", "cf-ray", "x-venice-model-id", "x-venice-is-content-violation")
_RATE_LIMIT_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
)


@dataclass
class Finding:
    """One check: what the SDK assumes, what the server did, and what the call cost."""

    check: str
    status: Status
    expected: str
    observed: str
    cost_usd: Decimal = Decimal(0)


@dataclass
class Report:
    """The suite's findings against one server."""

    target: str
    live: bool
    max_usd: Decimal
    spent_usd: Decimal = Decimal(0)
    findings: list[Finding] = field(default_factory=list)

    @property
    def differences(self) -> list[Finding]:
        """The findings where the server and the SDK's assumptions differ (or a check failed)."""
        return [f for f in self.findings if f.status in ("differs", "error")]

    def as_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready document."""
        return {
            "target": self.target,
            "live": self.live,
            "max_usd": str(self.max_usd),
            "spent_usd": str(self.spent_usd),
            "differences": len(self.differences),
            "findings": [{**asdict(f), "cost_usd": str(f.cost_usd)} for f in self.findings],
        }


class _Budget:
    """The hard cap: a paid call's price is counted before it is sent, whatever comes back."""

    def __init__(self, report: Report) -> None:
        self._report = report

    def take(self, price: Decimal) -> bool:
        report = self._report
        if report.spent_usd + price > report.max_usd:
            return False
        report.spent_usd += price
        return True


def _probe_image() -> str:
    """A 256x256 PNG (the smallest size every model takes) as base64, made at run time."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (90, 120, 150)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _edit_price(model: Model, **kwargs: Any) -> Decimal | None:
    try:
        return model.estimate_cost(**kwargs)
    except InpaintError:
        return None


def _cheapest(
    catalogue: ModelCatalogue, *, quality: bool
) -> tuple[Model, Decimal, str | None] | None:
    """The cheapest edit model (with a quality tier when ``quality``), its price and tier."""
    best: tuple[Model, Decimal, str | None] | None = None
    for model in catalogue:
        tiers: list[str | None] = list(model.constraints.qualities) if quality else [None]
        for tier in tiers:
            price = _edit_price(model, quality=tier, endpoint="multi_edit" if tier else "edit")
            if price is not None and (best is None or price < best[1]):
                best = (model, price, tier)
    return best


async def run_conformance(
    client: InpaintClient, *, max_usd: Decimal = DEFAULT_MAX_USD, live: bool = False,
    model: str | None = None,
) -> Report:  # fmt: skip
    """Run the contract suite against ``client``'s server; never spends more than ``max_usd``.

    Args:
        client: A client for the server (its auth pays for the paid checks).
        max_usd: The hard cap on the catalogue price of the paid calls, counted before sending.
        live: Whether this is the real API (only recorded in the report).
        model: Use this edit model for the paid checks instead of the cheapest.

    Returns:
        The :class:`Report`; :attr:`Report.differences` lists what does not match.
    """
    from .._retry import RetryPolicy

    once = client.with_options(retry=RetryPolicy.no_retry(), validate=False)
    report = Report(target=client.base_url, live=live, max_usd=max_usd)
    budget = _Budget(report)
    add = report.findings.append
    image = _probe_image()

    # -- free checks ------------------------------------------------------------------------
    try:
        catalogue = await once.models.list("inpaint", refresh=True)
    except InpaintError as exc:
        add(
            Finding(
                "catalogue", "error", "GET /models?type=inpaint lists the edit models", _why(exc)
            )
        )
        return report
    chosen = _cheapest(catalogue, quality=False)
    if model is not None:
        entry = catalogue.get(model)
        price = _edit_price(entry, endpoint="edit") if entry is not None else None
        chosen = (entry, price, None) if entry is not None and price is not None else None
    with_quality = _cheapest(catalogue, quality=True)
    if chosen is not None:
        observed = f"{len(catalogue)} models; the edit checks use {chosen[0].id} (${chosen[1]})"
    elif model is not None:
        observed = f"--model {model!r} is not a priced edit model of this catalogue"
    else:
        observed = f"{len(catalogue)} models, none with an edit price the SDK can read"
    status: Status = "ok" if chosen else ("error" if model is not None else "differs")
    add(Finding("catalogue", status, "GET /models?type=inpaint lists priced edit models", observed))

    add(await _discovery_402(once, image))
    add(await _error_shape(once, image))
    add(await _siwx(once))

    if chosen is None:
        return report
    edit_model, edit_price, _ = chosen

    # -- paid checks, most important first --------------------------------------------------
    async def paid(
        name: str, expected: str, price: Decimal, call: Callable[[], Awaitable[Finding]]
    ) -> None:
        if not budget.take(price):
            add(Finding(name, "skipped", expected,
                        f"would take the spend past --max-usd ${max_usd} (spent ${report.spent_usd})"))  # fmt: skip
            return
        finding = await call()
        finding.cost_usd = price
        add(finding)

    response: dict[str, ImageResult] = {}

    async def plain_edit() -> Finding:
        expected = "an edit returns 200 with the image bytes"
        try:
            response["edit"] = await once.images.edit(image, _PROMPT, model=edit_model.id)
        except InpaintError as exc:
            return Finding("edit", "error", expected, _why(exc))
        return Finding("edit", "ok", expected, f"200 {response['edit'].content_type}")

    await paid("edit", "an edit returns 200 with the image bytes", edit_price, plain_edit)
    result = response.get("edit")
    if result is not None:
        add(_headers_finding(result))
        add(_rate_limit_finding(result))
        if _is_wallet(client):
            present = result.balance_remaining is not None
            add(Finding(
                "balance-header", "ok" if present else "info",
                "a wallet edit reports X-Balance-Remaining (documented as possibly absent)",
                f"X-Balance-Remaining: {result.balance_remaining}" if present else "absent",
            ))  # fmt: skip

    if with_quality is not None:
        q_model, q_price, tier = with_quality
        assert tier is not None
        # A tier read from the catalogue: the Literal type is for callers' code.
        q_tier = cast("Quality", tier)

        async def multi_quality() -> Finding:
            expected = (
                f"/image/multi-edit takes quality={tier} for {q_model.id} "
                "(the SDK sends edit(quality=...) there)"
            )
            try:
                done = await once.images.multi_edit(
                    [image], _PROMPT, model=q_model.id, quality=q_tier
                )
            except APIStatusError as exc:
                return Finding("quality-on-multi-edit", "differs", expected,
                               f"{_why(exc)}: edit(quality=...) fails on this server; "
                               "use edit_quality_route='edit' if the next check shows 200")  # fmt: skip
            except InpaintError as exc:
                return Finding("quality-on-multi-edit", "error", expected, _why(exc))
            return Finding("quality-on-multi-edit", "ok", expected, f"200 {done.content_type}")

        async def edit_quality() -> Finding:
            expected = (
                "/image/edit with quality: the documentation says accepted, the schema says 400 "
                "(either works with the SDK's default route)"
            )
            direct = once.with_options(edit_quality_route="edit")
            try:
                await direct.images.edit(image, _PROMPT, model=q_model.id, quality=q_tier)
            except BadRequestError as exc:
                return Finding("quality-on-edit", "info", expected,
                               f"400 as the schema says ({_why(exc)}); keep the default route")  # fmt: skip
            except InpaintError as exc:
                return Finding("quality-on-edit", "error", expected, _why(exc))
            return Finding("quality-on-edit", "info", expected,
                           "200 as the documentation says; edit_quality_route='edit' works here")  # fmt: skip

        await paid("quality-on-multi-edit", "multi-edit takes quality", q_price, multi_quality)
        await paid("quality-on-edit", "edit with quality", q_price, edit_quality)

    async def unknown_field() -> Finding:
        expected = "/image/edit refuses an unknown JSON field with 400 (strict schema)"
        try:
            await once.images.edit(
                image, _PROMPT, model=edit_model.id, extra_body={_PROBE_FIELD: True}
            )
        except BadRequestError as exc:
            return Finding("unknown-field", "ok", expected, f"400 ({_why(exc)})")
        except InpaintError as exc:
            return Finding("unknown-field", "error", expected, _why(exc))
        return Finding("unknown-field", "differs", expected,
                       "200: unknown fields are ignored (and the edit was charged); a misspelt "
                       "extra_body field would go unnoticed")  # fmt: skip

    await paid("unknown-field", "an unknown field is refused", edit_price, unknown_field)
    return report


async def _discovery_402(client: InpaintClient, image: str) -> Finding:
    from .._wire import Body
    from ..x402.payment import PaymentRailError, select_base_usdc

    expected = "an edit without credentials is a 402 listing a USDC-on-Base payment option"
    try:
        await client.request(
            "POST", "/image/edit", body=Body(json={"image": image, "prompt": _PROMPT}),
            authenticate=False,
        )  # fmt: skip
    except X402DiscoveryError as exc:
        accepts = exc.info.accepts if exc.info is not None else ()
        try:
            rail = select_base_usdc(accepts)
        except PaymentRailError as err:
            return Finding("402-shape", "differs", expected, f"402 without a usable rail: {err}")
        return Finding("402-shape", "ok", expected,
                       f"402 with {len(accepts)} option(s); USDC on {rail.network}")  # fmt: skip
    except PaymentRequiredError as exc:
        return Finding("402-shape", "differs", expected,
                       f"402 of another shape ({type(exc).__name__})")  # fmt: skip
    except InpaintError as exc:
        return Finding("402-shape", "differs", expected, _why(exc))
    return Finding("402-shape", "differs", expected, "the edit succeeded without credentials")


async def _error_shape(client: InpaintClient, image: str) -> Finding:
    expected = "an unknown model is a 400 with a JSON error body (nothing charged)"
    try:
        await client.images.edit(image, _PROMPT, model=_NO_SUCH_MODEL)
    except BadRequestError as exc:
        readable = isinstance(exc.body, Mapping) and bool(exc.body.get("error"))
        return Finding("error-shape", "ok" if readable else "differs", expected,
                       _why(exc) if readable else f"400 with body {exc.body!r:.120}")  # fmt: skip
    except InpaintError as exc:
        return Finding("error-shape", "differs", expected, _why(exc))
    return Finding("error-shape", "differs", expected, "200: an unknown model was accepted")


async def _siwx(client: InpaintClient) -> Finding:
    """Sign in with the user's wallet, or a throwaway one made here (never printed): a balance
    read is free. Then replay the same header: the nonce is assumed single-use."""
    from ..auth.wallet import WalletAuth

    expected = "a SIWX-signed request is accepted, and its nonce cannot be replayed"
    auth = client.auth
    wallet = auth if isinstance(auth, WalletAuth) else WalletAuth("0x" + secrets.token_hex(32))
    wallet.bind_base_url(client.base_url)
    path = f"/x402/balance/{wallet.address}"
    header = dict(await wallet.headers("GET", client.url_for(path)))
    fixed = client.with_options(auth=_FixedAuth(header))
    try:
        first = await fixed.request("GET", path)
    except AuthenticationError as exc:
        return Finding("siwx", "differs", expected, f"the signed request was refused: {_why(exc)}")
    except InpaintError as exc:
        return Finding("siwx", "error", expected, _why(exc))
    try:
        await fixed.request("GET", path)
    except AuthenticationError:
        return Finding("siwx", "ok", expected, f"{first.status}, then 401 on the replay")
    except InpaintError as exc:
        return Finding("siwx", "error", expected, f"replay: {_why(exc)}")
    return Finding("siwx", "differs", expected,
                   "the replayed header was accepted (harmless here: the SDK signs every attempt)")  # fmt: skip


class _FixedAuth:
    """Sends the same headers on every attempt (to test replay protection)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    async def headers(self, method: str, url: str) -> Mapping[str, str]:
        return self._headers

    def __repr__(self) -> str:
        return "_FixedAuth(***)"


def _headers_finding(result: ImageResult) -> Finding:
    names = {k.lower() for k in result.headers}
    missing = [h for h in _IMAGE_HEADERS if h not in names]
    expected = "an image response carries " + ", ".join(_IMAGE_HEADERS)
    if missing:
        return Finding("headers", "differs", expected,
                       f"missing {', '.join(missing)}: results lack those fields")  # fmt: skip
    return Finding("headers", "ok", expected, "all present")


def _rate_limit_finding(result: ImageResult) -> Finding:
    names = {k.lower() for k in result.headers}
    missing = [h for h in _RATE_LIMIT_HEADERS if h not in names]
    expected = "responses carry x-ratelimit-{limit,remaining,reset}-requests (batches pace on them)"
    if missing:
        return Finding("rate-limit-headers", "differs", expected,
                       f"missing {', '.join(missing)}: batches fall back to 429-driven pacing")  # fmt: skip
    state = result.rate_limit
    observed = (
        f"limit {state.limit}, remaining {state.remaining}, reset {state.reset_at}"
        if state is not None else "present"
    )  # fmt: skip
    return Finding("rate-limit-headers", "ok", expected, observed)


def _is_wallet(client: InpaintClient) -> bool:
    from ..auth.wallet import WalletAuth

    return isinstance(client.auth, WalletAuth)


def _why(exc: BaseException) -> str:
    if isinstance(exc, APIStatusError):
        return str(exc)[:200]
    return f"{type(exc).__name__}: {exc}"[:200]


# -- the command ----------------------------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``conformance`` on the ``inpaint-async`` parser."""
    from ..testing import DEVIATIONS

    parser = sub.add_parser(
        "conformance",
        help="check that a server behaves as the SDK assumes (default: the emulator)",
        description="Run a small contract suite: by default against a fresh emulator; with "
        "--live against the real API with your own key or wallet, under a hard spend cap "
        "(the cheapest model, each paid call sent once). Prints where the server and the "
        "SDK's assumptions differ; exits 1 when they do.",
    )
    parser.add_argument(
        "--live", action="store_true",
        help="run against the real API (or --base-url) with VENICE_API_KEY or the wallet; "
        "costs up to --max-usd",
    )  # fmt: skip
    parser.add_argument(
        "--max-usd", default=str(DEFAULT_MAX_USD),
        help=f"hard cap on what the paid checks may cost (default {DEFAULT_MAX_USD})",
    )  # fmt: skip
    parser.add_argument("--model", help="edit model for the paid checks (default: the cheapest)")
    parser.add_argument(
        "--emulator-deviation", action="append", default=[], choices=sorted(DEVIATIONS),
        metavar="KIND",
        help="make the emulator differ from the real API in this way (repeatable: "
        + ", ".join(sorted(DEVIATIONS)) + ")",
    )  # fmt: skip


def _max_usd(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationError(
            f"--max-usd must be a number, not {text!r}", param="max_usd"
        ) from None
    if not value.is_finite() or value < 0:
        raise ValidationError("--max-usd must be zero or more", param="max_usd")
    return value


async def run(args: argparse.Namespace, output: Output) -> int:
    """The ``conformance`` command: run the suite and print the report."""
    from .._client import InpaintClient

    max_usd = _max_usd(args.max_usd)
    if args.live:
        if args.emulator_deviation:
            raise ValidationError("--emulator-deviation is for the emulator, not --live")
        async with InpaintClient(base_url=args.base_url) as client:
            report = await run_conformance(client, max_usd=max_usd, live=True, model=args.model)
    else:
        if args.base_url:
            raise ConfigurationError(
                "without --live, conformance runs against its own emulator; add --live to check "
                "the server at --base-url (it may cost up to --max-usd)"
            )
        from ..testing import Emulator

        async with Emulator(deviations=args.emulator_deviation, max_output_side=256) as emu:
            async with InpaintClient(emu.api_key, base_url=emu.base_url) as client:
                report = await run_conformance(client, max_usd=max_usd, model=args.model)
    _print(report, output)
    return EXIT_OTHER if report.differences else EXIT_OK


_STYLE = {"ok": "green", "differs": "bold red", "info": "cyan", "skipped": "yellow", "error": "red"}


def _print(report: Report, output: Output) -> None:
    if output.json:
        output.emit(report.as_dict())
        return
    kind = "the real API" if report.live else "the emulator"
    output.say(f"conformance of [bold]{safe(report.target)}[/] ({kind})")
    for f in report.findings:
        cost = f" [dim](${f.cost_usd})[/]" if f.cost_usd else ""
        output.say(
            f"  [{_STYLE[f.status]}]{f.status:<8}[/] {safe(f.check):<22} {safe(f.observed)}{cost}"
        )
        if f.status in ("differs", "error"):
            output.say(f"           [dim]assumed: {safe(f.expected)}[/]")
    n = len(report.differences)
    verdict = "no differences" if n == 0 else f"{n} difference(s)"
    output.say(f"{verdict}; spent ${report.spent_usd} of ${report.max_usd} (catalogue prices)")
