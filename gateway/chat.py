"""Terminal chat: talks to a running gateway over its OpenAI API, streaming, with the route shown.

    tandem chat                       # interactive; /mode device|cloud|cascade|speculative|auto, /quit
    tandem chat "What is a monad?"    # one shot
    tandem chat --device-only "hi"    # no gateway: the device model in-process
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import aiohttp

DIM, RESET = ("\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "")


async def ask(session: aiohttp.ClientSession, args: argparse.Namespace, history: list[dict]) -> str:
    body: dict = {"model": args.model, "messages": history, "stream": True, "max_tokens": args.max_tokens,
                  "temperature": args.temperature}
    if args.privacy:
        body["metadata"] = {"privacy": args.privacy}
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    answer, trace = [], None
    async with session.post(f"{args.url}/v1/chat/completions", json=body, headers=headers) as resp:
        if resp.status != 200:
            err = (await resp.json()).get("error", {})
            raise RuntimeError(f"HTTP {resp.status}: {err.get('message')}")
        async for line in resp.content:
            line = line.strip()
            if not line.startswith(b"data:") or line == b"data: [DONE]":
                continue
            event = json.loads(line[5:])
            trace = event.get("tandem") or trace
            for choice in event.get("choices", []):
                piece = (choice.get("delta") or {}).get("content") or ""
                answer.append(piece)
                print(piece, end="", flush=True)
    print()
    if trace:
        acc = trace.get("mean_acceptance_length")
        privacy = f" · privacy {trace['privacy']} {trace['pii'] or ''}" if trace["privacy"] != "public" else ""
        print(f"{DIM}[{trace['mode']} · {trace['reason']}{' · DEGRADED' if trace['degraded'] else ''}{privacy} · device "
              f"{trace['device_tokens']} / cloud {trace['cloud_tokens']} tokens"
              f"{f' · {acc:.2f} tokens/pass' if acc else ''} · {trace['timings_ms'].get('done', 0):.0f} ms]{RESET}")
    return "".join(answer)


async def chat_loop(args: argparse.Namespace) -> int:
    history: list[dict] = []
    async with aiohttp.ClientSession() as session:
        if args.message:
            history.append({"role": "user", "content": " ".join(args.message)})
            await ask(session, args, history)
            return 0
        print(f"Tandem chat on {args.url} — /mode NAME to switch (auto, device, cloud, cascade, speculative), "
              "/quit to leave")
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except (EOFError, KeyboardInterrupt):
                print()
                return 0
            if not line.strip():
                continue
            if line.strip() in ("/quit", "/exit"):
                return 0
            if line.startswith("/mode"):
                args.model = "tandem-" + (line.split()[1] if len(line.split()) > 1 else "auto")
                print(f"{DIM}model: {args.model}{RESET}")
                continue
            history.append({"role": "user", "content": line})
            print("tandem> ", end="", flush=True)
            try:
                history.append({"role": "assistant", "content": await ask(session, args, history)})
            except (aiohttp.ClientError, RuntimeError) as exc:
                history.pop()
                print(f"\nerror: {exc}")


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


def run_chat(args: argparse.Namespace) -> int:
    if args.device_only:
        return device_only(args)
    try:
        return asyncio.run(chat_loop(args))
    except aiohttp.ClientConnectorError:
        print(f"no gateway at {args.url}: start one with `tandem serve`, or use --device-only", file=sys.stderr)
        return 1
