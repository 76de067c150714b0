"""What the gateway itself costs: requests/s and added latency over a zero-cost engine.

    python bench/gateway_load.py            # or: tandem bench gateway
    python bench/gateway_load.py --requests 300 --max-tokens 16

Starts ``tandem serve --device-model fake --offline`` (the real server, routing, privacy
scan, queue and SSE code, with an engine that produces tokens instantly) in its own
process, then drives it from this one with 1, 16 and 64 concurrent clients. Added latency
= request latency - the fake engine's own time for the same tokens (measured here, ~µs).
Requests still take turns on the one device context, so at high concurrency the added
latency includes queueing behind other requests: that is what a client would see.

Writes bench/results/gateway_load.{json,md,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, machine, now_iso, percentile, write_results  # noqa: E402
from device_runtime.engine import SamplingParams  # noqa: E402
from device_runtime.fake import FakeEngine  # noqa: E402

CONCURRENCY = (1, 16, 64)
MESSAGES = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Give me a one-line summary of the plot of Hamlet, please."}]


def engine_cost_s(max_tokens: int, repeat: int = 200) -> float:
    engine = FakeEngine()
    prompt = engine.chat_tokens(MESSAGES)
    t0 = time.perf_counter()
    for _ in range(repeat):
        for _ in engine.generate(prompt, SamplingParams(max_tokens=max_tokens)):
            pass
    return (time.perf_counter() - t0) / repeat


async def wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(url + "/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise RuntimeError("gateway did not start")


async def drive(url: str, concurrency: int, n_requests: int, max_tokens: int, stream: bool) -> dict:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n_requests):
        queue.put_nowait(i)
    body = {"model": "tandem-device", "messages": MESSAGES, "max_tokens": max_tokens, "temperature": 0,
            "stream": stream}
    connector = aiohttp.TCPConnector(limit=concurrency)

    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal errors
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                async with session.post(url + "/v1/chat/completions", json=body) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                        continue
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"latencies": latencies, "wall": wall, "errors": errors}


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cs = list(summary)
    xs = [int(c[1:]) for c in cs]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(xs, [summary[c]["p50_ms"] for c in cs], "o-", label="p50")
    a1.plot(xs, [summary[c]["p99_ms"] for c in cs], "s-", label="p99")
    a1.set_xscale("log", base=2)
    a1.set_xlabel("concurrent clients")
    a1.set_ylabel("added latency (ms)")
    a1.set_title("Gateway added latency")
    a1.legend()
    a1.grid(alpha=0.3)
    a2.bar([str(x) for x in xs], [summary[c]["rps"] for c in cs], color="#4C72B0")
    a2.set_xlabel("concurrent clients")
    a2.set_ylabel("requests / s")
    a2.set_title("Throughput over a zero-cost engine")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=400, help="requests per concurrency level")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()

    cost = engine_cost_s(args.max_tokens)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "gateway.cli", "serve", "--device-model", "fake", "--offline", "--port",
           str(args.port), "--set", "server.max_queue=10000"]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              cwd=Path(__file__).resolve().parent.parent, start_new_session=True)
    url = f"http://127.0.0.1:{args.port}"
    summary, streaming = {}, {}
    try:
        asyncio.run(wait_healthy(url))
        asyncio.run(drive(url, 4, 50, args.max_tokens, False))  # warm-up
        for c in CONCURRENCY:
            for stream, table in ((False, summary), (True, streaming)):
                r = asyncio.run(drive(url, c, max(args.requests, 4 * c), args.max_tokens, stream))
                added = [(lat - cost) * 1000 for lat in r["latencies"]]
                table[f"c{c}"] = {"rps": round(len(r["latencies"]) / r["wall"], 1),
                                  "p50_ms": round(percentile(added, 50), 2),
                                  "p99_ms": round(percentile(added, 99), 2),
                                  "requests": len(r["latencies"]), "errors": r["errors"]}
                print(f"c={c:3d} {'stream' if stream else 'json  '}: {table[f'c{c}']}", flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)

    data = {"summary": summary, "streaming": streaming, "max_tokens": args.max_tokens,
            "engine_cost_ms": round(cost * 1000, 4), "machine": machine(), "date": now_iso(),
            "notes": "gateway in its own process, load generator in this one, same 2-core machine; "
                     "added latency = latency - fake engine time; "
                     "includes queueing for the one device context"}
    rows = "\n".join(f"| {c[1:]} | {summary[c]['rps']} | {summary[c]['p50_ms']} | {summary[c]['p99_ms']} | "
                     f"{streaming[c]['rps']} | {streaming[c]['p50_ms']} | {streaming[c]['p99_ms']} |"
                     for c in summary)
    md = ("# Gateway load (zero-cost engine)\n\n"
          f"Non-streaming and streaming chat completions of {args.max_tokens} tokens; latency is what the "
          "gateway adds over the engine.\n\n"
          "| clients | rps | p50 ms | p99 ms | stream rps | stream p50 ms | stream p99 ms |\n"
          "|---|---|---|---|---|---|---|\n"
          + rows + "\n\n![gateway load](gateway_load.png)\n")
    write_results("gateway_load", data, md)
    plot(summary, RESULTS / "gateway_load.png")
    print(f"wrote {RESULTS / 'gateway_load.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
