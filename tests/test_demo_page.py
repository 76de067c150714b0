"""The demo page at ``/`` as a person uses it: Debian's Chromium, driven by Playwright, against real gateways.

Two gateways, both with the real SmolLM2 on the device: one with a real local cloud (SmolLM2
through the llama.cpp stand-in) for routing, tinting, privacy and offline; one with a scripted
cloud for what a small model won't write on demand (a code answer, an answer carrying HTML,
a long answer to stop); and, for tool calls and JSON answers, a scripted assistant on the device (no
model) that calls ``get_time`` when asked and answers from its result. Screenshots land in ``tmp/artifacts/`` (``$TANDEM_ARTIFACTS``);
``TANDEM_UPDATE_SCREENSHOT=1`` also writes the README's ``docs/demo.png``.

Needs ``apt-get install -y chromium`` (never ``playwright install``): without it these tests
skip locally and fail in CI unless ``TANDEM_NO_BROWSER=1`` says the browser cannot be had there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import requests

from device_runtime.engine import LlamaEngine
from gateway.api.app import STATE
from gateway.testing.assistant_engine import AssistantEngine, tool_call
from gateway.testing.canned_cloud import CannedCloud
from gateway.testing.live import LiveGateway
from tests.conftest import SMOL

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
expect = sync_api.expect

pytestmark = pytest.mark.integration

CHROMIUM = Path(os.environ.get("TANDEM_CHROMIUM", "/usr/bin/chromium"))
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("TANDEM_ARTIFACTS", REPO / "tmp" / "artifacts"))

CODE_ANSWER = """Here is a function that adds two numbers:

```python
def add(a: int, b: int) -> int:
    return a + b  # a long comment so the line is wider than a phone screen, which must scroll inside the block
```

## Usage
- call `add(2, 3)`
- it returns **5**
"""
INJECTION = ("Here is HTML: <script>window.__pwned = 1</script> and <img src=\"x\" onerror=\"window.__pwned = 2\"> "
             "and [a link](javascript:window.__pwned=3)\n\n<script>window.__pwned = 4</script>\n")
SLOW = "Once upon a time, " + "the device and the cloud told a long story together. " * 40
PROFILE = {"name": "Ada Lovelace", "born": 1815, "languages": ["English", "French"], "analyst": True,
           "notes": {"engine": "Analytical", "programs": []}}
TIME_RESULT = r"\w+day \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(UTC\+09:00, Asia/Tokyo\)"


# -- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = f"Chromium not found at {CHROMIUM}: install Debian's (apt-get install -y chromium)"
        if os.environ.get("CI") and not os.environ.get("TANDEM_NO_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM))
        yield b
        b.close()


@pytest.fixture(scope="module")
def real(smol_engine, smol_path):
    cloud_engine = LlamaEngine(smol_path, n_ctx=2048, name=SMOL)
    with LiveGateway(smol_engine, ["speculative.adaptive=false", "speculative.k=4"], cloud_engine=cloud_engine) as g:
        yield g


@pytest.fixture(scope="module")
def scripted(smol_engine):
    cloud = CannedCloud(smol_engine, {"code": CODE_ANSWER, "html": INJECTION, "story": SLOW}, slow={"story": 0.05})
    with LiveGateway(smol_engine, [], cloud_server=cloud) as g:
        g.scripted_cloud = cloud
        yield g


@pytest.fixture
def open_page(browser):
    """A fresh browser context on the page; JavaScript errors, or a request off this machine (a CDN), fail the test."""
    contexts, errors, remote = [], [], []

    def _open(url: str, width: int = 1100, height: int = 820, max_tokens: int = 24):
        ctx = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: r.url.startswith(("http://127.0.0.1:", "data:")) or remote.append(r.url))
        page.goto(f"{url}/")
        expect(page.locator("#status")).to_contain_text("device:")
        page.eval_on_selector("#maxtok", "(e, v) => { e.value = v; }", str(max_tokens))  # a setting, kept short
        return page

    yield _open
    for ctx in contexts:
        ctx.close()
    assert errors == [] and remote == []


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def send(page, text: str, mode: str | None = None):
    """Type and press Enter; returns the new answer's box (still streaming)."""
    if mode:
        page.select_option("#mode", mode)
    before = page.locator(".msg.bot").count()
    page.fill("#text", text)
    page.press("#text", "Enter")
    expect(page.locator(".msg.bot")).to_have_count(before + 1)
    return page.locator(".msg.bot").last


def finished(page, box, timeout: float = 120_000):
    expect(page.locator("#send")).to_have_text("Send", timeout=timeout)
    assert box.locator(".err").count() == 0, box.inner_text()
    expect(box.locator(".trace:not(.live) .badge")).to_have_count(1)
    return box


