"""What the demo clients rely on from the gateway: token origin on the wire and the per-request "cloud offline".

Real SmolLM2 on both sides (one tokenizer, so speculation runs and both origins occur).
"""

from __future__ import annotations

import json

import openai
import pytest
import requests

from device_runtime.engine import LlamaEngine
from gateway.testing.live import LiveGateway
from tests.conftest import SMOL

pytestmark = pytest.mark.integration

MSG = [{"role": "user", "content": "Write a short poem about the sea."}]


@pytest.fixture(scope="module")
def gw(smol_engine, smol_path):
    cloud_engine = LlamaEngine(smol_path, n_ctx=2048, name=SMOL)
    with LiveGateway(smol_engine, ["speculative.adaptive=false", "speculative.k=4"], cloud_engine=cloud_engine) as g:
        assert g.collaborator.tokenizers.compatible, g.collaborator.tokenizers.reason
        yield g


def sse(gw, body: dict, headers: dict | None = None) -> list[dict]:
    r = requests.post(f"{gw.url}/v1/chat/completions", json={"messages": MSG, "max_tokens": 12, "temperature": 0,
                                                            "stream": True, **body}, headers=headers, stream=True)
    assert r.status_code == 200, r.text
    return [json.loads(ln[6:]) for ln in r.iter_lines() if ln.startswith(b"data: {")]


def content_frames(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f["choices"] and f["choices"][0]["delta"].get("content")]


@pytest.mark.parametrize("model, origins", [("tandem-device", {"device"}), ("tandem-cloud", {"cloud"}),
                                            ("tandem-speculative", {"device", "cloud"})])
def test_each_content_chunk_says_who_produced_it(gw, model, origins):
    frames = sse(gw, {"model": model})
    content = content_frames(frames)
    assert content and all(f.get("tandem_origin") in ("device", "cloud") for f in content), content
    assert {f["tandem_origin"] for f in content} == origins
    trace = frames[-1]["tandem"]
    tokens = {"device": trace["device_tokens"], "cloud": trace["cloud_tokens"]}
    assert {k for k, n in tokens.items() if n} == origins


def test_origin_is_an_extension_the_openai_client_ignores(gw):
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
    chunks = list(client.chat.completions.create(model="tandem-speculative", messages=MSG, max_tokens=16,
                                                 temperature=0, stream=True))
    assert {c.model_extra.get("tandem_origin") for c in chunks if c.choices and c.choices[0].delta.content} \
        <= {"device", "cloud"}


@pytest.mark.parametrize("how", [{"metadata": {"offline": True}}, {"metadata": {"offline": "true"}}, "header"])
def test_offline_request_goes_to_the_device_and_says_why(gw, how):
    before = gw.collaborator.monitor.available()
    body = {"model": "tandem-speculative", **(how if isinstance(how, dict) else {})}
    frames = sse(gw, body, {"X-Tandem-Offline": "1"} if how == "header" else None)
    trace = frames[-1]["tandem"]
    assert trace["mode"] == "device" and trace["degraded"], trace
    assert trace["degraded_reason"] == "cloud offline (requested)"
    assert trace["cloud_calls"] == 0 and trace["cloud_tokens"] == 0
    assert {f["tandem_origin"] for f in content_frames(frames)} == {"device"}
    assert gw.collaborator.monitor.available() == before  # the cloud's health is not touched


def test_offline_is_per_request(gw):
    assert sse(gw, {"model": "tandem-speculative", "metadata": {"offline": True}})[-1]["tandem"]["mode"] == "device"
    again = sse(gw, {"model": "tandem-speculative"})[-1]["tandem"]
    assert again["mode"] == "speculative" and again["cloud_calls"] > 0 and not again["degraded"]


def test_offline_false_and_private_are_not_degraded(gw):
    assert sse(gw, {"model": "tandem-speculative", "metadata": {"offline": "false"}})[-1]["tandem"]["mode"] \
        == "speculative"
    trace = sse(gw, {"model": "tandem-auto", "metadata": {"offline": True, "privacy": "private"}})[-1]["tandem"]
    assert trace["mode"] == "device" and trace["reason"] == "private" and not trace["degraded"]


def test_offline_must_be_a_boolean(gw):
    r = requests.post(f"{gw.url}/v1/chat/completions", json={"model": "tandem-auto", "messages": MSG,
                                                            "metadata": {"offline": "sometimes"}})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "metadata.offline" and err["type"] == "invalid_request_error"
