"""Cloud health as the gateway sees it: RTT from its own calls and probes, and a circuit breaker.

Per endpoint, the classic three states:

* **closed** — calls go through; ``failure_threshold`` consecutive failures open it.
* **open** — requests stay on the device (marked degraded) without paying a timeout each.
* **half-open** — once ``cooldown_s`` has passed, *one* trial (a request admitted by
  ``admit()``, or the client's background health probe) is let through at a time. A
  success closes the circuit; a failure re-opens it for a new cooldown. A trial that
  never reports back (its request did not need the cloud after all) expires after
  ``trial_timeout_s`` so the next one can go.

``available()`` only answers "is the cloud worth trying now" (for /ready and metrics);
``admit()`` is what a request calls when it is about to use the cloud: it takes the
half-open trial slot. Reasons given to clients (``reason()``) carry the public form of
the last error, never addresses or cloud response bodies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

State = Literal["closed", "open", "half_open"]
log = logging.getLogger("tandem.cloud")


@dataclass
class EndpointHealth:
    rtt_ewma_s: float | None = None
    consecutive_failures: int = 0
    opened_at: float | None = None  # set while the circuit is open or half-open
    trial_since: float | None = None  # a half-open trial is in flight since then
    last_error: str | None = None  # detail, for logs and operators
    last_public: str | None = None  # what clients may be told
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
    trial_timeout_s: float = 30.0

    def _get(self, url: str) -> EndpointHealth:
        return self.endpoints.setdefault(url, EndpointHealth())

    # -- what calls report ---------------------------------------------------------------------
    def record_success(self, url: str, seconds: float) -> None:
        h = self._get(url)
        h.successes += 1
        h.consecutive_failures = 0
        h.opened_at = h.trial_since = None
        old = h.rtt_ewma_s
        h.rtt_ewma_s = seconds if old is None else (1 - self.alpha) * old + self.alpha * seconds

    def record_failure(self, url: str, error: str, public: str | None = None) -> None:
        h = self._get(url)
        h.failures += 1
        h.consecutive_failures += 1
        h.last_error = error
        h.last_public = public or "cloud call failed"
        if h.opened_at is not None or h.consecutive_failures >= self.failure_threshold:
            h.opened_at = self.clock()  # opens, or re-opens after a failed trial: a new cooldown
            h.trial_since = None

    # -- what requests ask --------------------------------------------------------------------------
    def state(self, url: str) -> State:
        h = self._get(url)
        if h.opened_at is None:
            return "closed"
        return "half_open" if self.clock() - h.opened_at >= self.cooldown_s else "open"

    def _trial_free(self, h: EndpointHealth) -> bool:
        return h.trial_since is None or self.clock() - h.trial_since >= self.trial_timeout_s

    def endpoint_available(self, url: str) -> bool:
        """Closed, or half-open with no trial in flight (a pure question: takes nothing)."""
        s = self.state(url)
        return s == "closed" or (s == "half_open" and self._trial_free(self._get(url)))

    def admit_endpoint(self, url: str) -> bool:
        """May a call go to this endpoint now? Half-open: yes for one caller, who holds the trial."""
        s = self.state(url)
        if s == "closed":
            return True
        h = self._get(url)
        if s == "half_open" and self._trial_free(h):
            h.trial_since = self.clock()
            return True
        return False

    def available(self) -> bool:
        """Is any endpoint worth trying now? (No side effect; requests use ``admit``.)"""
        if self.offline:
            return False
        if not self.endpoints:
            return True  # nothing known yet: try
        return any(self.endpoint_available(u) for u in self.endpoints)

    def admit(self) -> bool:
        """A request is about to use the cloud: true if some endpoint takes it (maybe as the trial)."""
        if self.offline:
            return False
        if not self.endpoints:
            return True
        if any(self.state(u) == "closed" for u in self.endpoints):
            return True
        return any(self.admit_endpoint(u) for u in self.endpoints)

    def needs_probe(self, url: str) -> bool:
        """The background probe's turn: half-open, and no trial in flight."""
        return self.state(url) == "half_open" and self._trial_free(self._get(url))

    def reason(self) -> str:
        if self.offline:
            return "offline mode"
        errors = [h.last_public for h in self.endpoints.values() if h.last_public and h.opened_at is not None]
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
                "state": self.state(url),
                "rtt_ms": None if h.rtt_ewma_s is None else round(h.rtt_ewma_s * 1000, 2),
                "consecutive_failures": h.consecutive_failures,
                "last_error": h.last_public,
            }
            for url, h in self.endpoints.items()
        }


async def probe_while_open(monitor: NetworkMonitor, urls: Callable[[], list[str]],
                           check: Callable[[str], Awaitable[None]]) -> None:
    """The half-open trial for endpoints nobody is sending to: one ``check(url)`` per cooldown.

    Runs as a background task for the client's lifetime; ``check`` reports to ``monitor``.
    """
    interval = max(0.05, min(1.0, monitor.cooldown_s / 4))
    while True:
        await asyncio.sleep(interval)
        try:
            # admit_endpoint holds the half-open trial for the probe
            due = [u for u in urls() if monitor.needs_probe(u) and monitor.admit_endpoint(u)]
            if due:
                await asyncio.gather(*(check(u) for u in due))
        except Exception:  # the prober must outlive any one bad probe
            log.exception("cloud health probe failed")
