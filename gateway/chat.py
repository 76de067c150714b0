"""Terminal chat over a running gateway's OpenAI API, streaming, tinted by who produced each piece.

    tandem chat                       # interactive, multi-turn; /help lists the commands
    tandem chat "What is a monad?"    # one shot
    tandem chat --device-only "hi"    # no gateway: the device model in-process

In the interactive chat: ``/mode device|cloud|cascade|speculative|auto``, ``/privacy
public|redact|private``, ``/offline`` (treat the cloud as unavailable, the device carries
on), ``/tools on|off`` (offer the model two tools this chat runs locally: ``get_time`` and
``calculate``), ``/trace`` (the last answer's full route trace), ``/quit``. Ctrl-C stops the answer
being streamed (the gateway cancels its generation) and keeps the chat; Ctrl-D leaves.
Text drafted by the device and kept is green, text the cloud produced is blue (the
``tandem_origin`` field of each streamed chunk). A tool call the model makes is shown as such
(``⚙ get_time({"timezone": "Asia/Tokyo"})``) and kept in the history as the assistant's
``tool_calls``; with tools on, the chat runs it, shows its result, sends it back as a ``tool``
message and asks again for the answer (a few rounds at most).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from rich.console import Console
from rich.text import Text

from gateway.chat_tools import TOOLS, run_tool
from routers.policy import MODES

PRIVACY = ("public", "redact", "private")
ORIGIN_STYLE = {"device": "green", "cloud": "bright_blue"}
TOOL_STYLE = "dim"
MAX_TOOL_ROUNDS = 4  # answers that call tools, per question, before the chat stops asking
HELP = ("/mode [auto|device|cloud|cascade|speculative]   who answers\n"
        "/privacy [public|redact|private]                  how personal data is treated\n"
        "/offline [on|off]                                 "
        "treat the cloud as unavailable (the device carries on)\n"
        "/tools [on|off]                                   "
        "offer the model get_time and calculate (run here, on this machine)\n"
        "/trace                                            the last answer's route trace\n"
        "/quit                                             leave (or Ctrl-D); Ctrl-C stops an answer")


@dataclass
class ChatState:
    """What the user has set with slash commands, and what the last answer reported."""

    model: str
    privacy: str | None = None
    offline: bool = False
    tools: bool = False
    history: list[dict] = field(default_factory=list)
    last_trace: dict | None = None


def request_body(state: ChatState, args: argparse.Namespace) -> dict:
    body: dict = {"model": state.model, "messages": state.history, "stream": True,
                  "max_tokens": args.max_tokens, "temperature": args.temperature}
    metadata = {}
    if state.privacy:
        metadata["privacy"] = state.privacy
    if state.offline:
        metadata["offline"] = "true"
    if metadata:
        body["metadata"] = metadata
    if state.tools:
        body["tools"] = TOOLS
    return body


async def ask(session: aiohttp.ClientSession, args: argparse.Namespace, state: ChatState, console: Console,
              said: list[str], calls: list[dict] | None = None) -> dict | None:
    """Stream one answer to the console as it arrives; the pieces go to ``said``, the tool calls it makes to
    ``calls`` (each shown on a line of its own once the answer is complete); returns the route trace."""
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    trace, origin = None, ""
    calls = [] if calls is None else calls
    async with session.post(f"{args.url}/v1/chat/completions", json=request_body(state, args),
                            headers=headers) as resp:
        if resp.status != 200:
            try:
                err = (await resp.json(content_type=None)).get("error", {})
            except (ValueError, aiohttp.ContentTypeError):
                err = {}
            hint = " (/tools off asks without them)" if state.tools and err.get("param") == "tools" else ""
            raise RuntimeError(f"HTTP {resp.status}: {err.get('message') or resp.reason}{hint}")
        async for line in resp.content:
            line = line.strip()
            if not line.startswith(b"data:") or line == b"data: [DONE]":
                continue
            event = json.loads(line[5:])
            trace = event.get("tandem") or trace
            # a flushed tail has no origin: it continues the last piece
            origin = event.get("tandem_origin") or origin
            for choice in event.get("choices", []):
                delta = choice.get("delta") or {}
                piece = delta.get("content") or ""
                if piece:
                    said.append(piece)
                    console.print(piece, style=ORIGIN_STYLE.get(origin, ""), end="", markup=False,
                                  highlight=False, soft_wrap=True)
                add_call_deltas(calls, delta.get("tool_calls") or [])
    if said or not calls:
        console.print()
    for call in calls:
        console.print(call_line(call), style=TOOL_STYLE, markup=False, highlight=False, soft_wrap=True)
    if trace:
        console.print(route_line(trace), style="dim", markup=False, highlight=False, soft_wrap=True)
    return trace


def add_call_deltas(calls: list[dict], deltas: list[dict]) -> None:
    """Assemble streamed tool calls as OpenAI streams them: a delta naming the call (index, id, type,
    function.name), then deltas appending to its ``function.arguments``."""
    for d in deltas:
        i = d.get("index", len(calls))
        while len(calls) <= i:
            calls.append({"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        call, fn = calls[i], d.get("function") or {}
        call["id"] = d.get("id") or call["id"]
        call["function"]["name"] = fn.get("name") or call["function"]["name"]
        call["function"]["arguments"] += fn.get("arguments") or ""


def call_line(call: dict) -> str:
    """``⚙ get_time({"timezone": "Asia/Tokyo"})``: the function and its arguments, as JSON on one line."""
    fn = call["function"]
    try:
        args = json.dumps(json.loads(fn["arguments"] or "{}"), ensure_ascii=False)
    except ValueError:
        args = fn["arguments"]
    return f"⚙ {fn['name']}({args})"


def route_line(t: dict) -> str:
    parts = [t["mode"], t.get("reason") or ""]
    if t.get("degraded"):
        parts.append(f"DEGRADED: {t.get('degraded_reason') or 'cloud failed'}")
    if t.get("privacy", "public") != "public" or t.get("pii"):
        pii = ", ".join(f"{k.lower()}×{n}" for k, n in (t.get("pii") or {}).items())
        done = "kept on the device" if t.get("privacy") == "private" else f"{t.get('redactions', 0)} redacted"
        parts.append(f"privacy {t.get('privacy')}" + (f" ({pii}, {done})" if pii else ""))
    parts.append(f"device {t['device_tokens']} / cloud {t['cloud_tokens']} tokens")
    if t.get("drafts_proposed"):
        parts.append(f"drafted {t['drafts_proposed']}, accepted {t['drafts_accepted']}")
    calls = t.get("cloud_calls", 0)
    parts.append(f"{calls} cloud call{'' if calls == 1 else 's'}")
    timings = t.get("timings_ms") or {}
    if "first_token" in timings:
        parts.append(f"first token {timings['first_token']:.0f} ms")
    parts.append(f"{timings.get('done', 0):.0f} ms")
    return "[" + " · ".join(p for p in parts if p) + "]"


def command(line: str, state: ChatState, console: Console) -> bool:
    """A slash command; returns False when the chat should end."""
    name, _, arg = line.strip().partition(" ")
    arg = arg.strip().lower()
    if name in ("/quit", "/exit"):
        return False
    if name == "/mode":
        if arg and arg.removeprefix("tandem-") not in MODES:
            console.print(f"unknown mode {arg!r}; one of {', '.join(MODES)}", style="red", markup=False)
        elif arg:
            state.model = "tandem-" + arg.removeprefix("tandem-")
        console.print(f"mode: {state.model.removeprefix('tandem-')}", style="dim", markup=False)
    elif name == "/privacy":
        if arg and arg not in PRIVACY:
            console.print(f"unknown privacy level {arg!r}; one of {', '.join(PRIVACY)}", style="red",
                          markup=False)
        elif arg:
            state.privacy = arg
        console.print(f"privacy: {state.privacy or 'detect (default)'}", style="dim", markup=False)
    elif name == "/offline":
        state.offline = (arg in ("on", "1", "true")) if arg else not state.offline
        console.print("cloud: offline (your switch) — the device answers" if state.offline
                      else "cloud: as available", style="dim", markup=False)
    elif name == "/tools":
        state.tools = (arg in ("on", "1", "true")) if arg else not state.tools
        console.print("tools: on — the model may call get_time(timezone) and calculate(expression); they run "
                      "here" if state.tools else "tools: off", style="dim", markup=False, highlight=False)
    elif name == "/trace":
        if state.last_trace is None:
            console.print("no answer yet", style="dim")
        else:
            console.print_json(data=state.last_trace)
    elif name == "/help":
        console.print(HELP, markup=False, highlight=False)
    else:
        console.print(f"unknown command {name}; /help lists them", style="red", markup=False)
    return True


def legend() -> Text:
    return Text.assemble("tinted by origin: ", ("device (drafted, kept)", ORIGIN_STYLE["device"]), " · ",
                         ("cloud", ORIGIN_STYLE["cloud"]))


async def turn(session: aiohttp.ClientSession, args: argparse.Namespace, state: ChatState, console: Console,
               said: list[str]) -> None:
    """One question answered, into the history: while the answer calls tools, each call goes into the history
    as the assistant's ``tool_calls``, runs here and its result goes back as a ``tool`` message, and the
    model is asked again (the two-step agent loop, bounded)."""
    for round_ in range(MAX_TOOL_ROUNDS + 1):
        if round_:
            console.print("tandem> ", end="", style="bold", highlight=False)
        calls: list[dict] = []
        said.clear()
        state.last_trace = await ask(session, args, state, console, said, calls) or state.last_trace
        if not calls:
            state.history.append({"role": "assistant", "content": "".join(said)})
            return
        state.history.append({"role": "assistant", "content": "".join(said) or None, "tool_calls": calls})
        said.clear()
        for call in calls:
            fn = call["function"]
            result = run_tool(fn["name"], fn["arguments"]) if state.tools else "error: tools are off"
            console.print(f"  ↳ {fn['name']}: {result}", style=TOOL_STYLE, markup=False, highlight=False,
                          soft_wrap=True)
            state.history.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    console.print(f"[{MAX_TOOL_ROUNDS + 1} answers in a row called tools: stopped asking]", style="yellow",
                  markup=False)


def chat_loop(args: argparse.Namespace, console: Console) -> int:
    """One event loop for the whole chat; input() runs outside it, so Ctrl-C there never kills an answer."""
    claim_ctrl_c()
    state = ChatState(model=args.model, privacy=args.privacy, tools=getattr(args, "tools", False))
    with asyncio.Runner() as runner:
        session = runner.run(_session())
        try:
            if args.message:
                state.history.append({"role": "user", "content": " ".join(args.message)})
                runner.run(turn(session, args, state, console, []))
                return 0
            console.print(f"Tandem chat on {args.url} — /help for commands, Ctrl-C stops an answer, "
                          "Ctrl-D leaves", markup=False, highlight=False, soft_wrap=True)
            console.print(legend())
            return _interactive(runner, session, args, state, console)
        finally:
            runner.run(session.close())


def claim_ctrl_c() -> None:
    """Make Ctrl-C the chat's stop key on a terminal, even when the launcher ignored SIGINT (a background
    job of a non-interactive shell starts so, and exec keeps it): asyncio.Runner only turns SIGINT into
    cancelling the answer when Python's default handler is in place."""
    if sys.stdin.isatty() and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))


