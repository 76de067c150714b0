"""What the gateway itself costs, on both of its paths, against going direct in the same run.

    python bench/gateway_load.py                 # or: tandem bench gateway
    python bench/gateway_load.py --requests 300 --paths cloud

Three processes on this machine: the load generator (this one), the gateway — the real
``tandem serve --device-model fake --cloud-url …`` (routing, privacy scan, queue, SSE, the
cloud client), and a zero-cost upstream (``--upstream``: a tiny HTTP/1.1 server on asyncio
answering chat completions instantly in OpenAI's format, streaming and not, from bytes built
once).

* **device** (model ``tandem-device``): the gateway over a zero-cost engine
  (``device_runtime/fake.py``). Direct = the fake engine's own time for the same tokens
  (measured here, ~µs), so what is added is everything the gateway does, HTTP included.
* **cloud** (model ``tandem-cloud``): pass-through to the zero-cost upstream. Direct = the
  same requests sent straight to the upstream, by the same client, in the same run.

Each path runs non-streaming and streaming chat completions of ``--max-tokens`` tokens at
1, 16 and 64 concurrent clients, in rounds (gateway and direct taking turns; each number is
the median over the rounds). Added latency at one client = the gateway's latency percentile
minus direct's. At high concurrency device requests still take turns on the
one device context, so their latency includes queueing: that is what a client would see.

The load generator is a minimal HTTP/1.1 keep-alive client (one connection per simulated
client, requests built once, bodies read by Content-Length or chunk by chunk), so that on
a small machine its own CPU does not decide the result; the same client drives both the
gateway and direct.

Writes bench/results/gateway_load.{json,md,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, machine, now_iso, percentile, write_results  # noqa: E402
from device_runtime.engine import SamplingParams  # noqa: E402
from device_runtime.fake import FakeEngine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = (1, 16, 64)
MESSAGES = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Give me a one-line summary of the plot of Hamlet, please."}]
GOALS = {"p50_added_ms": 0.5, "p99_added_ms": 2.0, "rps_c64": 1500.0}


# -- the zero-cost upstream (its own process) ------------------------------------------------------
def upstream_bodies(n_tokens: int) -> tuple[bytes, bytes]:
    """An instant chat completion of ``n_tokens`` pieces: the JSON answer and the SSE stream."""
    pieces = [w + " " for w in ("The quick brown fox jumps over the lazy dog " * n_tokens).split()[:n_tokens]]
    head = {"id": "chatcmpl-upstream", "created": 1700000000, "model": "cloud"}
    usage = {"prompt_tokens": 30, "completion_tokens": n_tokens, "total_tokens": 30 + n_tokens}
    whole = {**head, "object": "chat.completion", "usage": usage, "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "".join(pieces)}, "logprobs": None,
         "finish_reason": "length"}]}
    chunk = {**head, "object": "chat.completion.chunk"}
    events = [{**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                     "logprobs": None, "finish_reason": None}]}]
    events += [{**chunk, "choices": [{"index": 0, "delta": {"content": p}, "logprobs": None,
                                      "finish_reason": None}]} for p in pieces]
    events += [{**chunk, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}]},
               {**chunk, "choices": [], "usage": usage}]
    sse = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    return json.dumps(whole).encode(), sse


def serve_upstream(port: int, n_tokens: int) -> None:
    """Answer chat completions instantly: HTTP/1.1 keep-alive straight on asyncio, every answer built once.

    ``/tokenize`` says "another tokenizer" (as a stock vLLM serving a different model would), so
    the gateway checks once and never speculates; ``/v1/tandem/info`` is a 404, as on vLLM.
    """
    whole, sse = upstream_bodies(n_tokens)

    def reply(status: str, body: bytes, ctype: str = "application/json") -> bytes:
        return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
                .encode() + body)

    routes = {(b"GET", b"/health"): reply("200 OK", b"ok", "text/plain"),
              (b"POST", b"/tokenize"): reply("200 OK", b'{"tokens": []}')}
    streaming, plain = reply("200 OK", sse, "text/event-stream"), reply("200 OK", whole)
    missing = reply("404 Not Found", b'{"error": {"message": "not found"}}')

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path = head.split(b" ", 2)[:2]
                i = head.lower().find(b"content-length:")
                body = await reader.readexactly(int(head[i + 15:head.index(b"\r\n", i)])) if i >= 0 else b""
                if path == b"/v1/chat/completions":
                    stream = b'"stream": true' in body or b'"stream":true' in body
                    writer.write(streaming if stream else plain)
                else:
                    writer.write(routes.get((method, path), missing))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(connection, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- the load generator ----------------------------------------------------------------------------
def request_bytes(port: int, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
    return head.encode() + payload


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response on a keep-alive connection: its status and its whole body."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    i = lower.find(b"content-length:")
    if i >= 0:
        n = int(head[i + 15:head.index(b"\r\n", i)])
        return status, await reader.readexactly(n)
    if b"transfer-encoding: chunked" not in lower:
        raise RuntimeError(f"response without a length: {head!r}")
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, b"".join(parts)
        parts.append((await reader.readexactly(size + 2))[:-2])


async def drive(port: int, raw: bytes, concurrency: int, n_requests: int, stream: bool) -> dict:
    """``n_requests`` requests over ``concurrency`` keep-alive connections; each latency in seconds."""
    latencies: list[float] = []
    errors = 0
    left = n_requests

    async def client() -> None:
        nonlocal errors, left
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while left > 0:
                left -= 1
                t0 = time.perf_counter()
                writer.write(raw)
                status, body = await read_response(reader)
                t1 = time.perf_counter()
                ok = status == 200 and (body.endswith(b"data: [DONE]\n\n") if stream else body.endswith(b"}"))
                if ok:
                    latencies.append(t1 - t0)
                else:
                    errors += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return {"latencies": latencies, "wall": time.perf_counter() - t0, "errors": errors}


def stats(r: dict) -> dict[str, Any]:
    ms = [lat * 1000 for lat in r["latencies"]]
    return {"rps": round(len(ms) / r["wall"], 1), "p50_ms": round(percentile(ms, 50), 3),
            "p99_ms": round(percentile(ms, 99), 3), "requests": len(ms), "errors": r["errors"]}


def scan_cost_s(repeat: int = 20) -> float:
    """The privacy scan of the bench's messages when the gateway has not seen them (its memo bypassed)."""
    from gateway.privacy.policy import PrivacyRouter

    router = PrivacyRouter()
    texts = [m["content"] for m in MESSAGES]
    router.detector.find("Warm up, Ada Lovelace.")  # the models load and run once
    t0 = time.perf_counter()
    for _ in range(repeat):
        for text in texts:
            router.detector.find(text)
    return (time.perf_counter() - t0) / repeat