def ask(page, text: str, mode: str | None = None):
    return finished(page, send(page, text, mode))


# -- with a real local cloud ----------------------------------------------------------------------------------
def test_a_streamed_answer_with_route_badge_and_tinted_tokens(real, open_page):
    page = open_page(real.url)
    page.evaluate("""() => { window.__lengths = new Set();
        new MutationObserver(() => { const a = document.querySelector('.msg.bot:last-child .answer');
            if (a) window.__lengths.add(a.textContent.length); })
          .observe(document.getElementById('log'), {childList: true, subtree: true, characterData: true}); }""")
    box = send(page, "Write a short poem about the sea.", "tandem-speculative")
    expect(page.locator("#send")).to_have_text("Stop")  # while it streams, the button stops it
    finished(page, box)
    assert page.evaluate("window.__lengths.size") >= 3  # the text grew in steps: streamed, not dumped at the end
    expect(box.locator(".badge")).to_have_text("speculative")
    assert len(box.locator(".answer").inner_text()) > 20
    assert box.locator(".answer .o-device").count() > 0 and box.locator(".answer .o-cloud").count() > 0
    trace = box.locator(".trace").inner_text()
    for words in ("drafted", "accepted", "cloud calls", "tok/s", "first token"):
        assert words in trace, trace
    expect(page.locator("#legend")).to_contain_text("device")
    expect(page.locator("#legend")).to_contain_text("cloud")
    shot(page, "streamed-speculative.png")


def test_private_stays_on_the_device_with_zero_cloud_calls(real, open_page):
    page = open_page(real.url)
    page.click("label:has(input[value=private])")
    box = ask(page, "My email is jane.doe@example.com. Write one sentence about email.", "tandem-auto")
    expect(box.locator(".badge")).to_have_text("device")
    expect(box.locator(".trace")).to_contain_text("0 cloud calls")
    expect(box.locator(".note")).to_contain_text("Personal data found: email")
    expect(box.locator(".note")).to_contain_text("Kept on the device")
    assert box.locator(".answer .o-cloud").count() == 0
    shot(page, "private.png")


def test_redact_says_what_was_done(real, open_page):
    page = open_page(real.url)
    page.click("label:has(input[value=redact])")
    box = ask(page, "My email is jane.doe@example.com. Write one sentence about email.", "tandem-cloud")
    expect(box.locator(".badge")).to_have_text("cloud")
    expect(box.locator(".note")).to_contain_text("The cloud saw placeholders for 1 value")


def test_cloud_offline_switch_the_device_carries_on(real, open_page):
    page = open_page(real.url)
    page.check("#offline")
    expect(page.locator("#status")).to_contain_text("cloud: offline (your switch)")
    box = ask(page, "Write a short poem about the sea.", "tandem-speculative")
    expect(box.locator(".badge")).to_have_text("device")
    expect(box.locator(".pill.degraded")).to_contain_text("cloud offline (requested)")
    assert box.locator(".answer .o-device").count() > 0 and box.locator(".answer .o-cloud").count() == 0
    shot(page, "offline.png")
    page.uncheck("#offline")
    again = ask(page, "Write a short poem about the sea.")
    expect(again.locator(".badge")).to_have_text("speculative")


def test_keyboard_only(real, open_page):
    page = open_page(real.url)
    page.locator("body").focus()
    for _ in range(6):  # the message box is among the first stops of the tab order
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "text":
            break
    assert page.evaluate("document.activeElement.id") == "text"
    page.keyboard.type("Name a fruit.")
    page.keyboard.press("Enter")
    first = finished(page, page.locator(".msg.bot").last)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past Send, onto the mode picker: a letter picks a mode
    assert page.evaluate("document.activeElement.id") == "mode"
    page.keyboard.press("d")
    assert page.input_value("#mode") == "tandem-device"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "text"
    page.keyboard.type("Name a colour.")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "send"
    page.keyboard.press("Enter")
    expect(page.locator(".msg.bot")).to_have_count(2)
    second = finished(page, page.locator(".msg.bot").last)
    assert first.locator(".answer").inner_text() and second.locator(".answer").inner_text()
    expect(second.locator(".badge")).to_have_text("device")
    expect(page.locator(".msg.user")).to_have_count(2)


@pytest.fixture
def showcase(request):
    """The gateway the README's picture comes from: when regenerating it, the pair `tandem serve` runs (Qwen)."""
    if not os.environ.get("TANDEM_UPDATE_SCREENSHOT"):
        yield request.getfixturevalue("real")
        return
    device, cloud = request.getfixturevalue("qwen_device_engine"), request.getfixturevalue("qwen_cloud_engine")
    with LiveGateway(device, [], cloud_engine=cloud) as g:
        warm = {"model": "tandem-speculative", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}
        requests.post(f"{g.url}/v1/chat/completions", json=warm, timeout=600).raise_for_status()  # as if it had been up a while
        yield g


