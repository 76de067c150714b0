"""Session pinning: once a session has been private, its later turns stay on the device.

Unit tests of the pin table (clock injected), then the real gateway (zero-cost device
engine, recording cloud): a private turn, then a public turn of the same session stays
on the device and says why; another session goes to the cloud; the pin expires.
"""

from __future__ import annotations

import aiohttp
import pytest

from device_runtime.fake import FakeEngine
from gateway.config import load_config
from gateway.privacy.session import SessionPins
from gateway.runtime import Runtime
from gateway.testing.recording_cloud import RecordingCloud


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_pin_lasts_for_its_ttl():
    clock = Clock()
    pins = SessionPins(ttl_s=60, clock=clock)
    assert not pins.pinned("alice")
    pins.pin("alice")
    assert pins.pinned("alice") and not pins.pinned("bob")
    clock.t += 59
    assert pins.pinned("alice")
    clock.t += 2
    assert not pins.pinned("alice") and len(pins) == 0


def test_a_private_turn_renews_the_pin():
    clock = Clock()
    pins = SessionPins(ttl_s=60, clock=clock)
    pins.pin("alice")
    clock.t += 50
    pins.pin("alice")
    clock.t += 50
    assert pins.pinned("alice")


def test_table_is_bounded_and_drops_the_oldest():
    clock = Clock()
    pins = SessionPins(ttl_s=3600, max_sessions=3, clock=clock)
    for name in ("a", "b", "c", "d"):
        clock.t += 1
        pins.pin(name)
    assert len(pins) == 3 and not pins.pinned("a") and pins.pinned("d")


def test_zero_ttl_turns_pinning_off():
    pins = SessionPins(ttl_s=0)
    pins.pin("alice")
    assert not pins.pinned("alice")


def test_ids_are_not_kept_in_clear():
    pins = SessionPins(ttl_s=60)
    pins.pin("alice@example.com")
    assert "alice@example.com" not in repr(pins._pins)


@pytest.fixture
async def gateway():
    engine = FakeEngine(n_ctx=4096)
    cloud = RecordingCloud(engine)
    url = await cloud.start()
    config = load_config(overrides=["server.port=0", f"cloud.endpoints=[{url}]", "privacy.session_pin_s=600"])
    async with Runtime(config, engine=engine) as rt, aiohttp.ClientSession() as http:
        clock = Clock()
        rt.collaborator.planner.sessions = SessionPins(config.privacy.session_pin_s, clock=clock)
        yield rt, cloud, http, clock
    await cloud.stop()


async def ask(http, rt, text, session=None, how="user", privacy=None, stream=False):
    body = {"model": "tandem-cloud", "messages": [{"role": "user", "content": text}], "max_tokens": 8,
            "stream": stream}
    headers = {}
    meta = {}
    if privacy:
        meta["privacy"] = privacy
    if session is not None:
        if how == "user":
            body["user"] = session
        elif how == "header":
            headers["X-Session-Id"] = session
        else:
            meta["session"] = session
    if meta:
        body["metadata"] = meta
    async with http.post(f"{rt.url}/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        if not stream:
            return (await r.json())["tandem"]
        import json
        frames = [json.loads(line[6:]) for line in (await r.text()).splitlines()
                  if line.startswith("data: {")]
        return next(f["tandem"] for f in frames if "tandem" in f)


@pytest.mark.parametrize("how", ["user", "header", "metadata"])
async def test_private_turn_pins_its_session_to_the_device(gateway, how):
    rt, cloud, http, _clock = gateway
    first = await ask(http, rt, "My diagnosis is private.", "s-1", how, privacy="private")
    assert first["mode"] == "device" and first["reason"] == "private"
    before = cloud.calls
    later = await ask(http, rt, "What should I eat this week?", "s-1", how)
    assert later["mode"] == "device" and later["reason"] == "session pinned private"
    assert later["privacy"] == "private" and later["cloud_calls"] == 0
    streamed = await ask(http, rt, "And next week?", "s-1", how, stream=True)
    assert streamed["mode"] == "device" and streamed["reason"] == "session pinned private"
    assert cloud.calls == before
    other = await ask(http, rt, "What should I eat this week?", "s-2", how)
    assert other["mode"] == "cloud" and cloud.calls > before
    anonymous = await ask(http, rt, "What should I eat this week?")
    assert anonymous["mode"] == "cloud"


async def test_pin_expires(gateway):
    rt, _cloud, http, clock = gateway
    await ask(http, rt, "private note", "s-9", privacy="private")
    clock.t += 599
    assert (await ask(http, rt, "hello", "s-9"))["mode"] == "device"
    clock.t += 2
    assert (await ask(http, rt, "hello", "s-9"))["mode"] == "cloud"


async def test_detection_with_private_action_pins_too(gateway):
    rt, _cloud, http, _clock = gateway
    rt.collaborator.planner.privacy.pii_action = "private"
    assert (await ask(http, rt, "call me on 190-1012-3456", "s-3"))["reason"] == "private"
    rt.collaborator.planner.privacy.pii_action = "redact"
    assert (await ask(http, rt, "hello again", "s-3"))["reason"] == "session pinned private"


async def test_redacted_turn_does_not_pin(gateway):
    rt, _cloud, http, _clock = gateway
    first = await ask(http, rt, "mail me at li.wei@example.com", "s-4")
    assert first["mode"] == "cloud" and first["privacy"] == "redact"
    assert (await ask(http, rt, "hello again", "s-4"))["mode"] == "cloud"
