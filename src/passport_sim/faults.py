"""Faults the simulator injects: latency, errors, 429 bursts, outages, slow and dropped answers.

A :class:`FaultSpec` is the JSON of ``/_sim/faults`` (see ``docs/simulator.md``); the
:class:`FaultController` turns it into one :class:`Decision` per request. With ``seed`` set,
the random choices (jitter, error rate, drop rate) are reproducible.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from passport_sim.auth import TOKEN_FIELDS, TokenStore
from passport_sim.timeutil import Monotonic

_T = TypeVar("_T")

OUTAGE_MODES = ("refuse", "503")


class FaultSpecError(ValueError):
    """A fault spec that cannot be applied; the message names the field."""


_KNOWN = frozenset(
    {
        "path",
        "latency_ms",
        "jitter_ms",
        "error_rate",
        "error_statuses",
        "burst_429",
        "outage",
        "slow_response_s",
        "drop_after_apply_rate",
        "drop_after_apply_count",
        "token_lifetime_s",
        "token_fields",
        "seed",
    }
)


@dataclass(frozen=True, slots=True)
class Burst429:
    """The next ``count`` requests answer 429 with ``Retry-After: retry_after_s``."""

    count: int
    retry_after_s: int = 1


@dataclass(frozen=True, slots=True)
class Outage:
    """For ``seconds`` from now, refuse connections or answer 503 to everything."""

    seconds: float
    mode: str = "503"
    retry_after_s: int | None = None


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """What to break; the default breaks nothing."""

    path: str | None = None
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    burst_429: Burst429 | None = None
    outage: Outage | None = None
    slow_response_s: float = 0.0
    drop_after_apply_rate: float = 0.0
    drop_after_apply_count: int = 0
    token_lifetime_s: float | None = None
    token_fields: str | None = None
    seed: int | None = None

    @classmethod
    def from_dict(cls, raw: object) -> FaultSpec:
        """Parse the JSON of ``/_sim/faults``; raise ``ValueError`` naming a bad field."""
        if not isinstance(raw, dict):
            raise FaultSpecError("the fault spec must be a JSON object")
        unknown = sorted(raw.keys() - _KNOWN)
        if unknown:
            raise FaultSpecError(f"unknown fault fields: {', '.join(unknown)}")
        try:
            spec = cls(
                path=_opt(raw, "path", str),
                latency_ms=_num(raw, "latency_ms"),
                jitter_ms=_num(raw, "jitter_ms"),
                error_rate=_num(raw, "error_rate", upper=1.0),
                error_statuses=tuple(int(s) for s in raw.get("error_statuses", (500, 502, 503))),
                burst_429=_burst(raw.get("burst_429")),
                outage=_outage(raw.get("outage")),
                slow_response_s=_num(raw, "slow_response_s"),
                drop_after_apply_rate=_num(raw, "drop_after_apply_rate", upper=1.0),
                drop_after_apply_count=int(raw.get("drop_after_apply_count", 0)),
                token_lifetime_s=_opt(raw, "token_lifetime_s", float),
                token_fields=_opt(raw, "token_fields", str),
                seed=_opt(raw, "seed", int),
            )
        except (TypeError, KeyError) as exc:
            raise FaultSpecError(f"malformed fault spec: {exc}") from exc
        if not spec.error_statuses or any(not 500 <= s <= 599 for s in spec.error_statuses):
            raise FaultSpecError("error_statuses must be a non-empty list of 5xx codes")
        if spec.token_fields is not None and spec.token_fields not in TOKEN_FIELDS:
            raise FaultSpecError(f"token_fields must be one of {', '.join(TOKEN_FIELDS)}")
        if spec.token_lifetime_s is not None and spec.token_lifetime_s <= 0:
            raise FaultSpecError("token_lifetime_s must be positive")
        return spec

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form of this spec."""
        out = asdict(self)
        out["error_statuses"] = list(self.error_statuses)
        return out

    def applies_to(self, path: str) -> bool:
        """Return whether this spec's per-request faults apply to ``path`` (a prefix match)."""
        return self.path is None or path.startswith(self.path)


def _num(raw: dict[str, Any], name: str, upper: float | None = None) -> float:
    value = raw.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultSpecError(f"{name} must be a non-negative number")
    if upper is not None and value > upper:
        raise FaultSpecError(f"{name} must be at most {upper}")
    return float(value)


def _opt(raw: dict[str, Any], name: str, kind: Callable[[Any], _T]) -> _T | None:
    value = raw.get(name)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError as exc:
        raise FaultSpecError(f"{name}: {exc}") from exc


