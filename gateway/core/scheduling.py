"""What a request's route depends on besides the request itself: its session, and the state of
the device and of the cloud (``scheduling.*`` in the config).

    key = session_key(api_key, [body.user, x_session_id, metadata.session], messages=messages)
    facts = state_facts(sampler.latest, cloud.load_for(key))   # RouteFacts fields (routers/policy.py)

The session key picks the cloud replica (``cloud_client/pool.py``): a session the client names
(OpenAI ``user``, the ``X-Session-Id`` header, ``metadata.session``), else the conversation's
opening — the messages up to its first user message, which every later turn repeats, or the
start of a completion prompt — so the turns of one chat meet the same replica and its cache.
Keys are hashes scoped by API key; no id or text is kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from device_runtime.state import DeviceState
from gateway.cloud_client.load import CloudLoad
from gateway.config import TandemConfig
from routers.policy import AutoPolicy

DeviceStateSource = Callable[[], DeviceState | None]  # the latest sample (device_runtime.state)
CloudLoadSource = Callable[[str], CloudLoad | None]  # the load of the replica a session key goes to

OPENING_CHARS = 2048  # a completion prompt's conversation is known by this much of its start
OPENING_IDS = 512  # …or, for a token-id prompt, by this many ids


def session_key(api_key: str | None, named: Sequence[object], messages: Sequence[dict] | None = None,
                text: str | None = None, token_ids: Sequence[int] | None = None) -> str:
    """The request's session in the cloud pool: the first session named, else the conversation's opening."""
    name = next((str(s) for s in named if s), None)
    if name is not None:
        basis = "session\0" + name
    elif messages is not None:
        first_user = next((i for i, m in enumerate(messages) if m.get("role") == "user"), len(messages) - 1)
        basis = "chat\0" + json.dumps(list(messages[: first_user + 1]), ensure_ascii=False, sort_keys=True)
    elif text is not None:
        basis = "text\0" + text[:OPENING_CHARS]
    else:
        basis = "ids\0" + ",".join(map(str, list(token_ids or [])[:OPENING_IDS]))
    raw = f"{api_key or ''}\0{basis}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def state_facts(device: DeviceState | None, load: CloudLoad | None) -> dict[str, Any]:
    """The device's and the cloud's state as ``RouteFacts`` fields (absent: unknown; its rules keep quiet)."""
    facts: dict[str, Any] = {}
    if device is not None:
        facts.update(battery_percent=device.battery_percent, discharging=device.discharging,
                     device_temp_c=device.temperature_c, device_load=device.cpu_load)
    if load is not None:
        facts.update(cloud_waiting=load.waiting, cloud_kv_usage=load.kv_usage)
    return facts


def no_device_state() -> DeviceState | None:
    return None


def no_cloud_load(key: str) -> CloudLoad | None:
    return None


@dataclass
class StateSources:
    """Where the planner reads the state: the device's latest sample and the load of a session's replica
    (the runtime wires them to ``DeviceStateSampler.latest`` and ``CloudClient.load_for``)."""

    device: DeviceStateSource = no_device_state
    cloud: CloudLoadSource = no_cloud_load

    def facts(self, key: str | None, max_tokens: int) -> dict[str, Any]:
        """``RouteFacts`` fields for a request in session ``key`` (None: no cloud), ``max_tokens`` long."""
        load = self.cloud(key) if key is not None else None
        return {**state_facts(self.device(), load), "max_tokens": max_tokens}


def auto_policy(config: TandemConfig) -> AutoPolicy:
    """The auto policy with the configured bounds (``routing`` and ``scheduling``)."""
    s = config.scheduling
    return AutoPolicy(config.routing.device_only_latency_ms, battery_low_percent=s.battery_low_percent,
                      long_answer_tokens=s.long_answer_tokens, device_hot_celsius=s.device_hot_celsius,
                      device_load_high=s.device_load_high, cloud_queue_high=s.cloud_queue_high,
                      cloud_kv_high=s.cloud_kv_high)

