"""The emulator's settings: one frozen object instead of two dozen keyword arguments."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypedDict

from .. import _constants as C
from ._faults import FaultPlan

__all__ = [
    "DEFAULT_PAY_TO",
    "DEFAULT_SIWX_DOMAINS",
    "DEVIATIONS",
    "EmulatorOptions",
    "EmulatorSettings",
]

DEFAULT_SIWX_DOMAINS = frozenset({"api.venice.ai", "venice.ai", "127.0.0.1", "localhost"})
DEFAULT_PAY_TO = "0x2670B922ef37C7Df47158725C0CC407b5382293F"

_Usd = Decimal | float | str

#: Ways the emulator can be told to differ from what the SDK assumes of the API, so that
#: ``inpaint-async conformance`` (and your own tests) can show what such a server looks like.
DEVIATIONS: Mapping[str, str] = {
    "no_rate_limit_headers": "image responses carry no x-ratelimit-* headers",
    "no_model_headers": "image responses carry no x-venice-model-id / -name headers",
    "multi_edit_rejects_quality": "/image/multi-edit answers 400 to a quality field",
    "lenient_unknown_fields": "/image/edit ignores unknown JSON fields instead of a 400",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class EmulatorSettings:
    """How an `Emulator` behaves; every field has the default of a fresh `Emulator()`.

    Build one to share between emulators (`dataclasses.replace(settings, latency=0.1)` derives
    another), or pass the same names as keywords to `Emulator(...)`.

    Attributes:
        host: The address to bind (loopback by default).
        port: The port to bind; 0 picks a free one (read the bound one from `Emulator.port`).
        api_keys: Bearer keys and their USD balances; None means one generated key with $100.
        wallets: Wallet addresses and their prepaid USD credit.
        rate_limit_rpm: Requests per window per (payer, model) before a 429.
        rate_limit_window: The rate-limit window in seconds.
        error_budget: 4xx answers (429 excepted) per `error_budget_window` before a lockout.
        error_budget_window: The error-budget window in seconds.
        error_budget_lockout: How long a caller who spent the error budget gets 429s, in seconds.
        wallet_max_in_flight: Concurrent inference requests per wallet before a 429.
        send_balance_remaining: Whether wallet responses carry `X-Balance-Remaining`.
        content_policy_phrase: A prompt containing this phrase is refused with a 422.
        blur_phrase: A prompt containing this phrase comes back blurred (with safe mode on).
        latency: Seconds added to every image request.
        max_output_side: Caps the longest side of output images (small and fast for tests).
        faults: The fault plan to start with; None means an empty plan seeded with `seed`.
        admin: Serve the `/_emulator/...` admin routes.
        seed: The seed of the default fault plan.
        strict_quality: Refuse `quality` on the single-image edit route, as the API does.
        clock: The wall clock (seconds); inject one to make windows and expiries exact.
        siwx_domains: SIWX domains the emulator accepts (compared lower-case).
        pay_to: The Base address top-ups must pay.
        settlement_delay: Seconds before a payment that timed out in settlement is credited.
        overloaded_retry_after: `Retry-After` seconds of the `429_overloaded` fault.
        deviations: Names from `DEVIATIONS`: behave unlike the real API in those ways (empty:
            behave as documented).
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_keys: Mapping[str, _Usd] | None = None
    wallets: Mapping[str, _Usd] | None = None
    rate_limit_rpm: int = 20
    rate_limit_window: float = 60.0
    error_budget: int = 50
    error_budget_window: float = 30.0
    error_budget_lockout: float = 30.0
    wallet_max_in_flight: int = C.WALLET_MAX_IN_FLIGHT
    send_balance_remaining: bool = True
    content_policy_phrase: str = "forbidden"
    blur_phrase: str = "nsfw"
    latency: float = 0.0
    max_output_side: int | None = None
    faults: FaultPlan | None = None
    admin: bool = False
    seed: int = 0
    strict_quality: bool = True
    clock: Callable[[], float] = field(default=time.time)
    siwx_domains: Iterable[str] = DEFAULT_SIWX_DOMAINS
    pay_to: str = DEFAULT_PAY_TO
    settlement_delay: float = 2.0
    overloaded_retry_after: int = 30
    deviations: Iterable[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "siwx_domains", frozenset(d.lower() for d in self.siwx_domains))
        deviations = frozenset(self.deviations)
        unknown = sorted(deviations - set(DEVIATIONS))
        if unknown:
            raise ValueError(f"unknown emulator deviations {unknown}; known: {sorted(DEVIATIONS)}")
        object.__setattr__(self, "deviations", deviations)


class EmulatorOptions(TypedDict, total=False):
    """The fields of `EmulatorSettings` as keywords of `Emulator(...)` (a test keeps them in step)."""

    host: str
    port: int
    api_keys: Mapping[str, _Usd] | None
    wallets: Mapping[str, _Usd] | None
    rate_limit_rpm: int
    rate_limit_window: float
    error_budget: int
    error_budget_window: float
    error_budget_lockout: float
    wallet_max_in_flight: int
    send_balance_remaining: bool
    content_policy_phrase: str
    blur_phrase: str
    latency: float
    max_output_side: int | None
    faults: FaultPlan | None
    admin: bool
    seed: int
    strict_quality: bool
    clock: Callable[[], float]
    siwx_domains: Iterable[str]
    pay_to: str
    settlement_delay: float
    overloaded_retry_after: int
    deviations: Iterable[str]
