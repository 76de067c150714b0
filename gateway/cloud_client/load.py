"""The cloud's load, as vLLM reports it on ``/metrics`` (the local cloud exports the same names).

    load = parse_metrics(text)     # CloudLoad(waiting=3.0, running=8.0, kv_usage=0.41) or None

vLLM's scheduler gauges (``vllm/v1/metrics/loggers.py``), one sample per engine, labelled with
``model_name`` and ``engine``: ``vllm:num_requests_waiting``, ``vllm:num_requests_running`` and
``vllm:kv_cache_usage_perc`` (a fraction, 1 = full). vLLM before 0.9 named the last one
``vllm:gpu_cache_usage_perc``, read where the new name is absent. Engines of one server (data
parallel) add up their queues; the fullest cache counts. The client polls every endpoint in the
background (``CloudClient``); the auto policy reads the replica a request would go to.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

WAITING = "vllm:num_requests_waiting"
RUNNING = "vllm:num_requests_running"
KV_USAGE = "vllm:kv_cache_usage_perc"
KV_USAGE_OLD = "vllm:gpu_cache_usage_perc"  # vLLM < 0.9

# a sample line: name, optional {labels}, value (the optional timestamp after it is ignored)
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)')


@dataclass(frozen=True)
class CloudLoad:
    waiting: float  # requests queued, not yet scheduled
    running: float  # requests in the running batch
    kv_usage: float | None  # fraction of the KV cache in use (None: not reported)


def parse_metrics(text: str) -> CloudLoad | None:
    """vLLM's load gauges from a Prometheus text exposition; None when it has no queue gauge."""
    sums: dict[str, float] = {}
    peaks: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("vllm:"):
            continue
        m = _SAMPLE.match(line)
        if m is None:
            continue
        name, raw = m.group(1), m.group(2)
        try:
            value = float(raw)
        except ValueError:
            continue
        if math.isnan(value):
            continue
        sums[name] = sums.get(name, 0.0) + value
        peaks[name] = max(peaks.get(name, value), value)
    if WAITING not in sums:
        return None
    kv = peaks.get(KV_USAGE, peaks.get(KV_USAGE_OLD))
    return CloudLoad(sums[WAITING], sums.get(RUNNING, 0.0), kv)


def render_metrics(waiting: int, running: int, kv_usage: float, model: str) -> str:
    """The same three gauges in vLLM's names and labels, for the local cloud's ``/metrics``."""
    labels = f'{{engine="0",model_name="{_escape(model)}"}}'
    rows = [(WAITING, "Number of requests waiting to be processed.", float(waiting)),
            (RUNNING, "Number of requests in model execution batches.", float(running)),
            (KV_USAGE, "KV-cache usage. 1 means 100 percent usage.", float(kv_usage))]
    out = []
    for name, doc, value in rows:
        out += [f"# HELP {name} {doc}", f"# TYPE {name} gauge", f"{name}{labels} {value!r}"]
    return "\n".join(out) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
