"""``tandem chat`` in a real pseudo-terminal (pexpect), against a real gateway, as a person types it.

The device is the real SmolLM2; the cloud is scripted so that one answer streams slowly enough to be
stopped with Ctrl-C halfway. Tool calls: a scripted assistant on the device (no model) that calls
``get_time`` or ``calculate`` when asked, and answers with the tool's result once it has it.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from gateway.api.app import STATE
from gateway.testing.assistant_engine import AssistantEngine, tool_call
from gateway.testing.canned_cloud import CannedCloud
from gateway.testing.live import LiveGateway

pexpect = pytest.importorskip("pexpect", reason="pexpect is not installed (pip install -e '.[dev]')")

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
STORY = "Once upon a time, " + "the device and the cloud told a long story together. " * 40
GREEN, BRIGHT_BLUE = "\x1b[32m", "\x1b[94m"  # rich's styles for device and cloud text
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Screen:
    """What the terminal shows, read as it arrives; matched without colour codes (they split streamed words)."""

    def __init__(self, child):
        self.child = child
        self.raw = ""
        self.pos = 0  # where the next match may start in the plain text

    @property
    def plain(self) -> str:
        return ANSI.sub("", self.raw).replace("\r", "")

    def wait(self, pattern: str, timeout: float = 120) -> str:
        """Read until ``pattern`` (a regex) shows up past the last match; returns the raw output since then."""
        deadline = time.monotonic() + timeout
        start_raw = len(self.raw)
        while True:
            m = re.compile(pattern).search(self.plain, self.pos)
            if m:
                self.pos = m.end()
                return self.raw[start_raw:]
            if time.monotonic() > deadline or not self.child.isalive():
                raise AssertionError(f"{pattern!r} never showed; the screen ends with {self.plain[-1500:]!r}")
            try:
                self.raw += self.child.read_nonblocking(4096, timeout=0.1)
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                if not re.compile(pattern).search(self.plain, self.pos):
                    raise AssertionError(f"{pattern!r} never showed before exit: {self.plain[-1500:]!r}") from None

    def prompt(self) -> str:
        return self.wait(r"you> ")

    def send(self, line: str) -> None:
        self.child.sendline(line)


@pytest.fixture(scope="module")
def gw(smol_engine):
    cloud = CannedCloud(smol_engine, {"story": STORY}, slow={"story": 0.05})
    with LiveGateway(smol_engine, [], cloud_server=cloud) as g:
        g.scripted_cloud = cloud
        yield g


def spawn_chat(gw, preexec_fn=None, max_tokens: int = 16) -> Screen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"}
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(sys.executable, ["-m", "gateway.cli", "chat", "--url", gw.url, "--max-tokens", str(max_tokens)],
                          env=env, encoding="utf-8", dimensions=(40, 200), timeout=120, cwd=str(REPO),
                          preexec_fn=preexec_fn)
    screen = Screen(child)
    screen.prompt()
    return screen


@pytest.fixture
def chat(gw):
    screen = spawn_chat(gw)
    yield screen
    if screen.child.isalive():
        screen.child.terminate(force=True)


def test_chat_streams_switches_mode_shows_the_trace_and_survives_ctrl_c(gw, chat):
    chat.send("/mode device")
    chat.wait("mode: device")
    chat.prompt()

    chat.send("Name a fruit.")
    chat.wait("tandem> ")
    answer = chat.wait(r"\[device · requested · device \d+ / cloud 0 tokens · 0 cloud calls")
    assert GREEN in answer  # device text is tinted green
    chat.prompt()

    chat.send("/trace")
    chat.wait('"mode": "device"')
    chat.prompt()

    # a long cloud answer, streamed: its first words arrive long before its end; Ctrl-C stops it
    cloud = gw.scripted_cloud
    cut_before = cloud.disconnects
    chat.send("/mode cloud")
    chat.prompt()
    chat.send("Tell me a story.")
    assert BRIGHT_BLUE in chat.wait("Once upon a time")  # cloud text is tinted blue
    chat.wait("told a long story")  # more keeps arriving, and the answer is far from done
    chat.child.sendintr()
    chat.wait(r"\[stopped\]")
    chat.prompt()
    assert chat.child.isalive()
    assert chat.plain.count("told a long story") < 20
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (cloud.disconnects == cut_before or gw.app[STATE]["inflight"]):
        time.sleep(0.1)
    assert cloud.disconnects == cut_before + 1 and gw.app[STATE]["inflight"] == 0  # the gateway stopped too

    # the chat goes on
    chat.send("/mode device")
    chat.prompt()
    chat.send("Name a colour.")
    chat.wait(r"\[device · requested")
    chat.prompt()
    chat.send("/quit")
    chat.child.expect(pexpect.EOF)
    chat.child.close()
    assert chat.child.exitstatus == 0


def test_chat_offline_and_privacy_commands(gw, chat):
    chat.send("/offline")
    chat.wait(r"cloud: offline \(your switch\)")
    chat.prompt()
    chat.send("/mode speculative")
    chat.prompt()
    chat.send("Name a fruit.")
    chat.wait(r"\[device · cloud offline \(requested\) · DEGRADED: cloud offline \(requested\)")
    chat.prompt()
    chat.send("/offline off")
    chat.prompt()
    chat.send("/privacy private")
    chat.wait("privacy: private")
    chat.prompt()
    chat.send("My email is jane.doe@example.com, say hi.")
    chat.wait(r"\[device · private · privacy private \(email×1, kept on the device\)")
    chat.prompt()
    chat.send("/privacy nonsense")
    chat.wait("unknown privacy level")
    chat.prompt()
    chat.child.sendeof()
    chat.child.expect(pexpect.EOF)


def test_ctrl_c_stops_an_answer_even_when_the_launcher_ignored_sigint(gw):
    """A background job of a non-interactive shell (a CI step, a task runner) starts with SIGINT
    ignored, and exec keeps that: the chat on a terminal still makes Ctrl-C its stop key."""
    chat = spawn_chat(gw, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        chat.send("/mode cloud")
        chat.prompt()
        chat.send("Tell me a story.")
        chat.wait("told a long story")
        chat.child.sendintr()
        chat.wait(r"\[stopped\]", timeout=20)
        chat.prompt()
        assert chat.plain.count("told a long story") < 20
    finally:
        chat.child.terminate(force=True)


# -- tool calls ---------------------------------------------------------------------------------------------
TIME_RESULT = r"\w+day \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(UTC\+09:00, Asia/Tokyo\)"


@pytest.fixture(scope="module")
def assistant():
    engine = AssistantEngine({
        "Tokyo": tool_call("get_time", timezone="Asia/Tokyo"),
        "Mars": tool_call("get_time", timezone="Mars/Olympus_Mons"),
        "17 + 5": tool_call("calculate", expression="(17 + 5) * 3"),
        "huge": tool_call("calculate", expression="9 ** 9 ** 9"),
    })
    with LiveGateway(engine, ["cloud.offline=true"]) as g:
        yield g


@pytest.fixture
def tool_chat(assistant):
    screen = spawn_chat(assistant, max_tokens=200)
    yield screen
    if screen.child.isalive():
        screen.child.terminate(force=True)


def test_a_tool_call_is_shown_run_here_and_its_result_sent_back_for_the_answer(assistant, tool_chat):
    chat, engine = tool_chat, assistant.engine
    chat.send("/help")
    chat.wait(r"/tools \[on\|off\] +offer the model get_time and calculate")
    chat.prompt()
    chat.send("/tools on")
    chat.wait("tools: on")
    chat.prompt()
    chat.send("/mode device")
    chat.prompt()

    chat.send("What time is it in Tokyo?")
    chat.wait(r'tandem> ⚙ get_time\(\{"timezone": "Asia/Tokyo"\}\)\n')  # the call, as such, in the stream's place
    chat.wait(r"\[device · requested · device \d+ / cloud 0 tokens")  # that answer's route
    shown = re.escape("↳ get_time: ") + TIME_RESULT
    chat.wait(shown)  # the chat ran it here, and shows what it got
    chat.wait(r"tandem> The tool says: " + TIME_RESULT)  # asked again: the answer comes from the result
    chat.prompt()
    assert engine.offered[-1] == ["get_time", "calculate"]
    user, called, result = engine.seen[-1][-3:]  # what the second request carried
    assert user == {"role": "user", "content": "What time is it in Tokyo?"}
    assert called["role"] == "assistant" and not called["content"]
    [call] = called["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == "get_time" and call["function"]["arguments"] == {"timezone": "Asia/Tokyo"}
    assert result["role"] == "tool" and result["tool_call_id"] == call["id"]
    assert re.fullmatch(TIME_RESULT, result["content"])

    # the conversation keeps all of it: the next question's request starts with the whole first exchange
    chat.send("What is 17 + 5 times 3?")
    chat.wait(re.escape('⚙ calculate({"expression": "(17 + 5) * 3"})'))
    chat.wait("↳ calculate: 66\n")
    chat.wait("The tool says: 66")
    chat.prompt()
    history = engine.seen[-1]
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "assistant", "user", "assistant", "tool"]
    assert history[3]["content"].startswith("The tool says:")

    # a bad time zone or a refused expression: the error is the tool's result, and the chat goes on
    chat.send("And on Mars?")
    chat.wait(r"↳ get_time: error: unknown time zone 'Mars/Olympus_Mons': use an IANA name")
    chat.wait("The tool says: error: unknown time zone")
    chat.prompt()
    chat.send("Compute something huge")
    chat.wait(r"↳ calculate: error: exponent too large")
    chat.prompt()

    # tools off: none are offered, and no call is made
    chat.send("/tools off")
    chat.wait("tools: off")
    chat.prompt()
    chat.send("What time is it in Tokyo?")
    chat.wait("tandem> Noted.")
    chat.prompt()
    assert engine.offered[-1] == [] and "⚙" not in chat.plain[chat.plain.rindex("you> What time"):]
    chat.send("/quit")
    chat.child.expect(pexpect.EOF)


def test_one_shot_with_tools(assistant):
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    out = pexpect.run(f"{sys.executable} -m gateway.cli chat --url {assistant.url} --model tandem-device --tools "
                      "'What time is it in Tokyo?'", env=env, cwd=str(REPO), encoding="utf-8", timeout=60)
    plain = ANSI.sub("", out).replace("\r", "")
    assert '⚙ get_time({"timezone": "Asia/Tokyo"})' in plain and re.search("The tool says: " + TIME_RESULT, plain)
    assert assistant.engine.seen[-1][-1]["role"] == "tool"
