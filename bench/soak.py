"""Soak: mixed traffic at a steady rate for N minutes, the cloud killed and restarted twice.

    python bench/soak.py                 # 10 minutes (the number for the record)
    python bench/soak.py --minutes 2     # a quick check

The gateway (SmolLM2 on the device, one thread) runs in this process on its own event
loop and thread; the local cloud (SmolLM2, one thread) is a child process, SIGKILLed at
1/3 and 2/3 of the run and restarted after ``--downtime`` seconds (longer than the
circuit's cooldown, so the circuit opens and the background probe has to close it).
Requests arrive at a fixed rate whatever the answers do (open loop): every mode
(device, cloud, cascade, speculative, auto), streaming or not, a few with personal data;
10% are bad requests (malformed JSON, wrong types, unknown model, oversized, lone
surrogates...) and 5% are streams the client drops after the first chunk.

Every 10 s it records the process's RSS and open fds, the gateway loop's asyncio tasks,
threads, the cloud process's RSS, and the window's p50/p99 latency and status counts.
The load generator shares the process (its connection pool is bounded), so RSS and fds
are the gateway's plus a constant. Writes bench/results/soak.{json,md,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, machine, now_iso, percentile, write_results
from cloud.process import ensure_port_free  # noqa: E402
from gateway.config import load_config
from gateway.runtime import Runtime

MODELS = ["tandem-device", "tandem-cloud", "tandem-cascade", "tandem-speculative", "tandem-auto"]
PROMPTS = ["Name a fruit.", "Write a haiku about rain.", "What is 2 + 2?",
           "Give me a word that rhymes with cat.",
           "Mail me at anna.k@example.com about the invoice.", "Summarise: the cat sat on the mat.",
           "List three colours.", "Translate 'hello' to French."]
MSG = [{"role": "user", "content": "Name a fruit."}]
BAD_BODIES: list[bytes] = [
    b"{not json", b"", b"[1, 2]", b'{"model": "tandem-device"}', b"[" * 30_000 + b"]" * 30_000,
    json.dumps({"model": "gpt-9", "messages": MSG}).encode(),
    json.dumps({"model": "tandem-device", "messages": MSG, "max_tokens": 10**9}).encode(),
    json.dumps({"model": "tandem-device", "messages": MSG, "temperature": "hot"}).encode(),
    json.dumps({"model": "tandem-device", "messages": MSG, "metadata": {"privacy": 5}}).encode(),
    json.dumps({"model": "tandem-device", "messages": [{"role": "wizard", "content": "x"}]}).encode(),
    json.dumps({"model": "tandem-device", "messages": [{"role": "user", "content": "\ud800"}]}).encode(),
    json.dumps({"model": "tandem-device",
                "messages": [{"role": "user", "content": "x" * 1_100_000}]}).encode(),
    json.dumps({"model": "tandem-device", "messages": MSG, "n": 3}).encode(),
]


@dataclass
class Outcome:
    t: float  # seconds since the start, when the request was sent
    kind: str  # ok | bad | disconnect
    model: str
    stream: bool
    status: int | None = None
    latency_s: float | None = None
    degraded: bool = False
    error_event: bool = False  # an error inside a 200 stream
    failure: str | None = None  # the client saw something it should not have


@dataclass
class Sample:
    t: float
    rss_mb: float
    fds: int
    tasks: int
    threads: int
    cloud_rss_mb: float | None
    inflight: int
    cloud_up: bool
    window: dict[str, Any] = field(default_factory=dict)


def rss_mb(pid: int | str = "self") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class CloudProcess:
    """``tandem cloud`` as a child we can SIGKILL and start again on the same port."""

    def __init__(self, model: str, port: int, threads: int):
        self.cmd = [sys.executable, "-m", "gateway.cli", "cloud", "--model", model, "--port", str(port),
                    "--threads", str(threads), "--n-ctx", "2048", "--parent-pid", str(os.getpid())]
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> None:
        # never talk to a stranger
        ensure_port_free("127.0.0.1", self.port, "the soak's cloud", "--cloud-port")
        self.proc = subprocess.Popen(self.cmd, cwd=Path(__file__).resolve().parent.parent,
                                     start_new_session=True, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        import urllib.request

        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the local cloud did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None


class GatewayThread:
    """The gateway on its own loop in a background thread (so this process can watch its tasks)."""

    def __init__(self, overrides: list[str]):
        self.config = load_config(overrides=overrides)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="gateway-loop")
        self.runtime: Runtime | None = None

    def call(self, coro, timeout: float = 300) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> str:
        self.thread.start()
        self.runtime = self.call(Runtime(self.config).start())
        return self.runtime.url

    def stop(self) -> None:
        if self.runtime is not None:
            self.call(self.runtime.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def tasks(self) -> int:
        async def count() -> int:
            return len(asyncio.all_tasks())
        return self.call(count(), 10)


# -- one request --------------------------------------------------------------------------------------------
async def one_request(session: aiohttp.ClientSession, url: str, rng: random.Random, t: float) -> Outcome:
    roll = rng.random()
    if roll < 0.10:
        out = Outcome(t, "bad", "-", False)
        body = rng.choice(BAD_BODIES)
    else:
        model = rng.choice(MODELS)
        stream = roll < 0.15 or rng.random() < 0.5
        out = Outcome(t, "disconnect" if roll < 0.15 else "ok", model, stream)
        body = json.dumps({"model": model, "stream": stream, "max_tokens": rng.randint(4, 16),
                           "temperature": rng.choice([0, 0.8]), "seed": rng.randrange(10**6),
                           "messages": [{"role": "user", "content": rng.choice(PROMPTS)}]}).encode()
    t0 = time.perf_counter()
    try:
        async with session.post(url + "/v1/chat/completions", data=body,
                                headers={"Content-Type": "application/json"}) as r:
            out.status = r.status
            if out.kind == "disconnect" and r.status == 200:
                await r.content.readline()
                await r.content.readline()
                if r.connection is not None:  # (a short answer may be over already)
                    r.connection.transport.abort()  # the client goes away mid-stream
                return out
            raw = await r.read()
        out.latency_s = time.perf_counter() - t0
        check(out, raw)
    except (TimeoutError, aiohttp.ClientError) as exc:
        out.failure = f"{type(exc).__name__}: {exc}"[:200]
    except Exception as exc:  # noqa: BLE001 — a bug in this script must show as a failure, not vanish
        out.failure = f"load generator: {type(exc).__name__}: {exc}"[:200]
    return out


def check(out: Outcome, raw: bytes) -> None:
    if out.status is None or out.status >= 500:
        out.failure = f"HTTP {out.status}: {raw[:200]!r}"
        return
    if out.kind == "bad":
        if not 400 <= out.status < 500:
            out.failure = f"bad request answered {out.status}"
        return
    if out.status != 200:
        if out.status != 429:  # the device queue is full: a legitimate answer under load
            out.failure = f"HTTP {out.status}: {raw[:200]!r}"
        return
    try:
        if out.stream:
            events = [ln[6:] for ln in raw.split(b"\n") if ln.startswith(b"data: ")]
            parsed = [json.loads(e) for e in events if e != b"[DONE]"]
            out.error_event = any("error" in p for p in parsed)
            trace = next((p["tandem"] for p in reversed(parsed) if "tandem" in p), {})
            if events[-1] != b"[DONE]" or out.error_event:
                out.failure = "stream without [DONE] or with an error event"
        else:
            trace = json.loads(raw)["tandem"]
        out.degraded = bool(trace.get("degraded"))
    except (ValueError, KeyError, IndexError) as exc:
        out.failure = f"unreadable answer: {exc}"


# -- the run -------------------------------------------------------------------------------------------------
async def drive(url: str, gw: GatewayThread, cloud: CloudProcess, minutes: float, rate: float,
                downtime: float, seed: int) -> tuple[list[Outcome], list[Sample], list[dict]]:
    rng = random.Random(seed)
    duration = minutes * 60
    outcomes: list[Outcome] = []
    samples: list[Sample] = []
    events: list[dict] = []
    pending: set[asyncio.Task] = set()
    kills = [duration / 3, 2 * duration / 3]
    connector = aiohttp.TCPConnector(limit=64)
    t_start = time.perf_counter()

    def now() -> float:
        return time.perf_counter() - t_start

    async def cloud_chaos() -> None:
        for at in kills:
            await asyncio.sleep(max(0.0, at - now()))
            await asyncio.to_thread(cloud.kill)
            events.append({"t": round(now(), 1), "event": "cloud killed"})
            await asyncio.sleep(downtime)
            await asyncio.to_thread(cloud.start)
            events.append({"t": round(now(), 1), "event": "cloud restarted"})

    last = 0

    async def take_sample(connections_open: bool = True) -> None:
        nonlocal last
        done = outcomes[last:]
        last = len(outcomes)
        lat = [o.latency_s * 1000 for o in done if o.kind == "ok" and o.status == 200 and o.latency_s]
        collab = gw.runtime.collaborator
        window = {"requests": len(done), "ok": sum(o.status == 200 for o in done),
                  "4xx": sum(o.status is not None and 400 <= o.status < 500 for o in done),
                  "5xx": sum(o.status is not None and o.status >= 500 for o in done),
                  "failures": sum(o.failure is not None for o in done),
                  "degraded": sum(o.degraded for o in done),
                  "p50_ms": round(percentile(lat, 50), 1) if lat else None,
                  "p99_ms": round(percentile(lat, 99), 1) if lat else None,
                  "client_connections_open": connections_open}
        samples.append(Sample(round(now(), 1), rss_mb() or 0.0, len(os.listdir("/proc/self/fd")),
                              await asyncio.to_thread(gw.tasks), threading.active_count(),
                              rss_mb(cloud.pid) if cloud.pid else None, len(pending),
                              collab.monitor.available(), window))
        s = samples[-1]
        print(f"t={s.t:6.1f}s rss={s.rss_mb:6.1f}MB fds={s.fds:4d} tasks={s.tasks:3d} threads={s.threads:3d} "
              f"cloud={'up' if s.cloud_up else 'down'} {window}", flush=True)

    async def sampler() -> None:
        while True:
            await asyncio.sleep(10)
            await take_sample()

    await take_sample(connections_open=False)  # idle, before any traffic
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        chaos = asyncio.create_task(cloud_chaos())
        watch = asyncio.create_task(sampler())
        i = 0
        while now() < duration:
            t = now()
            if len(pending) < 64:
                task = asyncio.create_task(one_request(session, url, rng, round(t, 2)))
                pending.add(task)
                task.add_done_callback(lambda tk: (pending.discard(tk), outcomes.append(tk.result())))
            else:
                events.append({"t": round(t, 1), "event": "arrival skipped: 64 requests in flight"})
            i += 1
            await asyncio.sleep(max(0.0, i / rate - now()))
        await asyncio.gather(*pending, return_exceptions=True)
        watch.cancel()
        chaos.cancel()
    await asyncio.sleep(3)  # the client's connections are closed: what the gateway still holds is its own
    await take_sample(connections_open=False)
    return outcomes, samples, events


def slope_mb_per_min(samples: list[Sample], after_s: float) -> float | None:
    pts = [(s.t, s.rss_mb) for s in samples if s.t >= after_s]
    if len(pts) < 3:
        return None
    t, y = np.array(pts).T
    return round(float(np.polyfit(t / 60, y, 1)[0]), 2)


def plot(samples: list[Sample], events: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s.t / 60 for s in samples]
    fig, (a1, a2, a3) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    a1.plot(t, [s.rss_mb for s in samples], "o-", ms=3, label="gateway process RSS")
    a1.plot(t, [s.cloud_rss_mb if s.cloud_rss_mb is not None else np.nan for s in samples], "s-", ms=3,
            label="cloud process RSS")
    a1.set_ylabel("MB")
    a1.legend(loc="upper left")
    a2.plot(t, [s.fds for s in samples], "o-", ms=3, label="open fds")
    a2.plot(t, [s.tasks for s in samples], "s-", ms=3, label="asyncio tasks (gateway loop)")
    a2.plot(t, [s.threads for s in samples], "^-", ms=3, label="threads")
    a2.legend(loc="upper left")
    a3.plot(t, [s.window.get("p50_ms") or np.nan for s in samples], "o-", ms=3, label="p50")
    a3.plot(t, [s.window.get("p99_ms") or np.nan for s in samples], "s-", ms=3, label="p99")
    a3.set_ylabel("latency per 10 s window (ms)")
    a3.set_xlabel("minutes")
    a3.legend(loc="upper left")
    for ax in (a1, a2, a3):
        ax.grid(alpha=0.3)
        for e in events:
            if e["event"].startswith("cloud"):
                ax.axvline(e["t"] / 60, color="red" if "killed" in e["event"] else "green", alpha=0.5,
                           ls="--")
    a1.set_title("Soak: mixed traffic; cloud killed (red) and restarted (green) twice")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=2.0, help="requests per second, whatever the answers do")
    ap.add_argument("--downtime", type=float, default=15.0, help="seconds the cloud stays dead each time")
    ap.add_argument("--model", default="smollm2-135m", help="device and cloud model")
    ap.add_argument("--cloud-port", type=int, default=8791)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    cloud = CloudProcess(args.model, args.cloud_port, threads=1)
    cloud.start()
    gw = GatewayThread(["server.port=0", "device.pull=false", f"device.model={args.model}",
                        "device.n_ctx=2048", "device.n_threads=1", f"cloud.endpoints=[{cloud.url}]",
                        "server.max_queue=64", "cascade.threshold=-0.5"])
    try:
        url = gw.start()
        print(f"gateway {url}, cloud {cloud.url}; {args.minutes} min at {args.rate} req/s", flush=True)
        outcomes, samples, events = asyncio.run(drive(url, gw, cloud, args.minutes, args.rate, args.downtime,
                                                      args.seed))
    finally:
        gw.stop()
        cloud.kill()

    ok_lat = [o.latency_s * 1000 for o in outcomes if o.kind == "ok" and o.status == 200 and o.latency_s]
    warm = [s for s in samples if s.t >= 60] or samples
    statuses: dict[str, int] = {}
    for o in outcomes:
        statuses[str(o.status)] = statuses.get(str(o.status), 0) + 1
    failures = [asdict(o) for o in outcomes if o.failure]
    summary = {
        "minutes": args.minutes, "rate_rps": args.rate, "requests": len(outcomes), "statuses": statuses,
        "http_5xx": sum(o.status is not None and o.status >= 500 for o in outcomes),
        "stream_error_events": sum(o.error_event for o in outcomes), "client_failures": len(failures),
        "bad_requests": sum(o.kind == "bad" for o in outcomes),
        "disconnects": sum(o.kind == "disconnect" for o in outcomes),
        "degraded": sum(o.degraded for o in outcomes),
        "p50_ms": round(percentile(ok_lat, 50), 1), "p99_ms": round(percentile(ok_lat, 99), 1),
        "rss_mb_after_1min": warm[0].rss_mb, "rss_mb_end": samples[-1].rss_mb,
        "rss_slope_mb_per_min_after_1min": slope_mb_per_min(samples, 60),
        "fds_min_max_after_1min": [min(s.fds for s in warm), max(s.fds for s in warm)],
        "tasks_max": max(s.tasks for s in samples),
        "idle_before_after": {"fds": [samples[0].fds, samples[-1].fds],
                              "tasks": [samples[0].tasks, samples[-1].tasks],
                              "threads": [samples[0].threads, samples[-1].threads]},
    }
    data = {"summary": summary, "events": events, "samples": [asdict(s) for s in samples],
            "failures": failures[:50], "machine": machine(), "date": now_iso(),
            "notes": "gateway (SmolLM2 device, 1 thread) in this process on its own loop; local cloud "
                     "(SmolLM2, 1 thread) a child process killed with SIGKILL twice; load generator in this "
                     "process (pool of 64 connections), open loop at a fixed rate; RSS and fds are the whole "
                     "process's"}
    s = summary
    idle = s["idle_before_after"]
    md = (f"# Soak: {args.minutes:g} minutes of mixed traffic, the cloud killed twice\n\n"
          f"{s['requests']} requests at {args.rate:g}/s: every mode, streaming or not; "
          f"{s['bad_requests']} bad "
          f"requests, {s['disconnects']} client disconnects mid-stream; the cloud SIGKILLed at 1/3 and 2/3 "
          f"and restarted after {args.downtime:g} s.\n\n"
          "| what | value |\n|---|---|\n"
          f"| HTTP 5xx | {s['http_5xx']} |\n"
          f"| error events inside 200 streams | {s['stream_error_events']} |\n"
          f"| client-side failures (hang, cut, unreadable) | {s['client_failures']} |\n"
          f"| statuses | {', '.join(f'{k}: {v}' for k, v in sorted(s['statuses'].items()))} |\n"
          f"| answers marked degraded | {s['degraded']} |\n"
          f"| latency of good answers p50 / p99 | {s['p50_ms']} / {s['p99_ms']} ms |\n"
          f"| RSS after 1 min → end | {s['rss_mb_after_1min']} → {s['rss_mb_end']} MB "
          f"(slope {s['rss_slope_mb_per_min_after_1min']} MB/min) |\n"
          f"| open fds after 1 min (min–max) | {s['fds_min_max_after_1min'][0]}–"
          f"{s['fds_min_max_after_1min'][1]} |\n"
          f"| idle before → after the run (no client connections): fds | {idle['fds'][0]} → "
          f"{idle['fds'][1]} |\n"
          f"| … asyncio tasks on the gateway loop | {idle['tasks'][0]} → {idle['tasks'][1]} "
          f"(max {s['tasks_max']} under load) |\n"
          f"| … threads (asyncio.to_thread's pool starts its threads lazily) | {idle['threads'][0]} → "
          f"{idle['threads'][1]} |\n"
          "\n"
          "Events: " + "; ".join(f"{e['event']} at {e['t']} s" for e in events
                                 if e["event"].startswith("cloud"))
          + "\n\n![soak](soak.png)\n")
    write_results("soak", data, md)
    plot(samples, events, RESULTS / "soak.png")
    print(json.dumps(summary, indent=2))
    print(f"wrote {RESULTS / 'soak.json'}")
    return 0 if s["http_5xx"] == 0 and s["client_failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
