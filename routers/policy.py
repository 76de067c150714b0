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
| 9 | cloud queue ≥ ``cloud_queue_high``, KV ≥ ``cloud_kv_high`` | cascade² | cloud queue 12 waiting |
| 10 | device heat ≥ ``device_hot_celsius``        | cloud²       | device 88°C: cloud    |
| 11 | device load per core ≥ ``device_load_high`` | cloud²       | device load 2.1 per core: cloud |
| 12 | battery < ``battery_low_percent``, discharging, long answer | cloud² | battery 15% discharging: cloud |
| 13 | the query router expects the cloud to fix the device's answer | cloud | query router |
| 14 | otherwise                                  | cascade      | default               |

¹ speculative needs device and cloud to share a tokenizer; without it the request runs
as ``cloud`` (rule 6) or ``cascade`` with plain cloud re-generation (rule 5), and says so.
² rules 9–12 read the device's and the cloud's state (``scheduling.*`` in the config; a bound
that is None turns its rule off, and a fact nobody could read keeps it silent). "Cloud" is the
replica the request's session goes to; a long answer has ``max_tokens`` over ``long_answer_tokens``.
A busy cloud comes first: the device answers and the cloud only checks where it is unsure, rather
than the cloud answering or verifying every round. The client's own hints (6–8) come before them.
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
    max_tokens: int | None = None  # what the answer may grow to
    # the device's state (None: not known; device_runtime/state.py) and the load of the cloud replica the
    # request would go to (vLLM's /metrics: requests waiting, KV cache in use as a fraction)
    battery_percent: float | None = None
    discharging: bool = False
    device_temp_c: float | None = None
    device_load: float | None = None  # 1-minute load average per core
    cloud_waiting: float | None = None
    cloud_kv_usage: float | None = None


@dataclass(frozen=True)
class RouteChoice:
    mode: str
    reason: str
    degraded: bool = False


@dataclass
class AutoPolicy:
    device_only_latency_ms: float = 200.0  # below this bound no cloud round trip is worth it
    # the state rules' bounds (None: the rule is off); gateway/config.py SchedulingConfig says each
    battery_low_percent: float | None = 20.0
    long_answer_tokens: int = 256
    device_hot_celsius: float | None = None
    device_load_high: float | None = None
    cloud_queue_high: float | None = None
    cloud_kv_high: float | None = None

    def by_state(self, f: RouteFacts) -> RouteChoice | None:
        """Rules 9–12: the cloud's load, then the device's heat, load and battery (None: none applies)."""
        if _at_least(f.cloud_waiting, self.cloud_queue_high):
            return RouteChoice("cascade", f"cloud queue {f.cloud_waiting:g} waiting: cascade")
        if _at_least(f.cloud_kv_usage, self.cloud_kv_high):
            return RouteChoice("cascade", f"cloud KV cache {f.cloud_kv_usage:.0%} full: cascade")
        if _at_least(f.device_temp_c, self.device_hot_celsius):
            return RouteChoice("cloud", f"device {f.device_temp_c:g}°C: cloud")
        if _at_least(f.device_load, self.device_load_high):
            return RouteChoice("cloud", f"device load {f.device_load:g} per core: cloud")
        low = self.battery_low_percent
        if (f.discharging and f.battery_percent is not None and low is not None and f.battery_percent < low
                and f.max_tokens is not None and f.max_tokens > self.long_answer_tokens):
            return RouteChoice("cloud", f"battery {f.battery_percent:g}% discharging: cloud")
        return None

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
        state = self.by_state(f)
        if state is not None:
            return state
        if f.query_p_gain is not None and f.query_p_gain >= f.query_threshold:
            p, t = f.query_p_gain, f.query_threshold
            return RouteChoice("cloud", f"query router: P(cloud fixes it) {p:.2f} >= {t:.2f}")
        return RouteChoice("cascade", "default")


def _at_least(value: float | None, bound: float | None) -> bool:
    return value is not None and bound is not None and value >= bound