def _burst(raw: object) -> Burst429 | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FaultSpecError("burst_429 must be an object with count and retry_after_s")
    return Burst429(int(raw["count"]), int(raw.get("retry_after_s", 1)))


def _outage(raw: object) -> Outage | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FaultSpecError("outage must be an object with seconds and mode")
    mode = str(raw.get("mode", "503"))
    if mode not in OUTAGE_MODES:
        raise FaultSpecError(f"outage.mode must be one of {', '.join(OUTAGE_MODES)}")
    retry = raw.get("retry_after_s")
    return Outage(float(raw["seconds"]), mode, None if retry is None else int(retry))


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do to one request: wait, answer an error instead, or break the answer."""

    delay_s: float = 0.0
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    drop_after_apply: bool = False
    slow_s: float = 0.0


NO_FAULT = Decision()


class FaultController:
    """Holds the current spec and its counters; thread-safe."""

    def __init__(
        self,
        tokens: TokenStore,
        *,
        base_token_lifetime_s: float,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        """Create a controller that breaks nothing until :meth:`set` is called; outage windows
        are measured on ``monotonic``."""
        self._tokens = tokens
        self._monotonic = monotonic
        self._base_lifetime = base_token_lifetime_s
        self._lock = threading.Lock()
        self.spec = FaultSpec()
        #: What :meth:`clear` returns to (the CLI's fault flags; nothing by default).
        self.base = FaultSpec()
        self._rng = random.Random()
        self._burst_left = 0
        self._drops_left = 0
        self._outage_until = 0.0
        #: Set by the server runner: closes the listening socket for that many seconds.
        self.refuse_connections: Callable[[float], None] | None = None

    def set(self, spec: FaultSpec) -> None:
        """Replace the current faults with ``spec``; windows and bursts start now."""
        with self._lock:
            self.spec = spec
            self._rng = random.Random(spec.seed)
            self._burst_left = spec.burst_429.count if spec.burst_429 else 0
            self._drops_left = spec.drop_after_apply_count
            self._outage_until = self._monotonic() + spec.outage.seconds if spec.outage else 0.0
            self._tokens.lifetime_s = spec.token_lifetime_s or self._base_lifetime
            self._tokens.token_fields = spec.token_fields or "both"
        if spec.outage and spec.outage.mode == "refuse" and self.refuse_connections is not None:
            self.refuse_connections(spec.outage.seconds)

    def clear(self) -> None:
        """Return to the base faults (none unless the CLI set some) and the base token lifetime."""
        self.set(self.base)

    def status(self) -> dict[str, Any]:
        """Return the spec and what is left of its bursts and windows."""
        with self._lock:
            return {
                "spec": self.spec.to_dict(),
                "burst_429_left": self._burst_left,
                "drop_after_apply_left": self._drops_left,
                "outage_left_s": max(0.0, self._outage_until - self._monotonic()),
                "token_lifetime_s": self._tokens.lifetime_s,
            }

    def decide(self, path: str) -> Decision:
        """Return what to do to a request for ``path`` (``/_sim`` paths are never faulted)."""
        spec = self.spec
        if spec == NO_SPEC or not spec.applies_to(path):
            return NO_FAULT
        with self._lock:
            return self._decide_locked(spec)

    def _decide_locked(self, spec: FaultSpec) -> Decision:
        delay = spec.latency_ms / 1000
        if spec.jitter_ms:
            delay += self._rng.uniform(0, spec.jitter_ms) / 1000
        outage = spec.outage
        if outage and self._monotonic() < self._outage_until:
            retry = outage.retry_after_s
            headers = {} if retry is None else {"Retry-After": str(retry)}
            return Decision(delay, 503, headers, "outage")
        if self._burst_left > 0 and spec.burst_429:
            self._burst_left -= 1
            headers = {"Retry-After": str(spec.burst_429.retry_after_s)}
            return Decision(delay, 429, headers, "burst_429")
        if spec.error_rate and self._rng.random() < spec.error_rate:
            return Decision(delay, self._rng.choice(spec.error_statuses), {}, "error_rate")
        drop = False
        if self._drops_left > 0:
            self._drops_left -= 1
            drop = True
        elif spec.drop_after_apply_rate and self._rng.random() < spec.drop_after_apply_rate:
            drop = True
        return Decision(delay, None, {}, None, drop, spec.slow_response_s)


NO_SPEC = FaultSpec()