def engine_cost_s(max_tokens: int, repeat: int = 200) -> float:
    engine = FakeEngine()
    prompt = engine.chat_tokens(MESSAGES)
    t0 = time.perf_counter()
    for _ in range(repeat):
        for _ in engine.generate(prompt, SamplingParams(max_tokens=max_tokens)):
            pass
    return (time.perf_counter() - t0) / repeat


# -- processes -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


async def wait_up(port: int, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    raw = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            status, _ = await read_response(reader)
            writer.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} within {timeout:g} s")


# -- the run ---------------------------------------------------------------------------------------
def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number's median over the rounds (a machine shared with other work is noisy), the rounds kept."""
    out = {k: round(statistics.median(r[k] for r in rounds), 1 if k == "rps" else 3)
           for k in ("rps", "p50_ms", "p99_ms")}
    return {**out, "requests": sum(r["requests"] for r in rounds), "errors": sum(r["errors"] for r in rounds),
            "rounds": [{k: r[k] for k in ("rps", "p50_ms", "p99_ms")} for r in rounds]}


def run_path(path: str, gateway: int, upstream: int, args: argparse.Namespace, cost: float) -> dict:
    """One path, non-streaming then streaming, each concurrency: the gateway and its direct baseline,
    taking turns for ``args.rounds`` rounds."""
    out: dict[str, Any] = {}
    for stream in (False, True):
        body = {"model": f"tandem-{path}", "messages": MESSAGES, "max_tokens": args.max_tokens,
                "temperature": 0, "stream": stream}
        via = request_bytes(gateway, body)
        direct = request_bytes(upstream, {**body, "model": "cloud"})
        asyncio.run(drive(gateway, via, 4, 100, stream))  # warm-up
        if path == "cloud":
            asyncio.run(drive(upstream, direct, 4, 100, stream))
        table: dict[str, Any] = {}
        for c in CONCURRENCY:
            n = max(args.requests, 8 * c)
            directs, gateways = [], []
            for _ in range(args.rounds):
                if path == "cloud":
                    directs.append(stats(asyncio.run(drive(upstream, direct, c, n, stream))))
                gateways.append(stats(asyncio.run(drive(gateway, via, c, n, stream))))
            row: dict[str, Any] = {"gateway": median_of(gateways)}
            if path == "cloud":
                row["direct"] = median_of(directs)
            else:
                row["direct"] = {"p50_ms": round(cost * 1000, 4), "p99_ms": round(cost * 1000, 4),
                                 "rps": None, "note": "the fake engine's own time for the same tokens"}
            row["added_p50_ms"] = round(row["gateway"]["p50_ms"] - row["direct"]["p50_ms"], 3)
            row["added_p99_ms"] = round(row["gateway"]["p99_ms"] - row["direct"]["p99_ms"], 3)
            table[f"c{c}"] = row
            brief = {k: row[side][k] for side in ("gateway",) for k in ("rps", "p50_ms", "p99_ms")}
            print(f"{path:6} {'stream' if stream else 'json  '} c={c:3d}: gateway {brief}  "
                  f"direct {row['direct']['rps']} req/s, p50 {row['direct']['p50_ms']} ms", flush=True)
        out["stream" if stream else "json"] = table
    return out