def test_demo_screenshot(showcase, open_page):
    """The README's picture, from the real page and real models (written to docs/ only when asked)."""
    update = bool(os.environ.get("TANDEM_UPDATE_SCREENSHOT"))
    page = open_page(showcase.url, width=1100, height=1000, max_tokens=120 if update else 24)
    ask(page, "Write a Python one-liner that reverses a string, with one sentence of explanation.",
        "tandem-speculative")
    page.click("label:has(input[value=redact])")
    ask(page, "My email is jane.doe@example.com. Confirm it back to me in one short sentence.")
    path = shot(page, "demo.png")
    if update:
        shutil.copyfile(path, REPO / "docs" / "demo.png")


@pytest.fixture(scope="module")
def assistant():
    engine = AssistantEngine({
        "Tokyo": tool_call("get_time", timezone="Asia/Tokyo"),
        "Mars": tool_call("get_time", timezone="Mars/Olympus_Mons"),
        "as JSON": json.dumps(PROFILE),
        "fenced": 'Here it is:\n\n```json\n{"ok": true, "items": [1, 2]}\n```\n',
        "link": "[Tandem](https://example.com/tandem) runs on your device.",
    })
    with LiveGateway(engine, ["cloud.offline=true"]) as g:
        yield g


def answered(page, box, rounds: int):
    expect(page.locator("#send")).to_have_text("Send", timeout=30_000)
    assert box.locator(".err").count() == 0, box.inner_text()
    expect(box.locator(".trace:not(.live) .badge")).to_have_count(rounds)
    return box


# -- tool calls and JSON answers, with a scripted assistant ------------------------------------------------------
def test_a_tool_call_is_a_block_the_page_runs_and_the_answer_uses_its_result(assistant, open_page):
    engine = assistant.engine
    page = open_page(assistant.url, max_tokens=200)
    page.check("#tools")
    box = answered(page, send(page, "What time is it in Tokyo?", "tandem-device"), rounds=2)
    call = box.locator(".toolcall")
    expect(call).to_have_count(1)
    expect(call.locator(".fn")).to_have_text("get_time")
    assert call.locator("pre").inner_text() == '{\n  "timezone": "Asia/Tokyo"\n}'  # pretty-printed arguments
    expect(call.locator(".by")).to_have_text("by the device")
    result = call.locator(".result").inner_text()
    assert re.search(r"run in this page\)\s*" + TIME_RESULT, result), result  # Intl.DateTimeFormat, in the browser
    final = box.locator(".part").nth(1).locator(".answer")
    expect(final).to_contain_text("The tool says:")
    assert re.search(TIME_RESULT, final.inner_text())  # the second request carried the result
    assert box.locator(".part").first.locator(".answer").inner_text() == ""  # the first answer was the call alone
    assert engine.offered[-1] == ["get_time"]
    user, called, tool = engine.seen[-1][-3:]
    assert user == {"role": "user", "content": "What time is it in Tokyo?"}
    [sent] = called["tool_calls"]
    assert called["role"] == "assistant" and not called["content"] and sent["id"].startswith("call_")
    assert sent["function"] == {"name": "get_time", "arguments": {"timezone": "Asia/Tokyo"}}
    assert tool["role"] == "tool" and tool["tool_call_id"] == sent["id"] and re.fullmatch(TIME_RESULT, tool["content"])
    shot(page, "tool-call.png")

    # a zone that does not exist: the error is the tool's result, shown as one, and the model is told
    bad = answered(page, send(page, "And on Mars?"), rounds=2)
    expect(bad.locator(".toolcall .result.failed")).to_contain_text("unknown time zone 'Mars/Olympus_Mons'")
    expect(bad.locator(".part").nth(1).locator(".answer")).to_contain_text("The tool says: error: unknown time zone")
    assert [m["role"] for m in engine.seen[-1]] == ["user", "assistant", "tool", "assistant",
                                                    "user", "assistant", "tool"]  # the whole exchange, kept

    # tools off: none offered, no call
    page.uncheck("#tools")
    plain = answered(page, send(page, "What time is it in Tokyo now?"), rounds=1)
    expect(plain.locator(".answer")).to_have_text("Noted.")
    assert plain.locator(".toolcall").count() == 0 and engine.offered[-1] == []