def _interactive(runner: asyncio.Runner, session: aiohttp.ClientSession, args: argparse.Namespace,
                 state: ChatState, console: Console) -> int:
    try:
        import readline  # noqa: F401 — line editing and history for input()
    except ImportError:
        pass
    while True:
        try:
            line = input("you> ")
        except EOFError:
            console.print()
            return 0
        except KeyboardInterrupt:
            console.print("\n(Ctrl-D or /quit leaves)", style="dim")
            continue
        if not line.strip():
            continue
        if line.lstrip().startswith("/"):
            if not command(line, state, console):
                return 0
            continue
        start = len(state.history)
        state.history.append({"role": "user", "content": line})
        console.print("tandem> ", end="", style="bold", highlight=False)
        said: list[str] = []
        try:
            runner.run(turn(session, args, state, console, said))
        except KeyboardInterrupt:  # the runner cancelled the request: the gateway stops generating
            console.print("\n[stopped]", style="yellow", markup=False)
            if said:
                state.history.append({"role": "assistant", "content": "".join(said)})
            elif len(state.history) == start + 1:
                state.history.pop()  # stopped before a word: as if never asked (tool rounds done stay)
        except (TimeoutError, aiohttp.ClientError, RuntimeError) as exc:
            del state.history[start:]
            console.print(f"\nerror: {exc}", style="red", markup=False, highlight=False)


def device_only(args: argparse.Namespace) -> int:
    """The device model alone, in this process: no server, no cloud."""
    from device_runtime.engine import LlamaEngine, SamplingParams

    engine = LlamaEngine.load(args.device_model, pull=True)
    messages = [{"role": "user", "content": " ".join(args.message) or "Say hello."}]
    params = SamplingParams(max_tokens=args.max_tokens, temperature=args.temperature)
    for ev in engine.generate(engine.chat_tokens(messages), params):
        print(ev.text, end="", flush=True)
    print()
    return 0


def run_chat(args: argparse.Namespace, console: Any = None) -> int:
    if args.device_only:
        return device_only(args)
    console = console or Console(highlight=False)
    try:
        return chat_loop(args, console)
    except aiohttp.ClientConnectorError:
        print(f"no gateway at {args.url}: start one with `tandem serve`, or use --device-only",
              file=sys.stderr)
        return 1
    except RuntimeError as exc:  # one-shot: the gateway refused the request
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # one-shot answer stopped
        print(file=sys.stderr)
        return 130
