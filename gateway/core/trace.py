"""The route trace: what happened to one request, returned to the client and counted in metrics.

It never holds prompt text or personal data values — only counts, kinds and timings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class RouteTrace:
    mode: str = "device"  # the mode that actually ran: device | cloud | cascade | speculative
    requested: str = "auto"  # what the client asked for (model name or metadata.mode)
    reason: str = ""  # why this mode: "private", "forced", "cloud unhealthy", …
    degraded: bool = False  # the cloud failed or was unreachable and the device took over
    degraded_reason: str | None = None
    privacy: str = "public"  # public | redact | private — the strictest tag that applied
    pii: dict[str, int] = field(default_factory=dict)  # detected kind -> count (never values)
    redactions: int = 0
    device_tokens: int = 0  # completion tokens the device produced and the client received
    cloud_tokens: int = 0  # completion tokens that came from the cloud (corrections, bonus, cloud mode)
    drafts_proposed: int = 0
    drafts_accepted: int = 0
    grammar_fallbacks: int = 0  # where a grammar allowed none of the cloud's top tokens: the draft stood
    grammar_probes: int = 0  # …and where the cloud was asked for its best allowed token instead
    unverified_tokens: int = 0  # tokens shown without cloud verification (opportunistic mode)
    cloud_calls: int = 0
    cloud_passes: int = 0  # forward passes the cloud ran for us (one per verification round)
    verify_fallbacks: int = (
        0  # verifications redone uncached (cache-keeping answer unusable, e.g. vLLM's NaN)
    )
    bytes_up: int = 0
    bytes_down: int = 0
    confidence: float | None = None
    escalated: bool | None = None  # cascade: did the cloud take over?
    verdicts: list[dict] = field(default_factory=list)  # cascade: each verifier's outcome, score and cost
    handover_token: int | None = None  # streaming cascade: the cloud took over after this many shown tokens
    cloud_replica: int | None = None  # which of cloud.endpoints (its index) served the last cloud call
    # the answer moved to another replica: {from_replica, to_replica, at_token} (indexes, never addresses)
    cloud_failovers: list[dict] = field(default_factory=list)
    query: dict[str, float] | None = None  # the query router: p_gain, threshold, ms
    draft_lengths: list[int] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    _t0: float = field(default_factory=time.perf_counter, repr=False)

    def mark(self, name: str) -> None:
        """Record milliseconds since the request started under ``name``."""
        self.timings_ms[name] = round((time.perf_counter() - self._t0) * 1000, 2)

    @property
    def acceptance_rate(self) -> float | None:
        return self.drafts_accepted / self.drafts_proposed if self.drafts_proposed else None

    @property
    def mean_acceptance_length(self) -> float | None:
        """vLLM's convention: tokens produced per verification pass (accepted + the cloud's own)."""
        return (self.drafts_accepted + self.cloud_passes) / self.cloud_passes if self.cloud_passes else None

    def header(self) -> str:
        """Compact ``x-tandem-route`` value: mode first, then the facts a proxy log wants."""
        parts = [self.mode, f"privacy={self.privacy}"]
        if self.degraded:
            parts.append("degraded")
        if self.cloud_failovers:
            parts.append(f"cloud_failovers={len(self.cloud_failovers)}")
        if self.escalated is not None:
            parts.append(f"escalated={str(self.escalated).lower()}")
        if self.cloud_calls:
            parts.append(f"cloud_calls={self.cloud_calls}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The trace for the client (asdict's deep copy is 5x slower, and the trace is built per request)."""
        out = {f.name: _copy(getattr(self, f.name)) for f in fields(self) if not f.name.startswith("_")}
        out["acceptance_rate"] = self.acceptance_rate
        out["mean_acceptance_length"] = self.mean_acceptance_length
        return out


def _copy(value: Any) -> Any:
    """The trace's containers are flat (lists and dicts of numbers, strings and flat dicts)."""
    if isinstance(value, list):
        return [dict(v) if isinstance(v, dict) else v for v in value]
    if isinstance(value, dict):
        return dict(value)
    return value