def test_a_json_answer_renders_as_code(assistant, open_page):
    page = open_page(assistant.url, max_tokens=300)
    box = answered(page, send(page, "Describe Ada Lovelace as JSON", "tandem-device"), rounds=1)
    code = box.locator(".answer .code pre code")
    expect(code).to_have_count(1)
    assert code.inner_text().rstrip("\n") == json.dumps(PROFILE, indent=2)  # laid out one member a line
    expect(box.locator(".answer .code .bar")).to_contain_text("json")
    assert box.locator(".answer code .o-device").count() > 0  # still tinted by who wrote it
    shot(page, "json-answer.png")

    fenced = answered(page, send(page, "the fenced one"), rounds=1)
    expect(fenced.locator(".answer p").first).to_have_text("Here it is:")
    expect(fenced.locator(".answer .code .bar")).to_contain_text("json")
    assert json.loads(fenced.locator(".answer pre code").inner_text()) == {"ok": True, "items": [1, 2]}

    link = answered(page, send(page, "a link please"), rounds=1)  # starts with "[", but Markdown, not JSON
    assert link.locator(".answer .code").count() == 0
    expect(link.locator(".answer a")).to_have_text("Tandem")


# -- with a scripted cloud ---------------------------------------------------------------------------------------
def test_a_code_answer_renders_as_a_code_block_with_copy(scripted, open_page):
    page = open_page(scripted.url)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    box = ask(page, "show me some code", "tandem-cloud")
    code = box.locator(".answer pre code")
    expect(code).to_contain_text("def add(a: int, b: int) -> int:")
    assert "mono" in code.evaluate("e => getComputedStyle(e).fontFamily").lower()
    expect(box.locator(".answer .code .bar")).to_contain_text("python")
    expect(box.locator(".answer h2")).to_have_text("Usage")
    expect(box.locator(".answer li")).to_have_count(2)
    expect(box.locator(".answer li code")).to_have_text("add(2, 3)")
    expect(box.locator(".answer strong")).to_have_text("5")
    assert box.locator(".answer code .o-cloud").count() > 0  # tinted inside the code too
    box.locator(".copy").click()
    expect(box.locator(".copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == code.inner_text()
    shot(page, "code.png")


def test_html_in_an_answer_is_shown_as_text_not_run(scripted, open_page):
    page = open_page(scripted.url)
    box = ask(page, "answer with some html", "tandem-cloud")
    text = box.locator(".answer").inner_text()
    assert "<script>window.__pwned = 1</script>" in text and 'onerror="window.__pwned = 2"' in text
    assert box.locator(".answer script, .answer img, .answer [onerror]").count() == 0
    link = box.locator(".answer a")
    assert (link.get_attribute("href") or "").startswith("javascript") is False
    link.click()
    page.wait_for_timeout(200)
    assert page.evaluate("window.__pwned") is None
    shot(page, "html-as-text.png")


def test_phone_width_390(scripted, open_page):
    page = open_page(scripted.url, width=390, height=844)
    box = ask(page, "show me some code", "tandem-cloud")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing widens the page
    pre = box.locator(".answer pre")
    assert pre.evaluate("e => e.scrollWidth > e.clientWidth")  # the long line scrolls inside its block
    for sel in ("#text", "#send", "#mode", "#offline", "label:has(input[value=private])"):
        b = page.locator(sel).bounding_box()
        assert b and b["x"] >= 0 and b["x"] + b["width"] <= 390, (sel, b)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    shot(page, "phone-390.png")


def test_stop_cancels_the_answer_and_the_gateway_stops_generating(scripted, open_page):
    page = open_page(scripted.url, max_tokens=1000)
    cloud = scripted.scripted_cloud
    cut_before = cloud.disconnects
    box = send(page, "tell me a story", "tandem-cloud")
    expect(box.locator(".answer")).to_contain_text("Once upon a time")
    expect(page.locator("#send")).to_have_text("Stop")
    page.click("#send")
    expect(box.locator(".pill.stopped")).to_have_text("stopped by you")
    expect(page.locator("#send")).to_have_text("Send")
    assert len(box.locator(".answer").inner_text()) < len(SLOW) // 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (cloud.disconnects == cut_before or scripted.app[STATE]["inflight"]):
        time.sleep(0.1)
    assert cloud.disconnects == cut_before + 1  # the gateway dropped its cloud request when the page went away
    assert scripted.app[STATE]["inflight"] == 0
    after = ask(page, "show me some code")  # the conversation goes on
    expect(after.locator(".answer pre code")).to_contain_text("def add")
    box = send(page, "another story")  # Esc stops too
    expect(box.locator(".answer")).to_contain_text("Once upon a time")
    page.keyboard.press("Escape")
    expect(box.locator(".pill.stopped")).to_have_text("stopped by you")
