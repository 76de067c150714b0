"""The ``auto`` policy: which mode serves a request. Pure function of facts, no I/O.

Rules, first match wins (README has the same table):

| # | condition                                   | mode         | reason                |
|---|---------------------------------------------|--------------|-----------------------|
| 1 | privacy level is ``private``                | device       | private               |
| 2 | requested ``device``                        | device       | requested             |
| 3 | cloud unavailable (offline, circuit open)   | device       | degraded: cloud down  |
| 4 | cloud budget of the key exhausted           | device       | budget exhausted      |
| 5 | requested ``cloud``/``cascade``/``speculative`` | that mode¹ | requested             |
| 6 | hint ``quality: high``                      | speculative¹ | quality high          |
| 7 | hint ``quality: low``                       | device       | quality low           |
| 8 | hint ``max_latency_ms`` below the device-only bound | device | latency bound     |
| 9 | the query router expects the cloud to fix the device's answer | cloud | query router |
| 10 | otherwise                                  | cascade      | default               |

¹ speculative needs device and cloud to share a tokenizer; without it the request runs
as ``cloud`` (rule 6) or ``cascade`` with plain cloud re-generation (rule 5), and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Mode = Literal["auto", "device", "cloud", "cascade", "speculative"]  # the one spelling of the modes
MODES: tuple[str, ...] = get_args(Mode)
QUALITY_TIERS = ("low", "standard", "high")


@dataclass(frozen=True)
class RouteFacts:
    requested: str = "auto"
    privacy_level: str = "public"
    cloud_available: bool = True
    cloud_reason: str = ""
    budget_ok: bool = True
    speculative_ok: bool = True
    speculative_reason: str = ""
    quality: str | None = None
    max_latency_ms: float | None = None
    query_p_gain: float | None = None  # the query router's P(the cloud fixes the device's answer)
    query_threshold: float = 0.5


@dataclass(frozen=True)
class RouteChoice:
    mode: str
    reason: str
    degraded: bool = False


@dataclass
class AutoPolicy:
    device_only_latency_ms: float = 200.0  # below this bound no cloud round trip is worth it

    def choose(self, f: RouteFacts) -> RouteChoice:
        if f.requested not in MODES:
            raise ValueError(f"unknown mode {f.requested!r}; one of {', '.join(MODES)}")
        if f.privacy_level == "private":
            return RouteChoice("device", "private")
        if f.requested == "device":
            return RouteChoice("device", "requested")
        if not f.cloud_available:
            return RouteChoice("device", f.cloud_reason or "cloud unavailable", degraded=True)
        if not f.budget_ok:
            return RouteChoice("device", "cloud budget exhausted")
        if f.requested == "speculative" and not f.speculative_ok:
            return RouteChoice("cloud", f"speculative unavailable ({f.speculative_reason}); cloud instead")
        if f.requested != "auto":
            return RouteChoice(f.requested, "requested")
        if f.quality == "high":
            if f.speculative_ok:
                return RouteChoice("speculative", "quality high")
            return RouteChoice("cloud", "quality high")
        if f.quality == "low":
            return RouteChoice("device", "quality low")
        if f.max_latency_ms is not None and f.max_latency_ms < self.device_only_latency_ms:
            return RouteChoice("device", "latency bound")
        if f.query_p_gain is not None and f.query_p_gain >= f.query_threshold:
            p, t = f.query_p_gain, f.query_threshold
            return RouteChoice("cloud", f"query router: P(cloud fixes it) {p:.2f} >= {t:.2f}")
        return RouteChoice("cascade", "default")
