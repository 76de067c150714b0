"""Cloud health as the gateway sees it: RTT from its own calls and probes, and a circuit breaker.

After ``failure_threshold`` consecutive failures the circuit opens: requests stay on the
device (marked degraded) without paying a timeout each. After ``cooldown_s`` one request
is let through (half-open); a success closes the circuit again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class EndpointHealth:
    rtt_ewma_s: float | None = None
    consecutive_failures: int = 0
    opened_at: float | None = None
    last_error: str | None = None
    successes: int = 0
    failures: int = 0


@dataclass
class NetworkMonitor:
    failure_threshold: int = 3
    cooldown_s: float = 10.0
    alpha: float = 0.2  # EWMA weight of the newest RTT sample
    clock: Callable[[], float] = time.monotonic
    endpoints: dict[str, EndpointHealth] = field(default_factory=dict)
    offline: bool = False  # set by configuration: never try the cloud

    def _get(self, url: str) -> EndpointHealth:
        return self.endpoints.setdefault(url, EndpointHealth())

    def record_success(self, url: str, seconds: float) -> None:
        h = self._get(url)
        h.successes += 1
        h.consecutive_failures = 0
        h.opened_at = None
        h.rtt_ewma_s = seconds if h.rtt_ewma_s is None else (1 - self.alpha) * h.rtt_ewma_s + self.alpha * seconds

    def record_failure(self, url: str, error: str) -> None:
        h = self._get(url)
        h.failures += 1
        h.consecutive_failures += 1
        h.last_error = error
        if h.consecutive_failures >= self.failure_threshold and h.opened_at is None:
            h.opened_at = self.clock()

    def endpoint_available(self, url: str) -> bool:
        h = self._get(url)
        if h.opened_at is None:
            return True
        return self.clock() - h.opened_at >= self.cooldown_s  # half-open: let one through

    def available(self) -> bool:
        """Is any endpoint worth trying now?"""
        if self.offline:
            return False
        if not self.endpoints:
            return True  # nothing known yet: try
        return any(self.endpoint_available(u) for u in self.endpoints)

    def reason(self) -> str:
        if self.offline:
            return "offline mode"
        errors = [h.last_error for h in self.endpoints.values() if h.last_error and h.opened_at is not None]
        return "cloud unavailable: " + (errors[0] if errors else "circuit open")

    @property
    def rtt_s(self) -> float | None:
        """Best current RTT estimate over endpoints (what the draft-length controller uses)."""
        rtts = [h.rtt_ewma_s for h in self.endpoints.values() if h.rtt_ewma_s is not None]
        return min(rtts) if rtts else None

    def snapshot(self) -> dict:
        return {
            url: {
                "available": self.endpoint_available(url),
                "rtt_ms": None if h.rtt_ewma_s is None else round(h.rtt_ewma_s * 1000, 2),
                "consecutive_failures": h.consecutive_failures,
                "last_error": h.last_error,
            }
            for url, h in self.endpoints.items()
        }
