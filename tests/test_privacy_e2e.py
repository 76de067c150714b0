"""No personal data ever reaches the cloud — proven with a recording cloud over a labelled suite.

600 labelled sentences (English, Chinese and mixed; half from the tuning templates, half
from the held-out ones, bench/pii_suite.py) go through the gateway in cloud mode,
streaming and not; a spread subset also through speculative, cascade (forced to
escalate) and auto. Every byte the cloud received, and every token-id payload
decoded back to text, is searched for every value. Answers come back restored.
"""

from __future__ import annotations

import re

import openai
import pytest

from bench.pii_suite import generate
from gateway.testing.live import LiveGateway
from gateway.testing.recording_cloud import RecordingCloud

pytestmark = pytest.mark.integration

SUITE = generate(300, split="tuning") + generate(300, seed=20261123, split="held_out")
# the model-running modes get a stratified subset: for every type, its first two sentences in each split
MODEL_SUBSET = sorted({i for half in (range(300), range(300, 600))
                       for kind in {k for s in SUITE for k, _ in s.spans}
                       for i in [j for j in half if any(k == kind for k, _ in SUITE[j].spans)][:2]})


def variants(value: str) -> set[str]:
    """The value as written and without separators (a card split differently is still the card)."""
    compact = re.sub(r"[\s\-().]", "", value)
    return {value, compact} if len(compact) >= 6 else {value}


@pytest.fixture(scope="module")
def setup(smol_engine):
    cloud = RecordingCloud(smol_engine)
    with LiveGateway(smol_engine, ["cascade.threshold=1000", "cascade.window_threshold=1000",
                                   "privacy.pii_action=redact"], cloud_server=cloud) as g:
        assert g.collaborator.tokenizers.compatible, g.collaborator.tokenizers.reason
        yield g, cloud


def ask(client, model, text, stream, privacy=None, user=None):
    kw = {"metadata": {"privacy": privacy}} if privacy else {}
    if user:
        kw["user"] = user
    if stream:
        chunks = list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}],
                                                     max_tokens=4, temperature=0, stream=True, **kw))
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks[-1].model_extra
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], max_tokens=4,
                                       temperature=0, **kw)
    return r.choices[0].message.content, r.model_extra["tandem"]


def test_suite_is_big_and_labelled():
    assert len(SUITE) >= 500
    assert sum(1 for s in SUITE if s.lang != "en") > 200
    assert {k for s in SUITE for k, _ in s.spans} >= {"SECRET", "PHONE_NUMBER", "CREDIT_CARD", "CN_RESIDENT_ID"}
    assert sum(len(s.spans) for s in SUITE) > 500


def test_no_pii_value_reaches_the_cloud_in_any_mode(setup):
    gw, cloud = setup
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
    restored = 0
    for i, s in enumerate(SUITE):
        answer, _ = ask(client, "tandem-cloud", s.text, stream=i % 2 == 0)
        if s.spans:
            values = [v for _, v in s.spans]
            assert all(v in answer for v in values), (answer, values)  # the echoed placeholders came back restored
            restored += 1
        if i in MODEL_SUBSET:
            for j, model in enumerate(("tandem-speculative", "tandem-cascade", "tandem-auto")):
                ask(client, model, s.text, stream=(i + j) % 2 == 0)
    assert restored > 400 and cloud.calls >= len(SUITE) + 3 * len(MODEL_SUBSET)  # every request reached the cloud
    seen = cloud.seen_text()
    leaks = [(kind, v) for s in SUITE for kind, v in s.spans if any(x in seen for x in variants(v))]
    assert leaks == []
    assert "[EMAIL_1]" in seen and "[CN_RESIDENT_ID_1]" in seen  # the cloud did get the placeholders


def test_private_requests_make_zero_cloud_calls(setup):
    gw, cloud = setup
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
    before = cloud.calls
    for model in ("tandem-cloud", "tandem-speculative", "tandem-cascade", "tandem-auto"):
        _, trace = ask(client, model, "Plan my week: dentist Tuesday.", stream=False, privacy="private")
        assert trace["mode"] == "device" and trace["reason"] == "private" and trace["cloud_calls"] == 0
    assert cloud.calls == before