def verdict(paths: dict) -> dict[str, Any]:
    """Each goal, per path and form: the number and whether it is met."""
    goals: dict[str, Any] = {}
    for path, forms in paths.items():
        for form, table in forms.items():
            c1, c64 = table["c1"], table["c64"]
            goals[f"{path}/{form}"] = {
                "p50_added_ms": c1["added_p50_ms"], "p50_met": c1["added_p50_ms"] <= GOALS["p50_added_ms"],
                "p99_added_ms": c1["added_p99_ms"], "p99_met": c1["added_p99_ms"] <= GOALS["p99_added_ms"],
                "rps_c64": c64["gateway"]["rps"], "rps_met": c64["gateway"]["rps"] >= GOALS["rps_c64"],
            }
    return goals


def markdown(data: dict) -> str:
    yes = {True: "**met**", False: "not met"}
    lines = ["# Gateway load: what the gateway adds, device and cloud paths", "",
             f"Chat completions of {data['max_tokens']} tokens, non-streaming (json) and streaming. "
             "**device**: `tandem-device` over a zero-cost engine; direct = the engine's own time "
             f"({data['engine_cost_ms']} ms). **cloud**: `tandem-cloud` passed through to a zero-cost "
             "upstream; direct = the same requests straight to that upstream. Added = the gateway's "
             f"latency percentile minus direct's, at one client; each number is the median of "
             f"{data['rounds']} rounds, gateway and direct taking turns. Goals: p50 ≤ "
             f"{GOALS['p50_added_ms']} ms and p99 ≤ {GOALS['p99_added_ms']} ms added at one client, "
             f"≥ {GOALS['rps_c64']:,.0f} req/s at 64 clients. Every request repeats one prompt, whose "
             "privacy scan the gateway remembers after the first; a prompt it has not seen costs "
             f"{data['unseen_prompt_scan_ms']} ms more (its scan, mostly the people detector's NER).", "",
             "| path | form | p50 added ms | p99 added ms | req/s @64 | p50 goal | p99 goal | req/s goal |",
             "|---|---|---|---|---|---|---|---|"]
    for key, g in data["goals"].items():
        path, form = key.split("/")
        lines.append(f"| {path} | {form} | {g['p50_added_ms']} | {g['p99_added_ms']} | {g['rps_c64']} | "
                     f"{yes[g['p50_met']]} | {yes[g['p99_met']]} | {yes[g['rps_met']]} |")
    lines += ["", "All levels (latency in ms, as the client sees it):", "",
              "| path | form | clients | gateway req/s | gateway p50 | gateway p99 | direct req/s | "
              "direct p50 | direct p99 |", "|---|---|---|---|---|---|---|---|---|"]
    for path, forms in data["paths"].items():
        for form, table in forms.items():
            for c, row in table.items():
                g, d = row["gateway"], row["direct"]
                lines.append(f"| {path} | {form} | {c[1:]} | {g['rps']} | {g['p50_ms']} | {g['p99_ms']} | "
                             f"{d['rps'] if d['rps'] is not None else '—'} | {d['p50_ms']} | {d['p99_ms']} |")
    lines += ["", data["notes"], "", "![gateway load](gateway_load.png)"]
    return "\n".join(lines) + "\n"


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    keys = list(data["goals"])
    xs = range(len(keys))
    a1.bar([x - 0.2 for x in xs], [data["goals"][k]["p50_added_ms"] for k in keys], 0.4, label="p50 added")
    a1.bar([x + 0.2 for x in xs], [data["goals"][k]["p99_added_ms"] for k in keys], 0.4, label="p99 added")
    a1.axhline(GOALS["p50_added_ms"], color="C0", ls="--", lw=1, label="p50 goal")
    a1.axhline(GOALS["p99_added_ms"], color="C1", ls="--", lw=1, label="p99 goal")
    a1.set_xticks(list(xs), keys)
    a1.set_ylabel("ms added over direct, 1 client")
    a1.set_title("What the gateway adds")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3, axis="y")
    for (p, forms), color in zip(data["paths"].items(), ("C2", "C3")):
        for form, table in forms.items():
            ls = "-" if form == "json" else ":"
            cs = [int(c[1:]) for c in table]
            a2.plot(cs, [r["gateway"]["rps"] for r in table.values()], "o" + ls, color=color,
                    label=f"{p} via gateway ({form})")
            if p == "cloud":
                a2.plot(cs, [r["direct"]["rps"] for r in table.values()], "s" + ls, color="C7",
                        label=f"upstream direct ({form})")
    a2.axhline(GOALS["rps_c64"], color="k", ls="--", lw=1, label="goal at 64 clients")
    a2.set_xscale("log", base=2)
    a2.set_yscale("log")
    a2.set_xlabel("concurrent clients")
    a2.set_ylabel("requests / s")
    a2.set_title("Throughput over zero-cost producers")
    a2.legend(fontsize=7)
    a2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=800, help="requests per level, form and round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per level (medians are reported)")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--paths", default="device,cloud", help="device, cloud or both")
    ap.add_argument("--no-write", action="store_true", help="print only (while iterating)")
    ap.add_argument("--name", default="gateway_load", help="results file name under bench/results")
    ap.add_argument("--upstream", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the upstream itself
    args = ap.parse_args()
    if args.upstream:
        serve_upstream(args.upstream, args.max_tokens)
        return 0

    cost = engine_cost_s(args.max_tokens)
    scan = scan_cost_s()
    upstream, gateway = free_port(), free_port()
    procs = [start([sys.executable, __file__, "--upstream", str(upstream),
                    "--max-tokens", str(args.max_tokens)])]
    procs.append(start([sys.executable, "-m", "gateway.cli", "serve", "--device-model", "fake", "--port",
                        str(gateway), "--cloud-url", f"http://127.0.0.1:{upstream}",
                        "--set", "server.max_queue=10000"]))
    paths: dict[str, Any] = {}
    try:
        asyncio.run(wait_up(upstream, "/health"))
        asyncio.run(wait_up(gateway, "/ready"))
        for path in args.paths.split(","):
            paths[path] = run_path(path, gateway, upstream, args, cost)
    finally:
        for proc in reversed(procs):
            stop(proc)

    data = {"goals": verdict(paths), "paths": paths, "max_tokens": args.max_tokens, "rounds": args.rounds,
            "engine_cost_ms": round(cost * 1000, 4), "unseen_prompt_scan_ms": round(scan * 1000, 3),
            "goal_thresholds": GOALS,
            "machine": machine(), "date": now_iso(),
            "notes": "Three processes on the same machine (load generator, gateway, zero-cost upstream), "
                     "sharing its cores. The device path's added latency includes the HTTP round trip "
                     "itself (its direct is the engine alone); the cloud path's direct is an HTTP server "
                     "too, so its added latency is the gateway's own work. Device requests take turns on "
                     "the one device context, so at 16 and 64 clients their latency includes queueing. Every "
                     "request sends the same messages: after the first, the gateway's privacy scan of them "
                     "comes from its memo (PrivacyRouter's ScanMemo); a prompt it has not seen costs "
                     f"{round(scan * 1000, 3)} ms more (its privacy scan, mostly the people detector's NER), "
                     "on both paths."}
    for key, g in data["goals"].items():
        print(f"{key:12} p50 +{g['p50_added_ms']} ms ({'met' if g['p50_met'] else 'not met'}), "
              f"p99 +{g['p99_added_ms']} ms ({'met' if g['p99_met'] else 'not met'}), "
              f"{g['rps_c64']} req/s at 64 ({'met' if g['rps_met'] else 'not met'})")
    if not args.no_write:
        write_results(args.name, data, markdown(data).replace("gateway_load.png", f"{args.name}.png"))
        plot(data, RESULTS / f"{args.name}.png")
        print(f"wrote {RESULTS / args.name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
