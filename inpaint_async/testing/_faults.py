"""Fault plans: seeded, per-route failures the emulator injects on purpose."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FAULT_KINDS", "Fault", "FaultPlan"]

#: Every fault kind, with what the emulator does when it draws it.
FAULT_KINDS: Mapping[str, str] = {
    "500": "500 Inference processing failed (nothing charged)",
    "502": "502 upstream failure, JSON body (nothing charged)",
    "503": "503 model at capacity (nothing charged)",
    "504": "504 request timed out before any work (nothing charged)",
    "429_overloaded": "429 model overloaded, with Retry-After (nothing charged)",
    "504_after_charge": "the edit runs and is charged, then the answer is a 504",
    "reset": "the connection is closed before any response",
    "truncate": "headers with the full Content-Length, half the body, then the connection closes"
    " (charged)",
    "latency": "latency:<seconds> adds that delay, then the request proceeds normally",
    "html_502": "a Cloudflare-like HTML 502 page instead of JSON (nothing charged)",
    "settlement_timeout": "top-up only: 504 SETTLEMENT_TIMEOUT, the credit lands later",
    "payment_in_progress": "top-up only: 409 PAYMENT_IN_PROGRESS until the payment settles",
}

WILDCARD = "*"


@dataclass(frozen=True)
class Fault:
    """One injected failure: a kind from `FAULT_KINDS`, plus the delay for `latency`."""

    kind: str
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if self.seconds < 0:
            raise ValueError("fault latency must be >= 0")

    @classmethod
    def parse(cls, spec: str | Fault) -> Fault:
        """Read `"503"`, `"reset"` or `"latency:2.5"` (a `Fault` passes through)."""
        if isinstance(spec, Fault):
            return spec
        text = str(spec).strip()
        if text.startswith("latency:"):
            try:
                seconds = float(text.partition(":")[2])
            except ValueError:
                raise ValueError(f"bad latency fault {text!r}; use latency:<seconds>") from None
            return cls("latency", seconds)
        return cls(text)

    def __str__(self) -> str:
        return f"latency:{self.seconds:g}" if self.kind == "latency" else self.kind


def normalize_route(route: str) -> str:
    """Map `/api/v1/image/edit`, `image/edit` or `/x402/balance/0xabc` to a rule key."""
    if route == WILDCARD:
        return route
    path = "/" + route.strip("/")
    if path.startswith("/api/v1/"):
        path = path[len("/api/v1") :]
    parts = path.split("/")
    # Wallet-scoped routes share one key whatever the wallet.
    if len(parts) >= 3 and parts[1] == "x402" and parts[2] in ("balance", "transactions"):
        path = "/".join(parts[:3])
    return path


@dataclass
class FaultPlan:
    """Seeded fault injection, per route.

    `script` is consumed first, one entry per request that reaches the fault point
    (authenticated and valid); `None` means "no fault this time". Once a route's script is
    used up, `rules` apply: each maps fault specs to probabilities, drawn from a
    `random.Random(seed)`, so a run is reproducible for a given order of requests.
    The route `"*"` applies to every route without its own entry.

    Example:
        ```python
        FaultPlan(seed=1, rules={"/image/edit": {"503": 0.1, "429_overloaded": 0.05}},
                  script={"/image/edit": ["503", None, "504_after_charge"]})
        ```
    """

    seed: int = 0
    rules: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    script: Mapping[str, Sequence[str | Fault | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._rules: dict[str, list[tuple[Fault, float]]] = {}
        for route, table in self.rules.items():
            entries = []
            for spec, probability in table.items():
                p = float(probability)
                if not 0.0 <= p <= 1.0:
                    raise ValueError(f"probability for {spec!r} on {route!r} must be in [0, 1]")
                entries.append((Fault.parse(spec), p))
            if sum(p for _, p in entries) > 1.0 + 1e-9:
                raise ValueError(f"probabilities on {route!r} add up to more than 1")
            self._rules[normalize_route(route)] = entries
        self._script: dict[str, deque[Fault | None]] = {
            normalize_route(route): deque(None if s is None else Fault.parse(s) for s in seq)
            for route, seq in self.script.items()
        }

    def draw(self, route: str) -> Fault | None:
        """Return the fault for the next request on `route`, or None."""
        key = normalize_route(route)
        for candidate in (key, WILDCARD):
            queue = self._script.get(candidate)
            if queue:
                return queue.popleft()
        entries = self._rules.get(key, self._rules.get(WILDCARD))
        if not entries:
            return None
        roll = self._rng.random()
        cumulative = 0.0
        for fault, probability in entries:
            cumulative += probability
            if roll < cumulative:
                return fault
        return None

    def remaining_script(self) -> dict[str, list[str | None]]:
        """The scripted faults not yet used, per route."""
        return {
            route: [None if f is None else str(f) for f in queue]
            for route, queue in self._script.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (the admin API's `GET /_emulator/faults`)."""
        return {
            "seed": self.seed,
            "rules": {
                route: {str(f): p for f, p in entries} for route, entries in self._rules.items()
            },
            "script": self.remaining_script(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultPlan:
        """Build a plan from the JSON the admin API accepts (`to_dict()`'s shape)."""
        unknown = set(data) - {"seed", "rules", "script"}
        if unknown:
            raise ValueError(f"unknown keys in fault plan: {sorted(unknown)}")
        rules = data.get("rules") or {}
        script = data.get("script") or {}
        if not isinstance(rules, Mapping) or not isinstance(script, Mapping):
            raise ValueError("rules and script must be objects")
        for table in rules.values():
            if not isinstance(table, Mapping):
                raise ValueError("each rule must map fault kinds to probabilities")
        for seq in script.values():
            if isinstance(seq, str) or not isinstance(seq, Sequence):
                raise ValueError("each script must be a list of fault kinds or null")
        return cls(seed=int(data.get("seed", 0)), rules=rules, script=script)

    @classmethod
    def from_specs(cls, specs: Iterable[str], *, seed: int = 0) -> FaultPlan:
        """Parse CLI specs: `[ROUTE=]KIND[:PROBABILITY]`, e.g. `503:0.1`, `/image/edit=reset:0.02`.

        Without a route the rule applies to every route (`*`); without a probability, to every
        request (1.0).
        """
        rules: dict[str, dict[str, float]] = {}
        for spec in specs:
            route, sep, rest = spec.partition("=")
            if not sep:
                route, rest = WILDCARD, spec
            kind_text, probability = rest, 1.0
            head, colon, tail = rest.rpartition(":")
            if colon:
                try:
                    value = float(tail)
                except ValueError:
                    value = None
                if value is not None and _is_fault(head):
                    kind_text, probability = head, value
            fault = Fault.parse(kind_text)
            rules.setdefault(route.strip() or WILDCARD, {})[str(fault)] = probability
        return cls(seed=seed, rules=rules)


def _is_fault(text: str) -> bool:
    try:
        Fault.parse(text)
    except ValueError:
        return False
    return True