def test_a_private_session_stays_on_the_device_in_every_mode(setup):
    gw, cloud = setup
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
    ask(client, "tandem-cloud", "Private: my lab results came back.", stream=False, privacy="private", user="pat-7")
    before = cloud.calls
    for i, model in enumerate(("tandem-cloud", "tandem-speculative", "tandem-cascade", "tandem-auto")):
        _, trace = ask(client, model, "What should I ask my doctor?", stream=i % 2 == 0, user="pat-7")
        trace = trace.get("tandem", trace)
        assert trace["mode"] == "device" and trace["reason"] == "session pinned private", trace
    assert cloud.calls == before
    _, trace = ask(client, "tandem-cloud", "What should I ask my doctor?", stream=False, user="pat-8")
    assert trace["mode"] == "cloud" and cloud.calls > before


def test_detected_pii_with_private_action_stays_on_device(smol_engine):
    cloud = RecordingCloud(smol_engine)
    with LiveGateway(smol_engine, ["privacy.pii_action=private"], cloud_server=cloud) as g:
        client = openai.OpenAI(base_url=f"{g.url}/v1", api_key="unused", max_retries=0)
        before = cloud.calls
        _, trace = ask(client, "tandem-cloud", "My card is 4111 1111 1111 1111", stream=True)
        assert trace["tandem"]["mode"] == "device" and trace["tandem"]["pii"] == {"CREDIT_CARD": 1}
        assert cloud.calls == before


# -- issue 11, defect 4: stop sequences are message content too ------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_stop_strings_with_personal_data_are_redacted_and_still_fire(setup, stream):
    """The cloud echoes the placeholder it saw; restored, that is the client's stop string: it must fire there."""
    gw, cloud = setup
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
    email, other = "olga.petrova@example.org", "ivan.sidorov@example.net"
    first = len(cloud.received)
    args = {"model": "tandem-cloud", "messages": [{"role": "user", "content": f"Please write to {email} today."}],
            "max_tokens": 32, "temperature": 0, "stop": [email, other]}
    if stream:
        chunks = list(client.chat.completions.create(stream=True, **args))
        answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason][-1]
    else:
        r = client.chat.completions.create(**args)
        answer, finish = r.choices[0].message.content, r.choices[0].finish_reason
    sent = b"\n".join(cloud.received[first:]).decode("utf-8", "replace")
    assert email not in sent and other not in sent, "a stop string carried personal data to the cloud"
    assert "[EMAIL_1]" in sent  # the stop went redacted, with the same placeholder as the message
    assert answer == "Noted: " and finish == "stop", answer


# -- issue 11, defect 5: the PII scan ran on the event loop, unbounded --------------------------------------------
def _collaborator(smol_engine, overrides=()):
    from device_runtime.worker import DeviceWorker
    from gateway.config import load_config
    from gateway.core.orchestrator import Collaborator

    config = load_config(overrides=["cloud.offline=true", "device.pull=false", *overrides])
    return Collaborator(config, DeviceWorker(smol_engine), None)


def _plan(collab, text: str, stop=None):
    import asyncio
    import threading

    from gateway.api.protocol import ChatCompletionRequest

    body = ChatCompletionRequest.model_validate({"model": "tandem-auto", "stop": stop,
                                                 "messages": [{"role": "user", "content": text}]})

    async def main():
        return await collab.plan(body), threading.get_ident()

    return asyncio.run(main())


def test_pii_scan_runs_off_the_event_loop(smol_engine):
    import threading

    collab = _collaborator(smol_engine)
    seen: list[tuple[int, int]] = []
    real_find = collab.planner.privacy.detector.find

    def spy(text):
        seen.append((threading.get_ident(), len(text)))
        return real_find(text)

    collab.planner.privacy.detector.find = spy
    try:
        job, loop_thread = _plan(collab, "Mail me at anna@example.com or call +1 415 555 0100.", stop=["bob@x.org"])
    finally:
        collab.device.shutdown()
    assert seen and all(thread != loop_thread for thread, _ in seen), "the PII scan ran on the event loop"
    assert len(seen) == 2, seen  # the message and the stop string
    assert job.trace.pii == {"EMAIL": 2, "PHONE_NUMBER": 1}


def test_text_beyond_the_scan_limit_stays_on_the_device_unscanned(smol_engine):
    collab = _collaborator(smol_engine, ["privacy.max_scan_chars=2000"])
    scanned: list[int] = []
    real_find = collab.planner.privacy.detector.find
    collab.planner.privacy.detector.find = lambda text: scanned.append(len(text)) or real_find(text)
    try:
        job, _ = _plan(collab, "word " * 1000)  # 5,000 characters
        small, _ = _plan(collab, "word " * 100)
    finally:
        collab.device.shutdown()
    assert job.trace.privacy == "private" and job.trace.mode == "device" and "scan limit" in job.trace.reason
    assert scanned == [500]  # only the small request was scanned
    assert small.trace.privacy == "public"
