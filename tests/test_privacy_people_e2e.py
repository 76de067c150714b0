"""People's data through the real gateway (zero-cost device engine, recording cloud), issue 27.

A name, an address and a date of birth go to the cloud as placeholders and come back restored,
streaming and not (the recording cloud echoes the placeholders it saw, reversed and cut into
3-character chunks); health details keep the request on the device (zero cloud calls) unless
privacy.types says otherwise; a stop string holding a name goes redacted too; the trace names
the kinds found and the level, never a value.
"""

from __future__ import annotations

import json

import aiohttp
import pytest

from device_runtime.fake import FakeEngine
from gateway.config import load_config
from gateway.runtime import Runtime
from gateway.testing.recording_cloud import RecordingCloud

NAME, ADDRESS, DOB = "Margarethe Oyelaran", "14 Baker Street, London NW1 6XE", "14 March 1987"
LETTER = f"Dear {NAME}, born {DOB}, your parcel for {ADDRESS} is late; draft an apology."
HEALTH = f"Patient {NAME}, born {DOB}, presents with type 2 diabetes; summarise the care plan."


class Engine(FakeEngine):
    def generate(self, prompt, params, with_entropy=False, **_):  # whatever the modes add (a grammar)
        return super().generate(prompt, params, with_entropy)


async def ask(http, rt, text, stream, **extra):
    body = {"model": "tandem-cloud", "messages": [{"role": "user", "content": text}], "max_tokens": 64,
            "stream": stream, **extra}
    async with http.post(f"{rt.url}/v1/chat/completions", json=body) as r:
        raw = await r.text()
        assert r.status == 200, raw
    if not stream:
        data = json.loads(raw)
        return data["choices"][0]["message"]["content"], data["tandem"]
    frames = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: {")]
    text = "".join((f["choices"][0].get("delta") or {}).get("content") or "" for f in frames if f["choices"])
    return text, next(f["tandem"] for f in reversed(frames) if "tandem" in f)


async def gateway(overrides=()):
    engine = Engine(n_ctx=8192)
    cloud = RecordingCloud(engine)
    url = await cloud.start()
    config = load_config(overrides=["server.port=0", "device.pull=false", f"cloud.endpoints=[{url}]", *overrides])
    return Runtime(config, engine=engine), cloud


@pytest.mark.parametrize("stream", [False, True])
async def test_name_address_and_birth_date_are_redacted_and_restored(stream):
    rt, cloud = await gateway()
    async with rt, aiohttp.ClientSession() as http:
        answer, trace = await ask(http, rt, LETTER, stream, stop=[NAME])
    await cloud.stop()
    seen = cloud.seen_text()
    assert NAME not in seen and "Oyelaran" not in seen and ADDRESS not in seen and DOB not in seen
    assert "[PERSON_1]" in seen and "[ADDRESS_1]" in seen and "[DATE_OF_BIRTH_1]" in seen
    # the echo came back restored, and the stop string (the name, redacted like the message) fired on it
    assert answer == f"Noted: {ADDRESS} and {DOB} and ", answer
    assert trace["privacy"] == "redact" and trace["mode"] == "cloud"
    # the name twice: in the message and in the stop string; three values, three placeholders
    assert trace["pii"] == {"PERSON": 2, "DATE_OF_BIRTH": 1, "ADDRESS": 1} and trace["redactions"] == 3


@pytest.mark.parametrize("stream", [False, True])
async def test_every_value_comes_back_restored(stream):
    rt, cloud = await gateway()
    async with rt, aiohttp.ClientSession() as http:
        answer, _ = await ask(http, rt, LETTER, stream)
    await cloud.stop()
    assert all(v in answer for v in (NAME, ADDRESS, DOB)), answer


@pytest.mark.parametrize("stream", [False, True])
async def test_health_keeps_the_request_on_the_device(stream):
    rt, cloud = await gateway()
    async with rt, aiohttp.ClientSession() as http:
        before = cloud.calls
        _, trace = await ask(http, rt, HEALTH, stream)
    await cloud.stop()
    assert cloud.calls == before  # nothing at all was sent
    assert trace["mode"] == "device" and trace["privacy"] == "private"
    assert trace["pii"] == {"PERSON": 1, "DATE_OF_BIRTH": 1, "HEALTH": 1}
    assert "Oyelaran" not in json.dumps(trace)


async def test_health_can_be_set_to_redact():
    rt, cloud = await gateway(["privacy.types={HEALTH: redact}"])
    async with rt, aiohttp.ClientSession() as http:
        answer, trace = await ask(http, rt, HEALTH, False)
    await cloud.stop()
    assert trace["mode"] == "cloud" and trace["privacy"] == "redact"
    seen = cloud.seen_text()
    assert "diabetes" not in seen and NAME not in seen and "[HEALTH_1]" in seen
    assert "type 2 diabetes" in answer


async def test_a_kind_switched_off_is_sent_as_written():
    rt, cloud = await gateway(["privacy.types={PERSON: off}"])
    async with rt, aiohttp.ClientSession() as http:
        _, trace = await ask(http, rt, f"Please thank {NAME} for the flowers.", False)
    await cloud.stop()
    assert trace["privacy"] == "public" and trace["pii"] == {} and NAME in cloud.seen_text()
