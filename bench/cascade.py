"""The cascade cost/quality benchmark: what each share of cloud calls buys, on HumanEval and MMLU.

    python bench/cascade.py --task all                  # or: tandem bench cascade --task all
    python bench/cascade.py --task humaneval --limit 20 # quick run (results named cascade_smoke_*)
    python bench/cascade.py --task all --no-generate    # re-score policies from the cache only

Each item runs once through the gateway's own parts (``gateway.runtime.Runtime``: the device
model in-process, Tandem's local cloud as a child process; the two take turns, so each gets every
core), three ways:

1. device: the request is planned by the gateway (``Collaborator.plan``, model ``tandem-device``)
   and the device engine generates greedily with per-token log-probabilities and entropies
   (``generate(..., with_entropy=True)``), each token's arrival time recorded;
2. cloud: ``tandem-cloud`` through ``Collaborator.run`` (the cloud's own answer);
3. escalation: ``tandem-cascade`` through ``Collaborator.run`` with ``cascade.policy=gate`` and
   ``cascade.threshold=1000``, so every answer escalates: the cloud verifies the device answer as a
   draft and continues from the first token it rejects. Its answer, trace (drafts proposed/accepted,
   cloud tokens, passes, calls) and times are what any policy gets when it escalates that item.

Every answer is scored (HumanEval: run in ``gateway.core.verifiers.sandbox``; MMLU: the parsed
letter) and the item's record is cached as JSON under
``$TANDEM_CACHE/bench-cache/cascade/<task>/<device>__<cloud>/`` (resumable: a cached phase is never
run again). Each record carries the prompt as the gateway's privacy shows it to the cloud
(``privacy_stamp``): where today's detectors would show it otherwise, its cloud-side runs (cloud,
escalation, streaming hand-overs) are stale and run again, and an item they keep private is left
out, as the gateway keeps it on the device. Policies (``bench.cascade_policies``) are then scored
from the cache alone: thresholds fitted on a fixed-seed calibration half, every number reported
on the other half. Writes ``bench/results/cascade_<task>.{json,md,png}`` and ``cascade.md``.
Settings: ``configs/bench-cascade.yaml``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import yaml
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import cascade_policies as cp
from bench.cascade_signals import make_signal_policies
from bench.cascade_tasks import TASKS, Item
from bench.common import RESULTS, machine, now_iso, write_results
from device_runtime.engine import common_prefix
from device_runtime.models import cache_dir
from gateway.core.verifiers.examples import SELF_TEST_VERSION
from gateway.privacy.policy import PrivacyRouter
from routers.confidence import first_unsure, threshold_for_cloud_fraction
from routers.query import EMBED_TOKENS, embed_length, pack_vector

if TYPE_CHECKING:
    from device_runtime.embedding import PromptEmbedder
    from gateway.config import TandemConfig
    from gateway.core.orchestrator import Collaborator
    from gateway.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "configs" / "bench-cascade.yaml"
CACHE_VERSION = 1
PHASES = ("device", "cloud", "check", "escalation")
CLOUD_SIDE = ("cloud", "escalation", "handovers")  # the runs where the cloud reads the prompt privacy left it


# -- the cache ------------------------------------------------------------------------------------------
def cache_root() -> Path:
    return cache_dir() / "bench-cache" / "cascade"


def pair_dir(task: str, device: str, cloud: str) -> Path:
    return cache_root() / task / f"{_safe(device)}__{_safe(cloud)}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def item_key(item: Item, max_tokens: int, device: str, cloud: str) -> str:
    """Changes whenever what the models were asked changes: a stale record is not reused."""
    blob = json.dumps({"v": CACHE_VERSION, "messages": item.messages, "max_tokens": max_tokens,
                       "device": device, "cloud": cloud}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


DATA = ROOT / "bench" / "data"


def committed_path(task: str) -> Path:
    return DATA / f"cascade_{task}.jsonl.gz"


def committed_records(task: str) -> dict[str, dict]:
    """The records committed with the repository (``--export-records``), by item id: a new machine
    re-scores every policy from them without running a model."""
    path = committed_path(task)
    if not path.is_file():
        return {}
    import gzip

    with gzip.open(path, "rt", encoding="utf-8") as f:
        return {rec["id"]: rec for rec in map(json.loads, f) if rec.get("id")}


def export_records(task: str, records: list[dict]) -> Path:
    """Write the complete records to ``bench/data`` (gzip, one JSON per line, in id order). The gzip header
    carries no time (mtime 0), so the same records give the same bytes and a re-export changes no file."""
    import gzip
    import io

    DATA.mkdir(parents=True, exist_ok=True)
    path = committed_path(task)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as packed, \
            io.TextIOWrapper(packed, encoding="utf-8") as f:
        for rec in sorted(records, key=lambda r: r["id"]):
            f.write(json.dumps(rec, sort_keys=True) + "\n")
    return path


class Cache:
    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, item_id: str) -> Path:
        return self.folder / f"{_safe(item_id)}.json"

    def load(self, item_id: str, key: str) -> dict | None:
        try:
            record = json.loads(self.path(item_id).read_text())
        except (OSError, ValueError):
            return None
        return record if record.get("key") == key else None

    def save(self, record: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(record["id"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(path)


def shared_cloud_phase(task: str, item: Item, max_tokens: int, cloud: str) -> dict | None:
    """The cloud-only run of this item from another device's cache, if one exists.

    The cloud phase never touches the device: the same request to the same cloud gives the same
    greedy answer, so a second device model reuses it instead of paying for it again.
    """
    for path in sorted((cache_root() / task).glob(f"*__{_safe(cloud)}/{_safe(item.id)}.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        same_request = rec.get("key") == item_key(item, max_tokens, rec.get("device_model", ""), cloud)
        if same_request and "score" in rec.get("cloud", {}) and not rec["cloud"].get("shared_from"):
            return {**rec["cloud"], "shared_from": rec["device_model"]}
    return None


def composed_escalation(device: dict, cloud: dict) -> dict:
    """Escalation when the device and cloud tokenizers differ: the gateway's gate judges the whole
    device answer, then passes the unchanged request to the cloud, which answers from scratch. That
    request is exactly the cloud-only run's, so its answer and cost are the cloud run's, after the
    device's answer time."""
    trace = {**cloud["trace"], "mode": "cascade", "requested": "cascade", "escalated": True,
             "device_tokens": 0, "drafts_proposed": 0, "drafts_accepted": 0}
    return {"text": cloud["text"], "token_ids": [],
            "ttft_ms": round(device["total_ms"] + cloud["ttft_ms"], 2),
            "total_ms": round(device["total_ms"] + cloud["total_ms"], 2),
            "completion_tokens": cloud["completion_tokens"], "finish_reason": cloud["finish_reason"],
            "trace": trace, "score": cloud["score"], "agreed_prefix": 0,
            "composed": "device answer, then the cloud-only run (no shared tokenizer)"}


def privacy_router() -> PrivacyRouter:
    """The gateway's privacy as the runs configure it (``GatewayRunner.config`` leaves ``privacy`` alone)."""
    from gateway.config import load_config

    return PrivacyRouter.from_config(load_config().privacy)


def privacy_stamp(privacy: PrivacyRouter, item: Item) -> dict[str, Any]:
    """What the gateway shows the cloud of this item's prompt: its privacy level, how many values it hides
    (``RouteTrace.redactions``) and a hash of the messages as sent. The cache key cannot say this: the same
    request reads otherwise to other detectors, and a cloud that saw ``[PERSON_1]`` where today's
    gateway sends the name (or the other way round) answered another question."""
    texts = [str(m.get("content") or "") for m in item.messages]
    decision = privacy.decide(texts)
    hides = decision.level == "redact" and bool(decision.pii)  # as ``Planner.plan`` redacts
    sent = privacy.redact(texts, decision) if hides else texts
    return {"level": decision.level, "redactions": decision.redactor.count if decision.redactor else 0,
            "sent": hashlib.sha256(json.dumps(sent).encode()).hexdigest()[:12]}


def refresh_cloud_side(record: dict, stamp: dict[str, Any]) -> bool:
    """Drop the record's cloud-side runs where the cloud saw another prompt than today's gateway would send,
    and stamp it; True where the record changed. A record from before stamps is judged by its cloud run's
    trace: the same privacy level and the same number of hidden values."""
    had = record.get("privacy")
    if had is None and "trace" in record.get("cloud", {}):  # recorded before stamps
        trace = record["cloud"]["trace"]
        if (trace.get("privacy"), trace.get("redactions", 0)) == (stamp["level"], stamp["redactions"]):
            had = stamp
    stale = had != stamp and any(phase in record for phase in CLOUD_SIDE)
    if stale:
        for phase in CLOUD_SIDE:
            record.pop(phase, None)
    changed = stale or record.get("privacy") != stamp
    record["privacy"] = stamp
    return changed


def kept_private(items: list[Item], cache: Cache, max_tokens: int, device: str, cloud: str) -> list[str]:
    """The items ``collect`` left out because their stamp says the gateway keeps them on the device."""
    records = (cache.load(it.id, item_key(it, max_tokens, device, cloud)) or {} for it in items)
    return [it.id for it, rec in zip(items, records) if rec.get("privacy", {}).get("level") == "private"]


def check_stamp(out: dict[str, Any], stamp: dict[str, Any], what: str) -> None:
    """A run whose trace disagrees with its item's stamp saw a prompt its stamp does not say: not cached."""
    trace = out["trace"]
    if (trace["privacy"], trace["redactions"]) != (stamp["level"], stamp["redactions"]):
        raise RuntimeError(f"{what}: the gateway sent it as {trace['privacy']} with {trace['redactions']} "
                           f"hidden, its stamp says {stamp['level']} with {stamp['redactions']}")


def complete(record: dict | None) -> bool:
    return record is not None and all(p in record and "score" in record[p] for p in PHASES)


# -- running the gateway's parts --------------------------------------------------------------------------
class GatewayRunner:
    """The gateway as ``tandem serve`` builds it (``Runtime``: the device engine, the local cloud), one
    request at a time; ``gateway_with`` builds it again with other settings over the same two models."""

    FORCED_ESCALATION = ("cascade.policy=gate", "cascade.threshold=1000")

    def __init__(self, device: str, cloud: str, cascade: Sequence[str] = FORCED_ESCALATION):
        self.device_model, self.cloud_model = device, cloud
        self.cascade = list(cascade)  # config overrides for tandem-cascade (default: every answer escalates)
        self.rt: Runtime | None = None
        self.variants: dict[tuple[str, ...], Runtime] = {}
        self.embedder: PromptEmbedder | None = None

    def config(self, *more: str) -> TandemConfig:
        """The gateway's configuration for the runs: each model gets all the cores, and so the two must
        never compute at once. Pipelining (the device drafting while the cloud verifies) is off: with
        both on every core it oversubscribes them, and the escalations measured 2-4x slower.
        ``more``: overrides on top of this runner's."""
        from gateway.config import load_config

        return load_config(overrides=[
            f"device.n_threads={THREADS}", f"cloud.local.n_threads={THREADS}", "speculative.pipeline=false",
            f"device.model={self.device_model}", f"cloud.local.model={self.cloud_model}",
            "cloud.local.port=0", "server.port=0", "cloud.timeout_s=1800", "cloud.retries=0",
            *self.cascade, *more])

    async def __aenter__(self) -> Self:
        from gateway.runtime import Runtime

        self.rt = Runtime(self.config())
        await self.rt.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for rt in self.variants.values():
            await rt.stop()
        self.variants.clear()
        if self.rt is not None:
            await self.rt.stop()

    async def gateway_with(self, *overrides: str) -> Collaborator:
        """The gateway built by the same factory from this runner's configuration with ``overrides`` on
        top, over the same device model (``Runtime``'s ``engine``) and the same cloud (``cloud.endpoints``):
        what ``tandem serve`` runs with those settings. Built once per set of overrides, stopped with the
        runner."""
        from gateway.runtime import Runtime

        key = tuple(overrides)
        if key not in self.variants:
            assert self.rt is not None and self.rt.cloud is not None, "the runner has not started"
            urls = ", ".join(e.url for e in self.rt.cloud.endpoints)
            rt = self.variants[key] = Runtime(self.config(f"cloud.endpoints=[{urls}]", *overrides),
                                              engine=self.rt.engine)
            await rt.start()
        collab = self.variants[key].collaborator
        assert collab is not None
        return collab

    async def warm_up(self) -> None:
        """One short request each way first: the first calls after loading are slower than the rest."""
        warm = Item("warm-up", [{"role": "user", "content": "Say hi."}])
        await self.device(warm, 4)
        await self.cloud(warm, 4)

    @property
    def collab(self) -> Collaborator:
        assert self.rt is not None and self.rt.collaborator is not None, "the runner has not started"
        return self.rt.collaborator

    @property
    def shared_tokenizer(self) -> bool:
        """Can the cloud verify the device's tokens (else the cascade's cloud answers from scratch)?"""
        return self.collab.tokenizers.compatible

    def _request(self, model: str, item: Item, max_tokens: int):
        from gateway.api.protocol import ChatCompletionRequest

        return ChatCompletionRequest.model_validate(
            {"model": model, "messages": item.messages, "temperature": 0, "max_tokens": max_tokens})

    async def device(self, item: Item, max_tokens: int) -> dict[str, Any]:
        collab = self.collab
        engine = collab.engine
        t0 = time.perf_counter()
        job = await collab.plan(self._request("tandem-device", item, max_tokens))
        params = replace(job.params, stop=())
        events, times = [], []
        async with collab.device.turn():
            async for ev in collab.device.iterate(
                    lambda: engine.generate(job.prompt_tokens, params, with_entropy=True)):
                times.append(_ms(t0))
                events.append(ev)
        total = _ms(t0)
        ids = [ev.token_id for ev in events]
        if self.embedder is None:  # loaded with the first device answer: only the device phase needs it
            from device_runtime.embedding import PromptEmbedder

            self.embedder = await asyncio.to_thread(PromptEmbedder.load, self.device_model,
                                                    max_tokens=EMBED_TOKENS, n_threads=THREADS)
        t1 = time.perf_counter()
        async with collab.device.turn():  # the query router's features: known before generating
            vector = await asyncio.to_thread(self.embedder.embed, prompt_text(item))
        return {"text": engine.detokenize(ids), "token_ids": ids,
                "embedding": pack_vector(vector), "embed_ms": _ms(t1), "embed_tokens": self.embedder.max_tokens,
                "logprobs": [round(ev.logprob, 5) for ev in events],
                "entropies": [round(ev.entropy or 0.0, 5) for ev in events], "token_ms": times,
                "finish_reason": events[-1].finish_reason if events else None,
                "ttft_ms": times[0] if times else total, "total_ms": total,
                "prompt_tokens": len(job.prompt_tokens)}

    async def check(self, item: Item, max_tokens: int, device: dict[str, Any]) -> dict[str, Any]:
        """The cloud check (``gateway.core.verifiers.cloud_check``): the cloud scores the device's whole
        answer in one verification pass; per token, its log-probability of the device's token and of its
        own best one."""
        from gateway.cloud_client.transport import CallStats

        collab = self.collab
        assert collab.cloud is not None
        job = await collab.plan(self._request("tandem-device", item, max_tokens))
        draft = device["token_ids"]
        stats = CallStats()
        t0 = time.perf_counter()
        result = await collab.cloud.verify(job.prompt_tokens, draft, stats, True) if draft else None
        ms = _ms(t0)
        rows = result.target_top if result is not None else []
        lps = [result.draft_logprob(i) if result is not None else None for i in range(len(draft))]
        cloud_lp = [round(lp if lp is not None else dict(rows[i]).get(t, -100.0), 5)
                    for i, (t, lp) in enumerate(zip(draft, lps))]
        return {"cloud_lp": cloud_lp, "top_lp": [round(r[0][1], 5) for r in rows[:len(draft)]],
                "agree": [int(bool(r) and r[0][0] == t) for r, t in zip(rows, draft)],
                "accepted": result.accepted if result is not None else 0,
                "total_ms": ms, "tokens_in": len(job.prompt_tokens) + len(draft), "calls": stats.calls,
                "score": {"correct": device["score"]["correct"]}}

    async def through_gateway(self, model: str, item: Item, max_tokens: int,
                              gateway: Collaborator | None = None) -> tuple[dict[str, Any], Any]:
        """``item`` through ``gateway`` (default: the runner's own) as a client's request: planned, run."""
        collab = gateway or self.collab
        t0 = time.perf_counter()
        job = await collab.plan(self._request(model, item, max_tokens))
        parts, ids, first = [], [], None
        async for chunk in collab.run(job):
            if chunk.text and first is None:
                first = _ms(t0)
            parts.append(chunk.text)
            ids += chunk.token_ids
        total = _ms(t0)
        trace = job.trace
        if trace.degraded:
            raise RuntimeError(f"{model}: the cloud failed ({trace.degraded_reason}); "
                               "not caching a degraded answer")
        return {"text": "".join(parts), "token_ids": ids, "ttft_ms": first if first is not None else total,
                "total_ms": total, "completion_tokens": job.completion_tokens,
                "finish_reason": job.finish_reason,
                "trace": {k: v for k, v in trace.to_dict().items()
                          if k not in ("pii", "timings_ms", "draft_lengths")}
                }, job

    async def cloud(self, item: Item, max_tokens: int) -> dict[str, Any]:
        out, job = await self.through_gateway("tandem-cloud", item, max_tokens)
        if job.trace.mode != "cloud":
            raise RuntimeError(f"cloud-only run went {job.trace.mode}: {job.trace.reason}")
        return out

    async def escalation(self, item: Item, max_tokens: int) -> dict[str, Any]:
        out, job = await self.through_gateway("tandem-cascade", item, max_tokens)
        if job.trace.mode != "cascade" or not job.trace.escalated:
            raise RuntimeError(f"forced escalation did not escalate "
                               f"(mode {job.trace.mode}, {job.trace.reason})")
        return out

    async def handover(self, item: Item, max_tokens: int, window: int, threshold: float) -> dict[str, Any]:
        """The streaming cascade live: ``tandem-cascade`` with this runner's ``cascade.policy=stream``,
        at one window and threshold: the gateway built with ``cascade.window`` and
        ``cascade.window_threshold`` set to them (one gateway per pair, over the same models)."""
        gateway = await self.gateway_with(*judge_overrides(window, threshold))
        out, job = await self.through_gateway("tandem-cascade", item, max_tokens, gateway)
        if job.trace.mode != "cascade":
            raise RuntimeError(f"streaming cascade went {job.trace.mode}: {job.trace.reason}")
        return {**out, "window": window, "threshold": threshold}


STREAMING = ("cascade.policy=stream",)
THREADS = os.cpu_count() or 1


def judge_overrides(window: int, threshold: float) -> tuple[str, str]:
    """The streaming judge's settings as configuration; the threshold exactly (the live judge must see the
    replay's threshold, not a rounding of it: ``repr`` of a float reads back as the same float)."""
    return f"cascade.window={int(window)}", f"cascade.window_threshold={float(threshold)!r}"


def prompt_text(item: Item) -> str:
    """What the query router reads: the gateway's own reading of the request (``gateway.core.query``)."""
    from gateway.core.query import user_text

    return user_text(item.messages, None)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


async def collect(task_name: str, items: list[Item], cache: Cache, max_tokens: int, device: str, cloud: str,
                  generate: bool, runner_factory=GatewayRunner,
                  privacy: PrivacyRouter | None = None) -> list[dict]:
    """Cached records for ``items``, generating only the missing phases (and only when ``generate``).

    Phases run in passes (every item's device answer, then every cloud answer, then every
    escalation), so no call finds the same prompt already in a model's KV cache from another
    phase of its own item: each is timed as a fresh request would be. Nothing is loaded, and
    ``runner_factory`` is never called, when every record is cached.
    """
    from gateway.core.errors import TandemError

    task = TASKS[task_name]()
    keys = {it.id: item_key(it, max_tokens, device, cloud) for it in items}
    committed = committed_records(task_name)
    for it in items:  # seed the cache from the repository's records (same request, same models)
        rec = committed.get(it.id)
        if rec is not None and rec.get("key") == keys[it.id] and cache.load(it.id, keys[it.id]) is None:
            cache.save(rec)
    records = {it.id: cache.load(it.id, keys[it.id]) or {
        "id": it.id, "task": task_name, "key": keys[it.id], "device_model": device, "cloud_model": cloud,
        "max_tokens": max_tokens} for it in items}
    privacy = privacy or privacy_router()
    stamps = {it.id: privacy_stamp(privacy, it) for it in items}
    for it in items:
        if refresh_cloud_side(records[it.id], stamps[it.id]):
            cache.save(records[it.id])
    kept = [it for it in items if stamps[it.id]["level"] != "private"]  # the gateway never sends these
    # item by item (each record completes before the next starts, so a run cut short leaves whole records), in
    # a fixed-seed order (so such a run is a random sample, not the task's first items)
    order = sorted(kept, key=lambda it: hashlib.sha256(it.id.encode()).hexdigest())
    todo = [(phase, it) for it in order for phase in PHASES if "score" not in records[it.id].get(phase, {})]
    if todo and generate:
        bar = tqdm(total=len(todo), desc=f"{task_name} ({len(items)} items x {len(PHASES)} runs)", unit="run",
                   dynamic_ncols=True)
        async with runner_factory(device, cloud) as runner:
            await runner.warm_up()
            for phase, it in todo:
                rec = records[it.id]
                if phase in ("check", "escalation") and ("score" not in rec.get("device", {})
                                                         or "score" not in rec.get("cloud", {})):
                    bar.update(1)
                    continue  # its device or cloud run failed above; the next invocation retries them
                shared = shared_cloud_phase(task_name, it, max_tokens, cloud) if phase == "cloud" else None
                if shared is not None or (phase == "escalation" and not runner.shared_tokenizer):
                    rec[phase] = shared or composed_escalation(rec["device"], rec["cloud"])
                    rec["shared_tokenizer"] = runner.shared_tokenizer
                    cache.save(rec)
                    bar.update(1)
                    continue
                try:
                    if phase == "check":
                        rec[phase] = (await runner.check(it, max_tokens, rec["device"]) if runner.shared_tokenizer
                                      else {"skipped": "the cloud cannot score the device's tokens (no shared "
                                                       "tokenizer)", "score": {"correct": None}})
                        cache.save(rec)
                        bar.update(1)
                        continue
                    out = await getattr(runner, phase)(it, max_tokens)
                    if phase != "device":  # the cloud read the prompt: as its stamp says
                        check_stamp(out, stamps[it.id], f"{it.id} {phase}")
                except (RuntimeError, ValueError, TandemError) as exc:  # one bad request must not end hours
                    tqdm.write(f"{it.id}: {phase} run failed, not cached ({type(exc).__name__}: {exc})")
                    bar.update(1)
                    continue
                if phase == "device":
                    rec["prompt_tokens"] = out.pop("prompt_tokens")
                out["score"] = await asyncio.to_thread(task.score, it, out["text"])
                if phase == "escalation":
                    out["agreed_prefix"] = common_prefix(rec["device"]["token_ids"], out["token_ids"])
                out["threads"] = THREADS
                if phase == "escalation":
                    out["pipelined"] = runner.collab.config.speculative.pipeline
                rec[phase] = out
                cache.save(rec)
                bar.update(1)
                if complete(rec):
                    tqdm.write(f"{it.id}: device {_ok(rec['device'])} cloud {_ok(rec['cloud'])} "
                               f"cascade {_ok(rec['escalation'])} | "
                               f"device {rec['device']['total_ms'] / 1000:.1f}s "
                               f"cloud {rec['cloud']['total_ms'] / 1000:.1f}s "
                               f"check {rec['check']['total_ms'] / 1000:.1f}s "
                               f"cascade {rec['escalation']['total_ms'] / 1000:.1f}s")
        bar.close()
    return [records[it.id] for it in kept if complete(records[it.id])]


def halves(records: list[dict], profile: dict) -> tuple[cp.Items, cp.Items, cp.Items]:
    """The records as items, and their calibration and held-out halves (the profile's fixed-seed split)."""
    items = cp.Items.from_records(records, tail_quantile=profile["confidence"]["tail_quantile"])
    split = profile["split"]
    cal_idx, held_idx = cp.split_ids(items.ids, split["seed"], split["calibration_fraction"])
    return items, items.subset(cal_idx), items.subset(held_idx)


# -- the streaming cascade, live where the replay cannot score it -------------------------------------------
def handovers_to_run(records: list[dict], summary: dict, profile: dict,
                     fractions: Sequence[float]) -> list[tuple[str, int, int, float]]:
    """(item id, hand-over token, window, threshold) for each held-out item that a streaming row at one of
    ``fractions`` hands over *after* the device left the cloud's path (so the replay cannot score it)
    and that no live run covers yet. The answer depends only on the hand-over token (greedy: the shown
    prefix, then the cloud's continuation), so one run serves every row that hands over there."""
    items = cp.Items.from_records(records, tail_quantile=profile["confidence"]["tail_quantile"])
    split = profile["split"]
    cal_idx, held_idx = cp.split_ids(items.ids, split["seed"], split["calibration_fraction"])
    cal = items.subset(cal_idx)
    want: dict[tuple[str, int], tuple[int, float]] = {}
    for name in summary["policies"]:
        if not name.startswith("stream-w"):
            continue
        window = int(name.removeprefix("stream-w"))
        for f in fractions:
            # the row's exact threshold, fitted as ``cp.sweep`` does (the JSON's is rounded, and a running
            # mean can sit within that rounding of it: the live judge must see the replay's threshold)
            t = threshold_for_cloud_fraction(cp.stream_scores(cal, window), f)
            if not math.isfinite(t):
                continue
            for i in held_idx:
                at = first_unsure(items.logprobs[i], window, t)
                if at is not None and at > items.agreed[i] and str(at) not in records[i].get("handovers", {}):
                    want.setdefault((items.ids[i], at), (window, t))
    return [(item_id, at, w, t) for (item_id, at), (w, t) in sorted(want.items())]


async def collect_handovers(task_name: str, todo: list[tuple[str, int, int, float]], items: list[Item],
                            records: list[dict], cache: Cache, max_tokens: int, device: str, cloud: str,
                            runner_factory=GatewayRunner) -> int:
    """Run ``todo`` (from ``handovers_to_run``) through the gateway's streaming cascade; each answer is
    scored and cached under the token where the live run handed over. Returns how many handed over
    somewhere else than the cached device run predicted (a different device numeric path); those
    keep a marker under the predicted token, so they are not run again, and their answer under the
    token where they did hand over."""
    from gateway.core.errors import TandemError

    task = TASKS[task_name]()
    by_id = {it.id: it for it in items}
    recs = {r["id"]: r for r in records}
    moved = 0
    async with runner_factory(device, cloud, STREAMING) as runner:
        await runner.warm_up()
        for item_id, at, window, threshold in tqdm(todo, desc=f"{task_name} streaming hand-overs", unit="run",
                                                   dynamic_ncols=True):
            try:
                out = await runner.handover(by_id[item_id], max_tokens, window, threshold)
                check_stamp(out, recs[item_id]["privacy"], f"{item_id} hand-over")
            except (RuntimeError, ValueError, TandemError) as exc:
                tqdm.write(f"{item_id}: hand-over at {at} failed, not cached ({type(exc).__name__}: {exc})")
                continue
            runs = recs[item_id].setdefault("handovers", {})
            got = out["trace"].get("handover_token")
            if got != at:
                moved += 1
                tqdm.write(f"{item_id}: expected the hand-over at token {at}, "
                           f"the live run handed over at {got}")
                runs[str(at)] = {"moved_to": got}  # no score: never counted, and never run again
            if got is not None:
                out["score"] = await asyncio.to_thread(task.score, by_id[item_id], out["text"])
                out["threads"] = THREADS
                runs[str(got)] = out
            cache.save(recs[item_id])
    return moved


def thread_counts(records: list[dict]) -> dict[str, int]:
    """How many timed runs used how many threads per model (runs cached before this was recorded used 1)."""
    counts: dict[str, int] = {}
    for rec in records:
        for phase in ("device", "cloud", "escalation"):
            key = str(rec[phase].get("threads", 1))
            counts[key] = counts.get(key, 0) + 1
    return counts


def pipelined_escalations(records: list[dict]) -> int:
    """Escalations timed while the device drafted during the cloud's verification on the same cores
    (oversubscribed: slower than the models taking turns); those cached before this was recorded did."""
    return sum(1 for rec in records
               if "composed" not in rec["escalation"] and rec["escalation"].get("pipelined", True))


def _ok(phase: dict) -> str:
    return "ok" if phase["score"]["correct"] else "--"


def rescore_answers(task_name: str, records: list[dict], items: list[Item], cache: Cache) -> None:
    """Score the cached answers again (after a scoring fix); no model runs."""
    task = TASKS[task_name]()
    by_id = {it.id: it for it in items}
    for rec in tqdm(records, desc=f"re-scoring {task_name}", unit="item"):
        for run in [*(rec[phase] for phase in PHASES), *rec.get("handovers", {}).values()]:
            if "text" in run:
                run["score"] = task.score(by_id[rec["id"]], run["text"])
        cache.save(rec)


def reembed(records: list[dict], items: list[Item], cache: Cache, device: str, max_tokens: int) -> None:
    """The prompts' embeddings again at another length (``--embed-tokens``): one embedding-only prefill per
    record whose embedding was made at another length, no generation. The query router's cost in time to
    first token is this prefill, so its length is a trade the benchmark measures."""
    from device_runtime.embedding import PromptEmbedder

    todo = [r for r in records if r["device"].get("embed_tokens", 128) != max_tokens]
    if not todo:
        return
    by_id = {it.id: it for it in items}
    embedder = PromptEmbedder.load(device, max_tokens=max_tokens, n_threads=THREADS)
    for rec in tqdm(todo, desc=f"embedding prompts at {max_tokens} tokens", unit="item"):
        t0 = time.perf_counter()
        vector = embedder.embed(prompt_text(by_id[rec["id"]]))
        d = rec["device"]
        old = d.get("embed_tokens", 128)  # the one it had is kept beside it, for comparing the two
        d[f"embedding_{old}"], d[f"embed_ms_{old}"] = d["embedding"], d.get("embed_ms")
        d.update(embedding=pack_vector(vector), embed_ms=_ms(t0), embed_tokens=max_tokens)
        cache.save(rec)


def add_self_tests(task_name: str, records: list[dict], items: list[Item], cache: Cache,
                   redo: bool = False) -> None:
    """Run each device answer on its problem's docstring examples (``Task.self_test``), once per
    version of that check: sandbox runs only, no model. Tasks without examples have no self-test."""
    task = TASKS[task_name]()
    if not hasattr(task, "self_test"):
        return
    by_id = {it.id: it for it in items}
    todo = [r for r in records if redo or r["device"].get("selftest", {}).get("v") != SELF_TEST_VERSION]
    for rec in tqdm(todo, desc=f"self-testing {task_name} device answers", unit="item", disable=not todo):
        result = task.self_test(by_id[rec["id"]], rec["device"]["text"])
        rec["device"]["selftest"] = {"v": SELF_TEST_VERSION, **(result or {"passed": 0, "of": 0})}
        cache.save(rec)


# -- the report --------------------------------------------------------------------------------------------
def load_profile(path: Path | None) -> dict[str, Any]:
    return yaml.safe_load((path or PROFILE).read_text())


def cost_model(profile: dict) -> cp.CostModel:
    return cp.CostModel(**profile["cost"])


def summarize(records: list[dict], profile: dict, per_task: bool = False) -> dict[str, Any]:
    """Every policy on the held-out half, thresholds and the learned gate fitted on the calibration half."""
    cost = cost_model(profile)
    items, cal, held = halves(records, profile)
    fractions = profile["sweep"]["cloud_fractions"]
    # streaming needs the cloud to continue the device's tokens; without a shared tokenizer the gateway gates
    shared = all(r.get("shared_tokenizer", True) for r in records)
    windows = profile["streaming"]["windows"] if shared else []
    policies = (cp.make_policies(cal, cost, windows, profile["learned"]["l2"])
                + make_signal_policies(cal, cost, windows if shared else [], profile["learned"]["l2"]))
    rows = {p.name: cp.sweep(p, cal, held, fractions) for p in policies}
    for prow in rows.values():
        for r in prow:
            r["random_quality"] = round(cp.random_quality(held, r["cloud_fraction"]), 4)
            r["beats_random"] = bool(r["quality"] > r["random_quality"] + 1e-9)
    device, cloud = cp.device_only(held, cost), cp.cloud_only(held, cost)
    oracle = cp.outcome(held, cp.oracle_mask(held), cost)
    heldout = cp.heldout_for_goal(policies, cal, held, profile["quality_goal"])
    summary = {
        "n": len(items), "n_calibration": len(cal), "n_heldout": len(held), "shared_tokenizer": shared,
        "device_only": device, "cloud_only": cloud, "oracle": oracle,
        "policies": rows, "random": cp.random_rows(held, fractions, cost), "heldout": heldout,
        "escalation": escalation_stats(held),
        "bench_only": [p.name for p in policies if not p.runs_in_gateway],
        "opt_in": [p.name for p in policies if p.opt_in],
        "recommended": recommend({p.name: rows[p.name] for p in policies if p.runs_in_gateway and not p.opt_in},
                                 device, cloud,
                                 cp.device_only(cal, cost), cp.cloud_only(cal, cost), profile),
        "goals": goals(rows, heldout, cloud, profile),
        "per_task": per_task_rows(policies, cal, held, cheapest_targets(
            rows, profile["quality_goal"] * cp.cloud_only(cal, cost)["quality"]), cost) if per_task else {},
        "all_items": {"device_only": cp.device_only(items, cost)["quality"],
                      "cloud_only": cp.cloud_only(items, cost)["quality"],
                      "escalated": round(float(items.esc_ok.mean()), 4),
                      "escalated_equals_cloud_text": round(sum(
                          r["escalation"]["text"].strip() == r["cloud"]["text"].strip() for r in records)
                          / len(records), 4)},
    }
    return summary


def cheapest_targets(rows: dict, quality: float) -> dict[str, float]:
    """Per policy, the target cloud share of its cheapest row reaching ``quality`` on the calibration half."""
    out = {}
    for name, prow in rows.items():
        ok = [r for r in prow if r["calibration"]["quality"] >= quality - 1e-9]
        if ok:
            out[name] = min(ok, key=lambda r: r["calibration"]["cost_rel"] or 0.0)["target_cloud_fraction"]
    return out


def per_task_rows(policies: list, cal: cp.Items, held: cp.Items, targets: dict[str, float],
                  cost: cp.CostModel) -> dict[str, Any]:
    """Each policy's threshold fitted on the whole (mixed) calibration half, applied to each task's held-out
    items alone: does a gate fitted once hold on each task?"""
    out: dict[str, Any] = {}
    for task in sorted(set(held.task)):
        sub = held.subset([i for i, t in enumerate(held.task) if t == task])
        entry: dict[str, Any] = {"n": len(sub), "device_only": cp.device_only(sub, cost)["quality"],
                                 "cloud_only": cp.cloud_only(sub, cost)["quality"], "policies": {}}
        for pol in policies:
            if pol.name in targets:
                t = threshold_for_cloud_fraction(pol.score(cal), targets[pol.name])
                entry["policies"][pol.name] = {"target_cloud_fraction": targets[pol.name], **pol.evaluate(sub, t)}
        out[task] = entry
    return out


def escalation_stats(held: cp.Items) -> dict[str, Any]:
    """What escalating every item cost the cloud, against answering from scratch (cloud-only)."""
    def mean(a) -> float:
        return round(float(a.mean()), 2)

    return {"device_answer_tokens": mean(held.device_tokens), "drafts_proposed": mean(held.esc_drafts),
            "drafts_accepted_verified_only": mean(held.esc_accepted),
            "cloud_tokens_generated": mean(held.esc_out), "cloud_passes": mean(held.esc_passes),
            "cloud_calls": mean(held.esc_calls), "device_tokens_kept_by_cloud": mean(held.agreed),
            "cloud_only_tokens_generated": mean(held.cloud_out), "cloud_only_passes": mean(held.cloud_out)}


def recommend(rows: dict, device: dict, cloud: dict, cal_device: dict, cal_cloud: dict,
              profile: dict) -> dict[str, Any] | None:
    """The cheapest setting that meets the quality goal with TTFT <= goal x device mode's, chosen on
    the calibration half; its held-out numbers say whether the choice holds (``met``)."""
    factor = profile["ttft_goal_vs_device"]
    ok = [(r["calibration"]["cost_rel"] or 0.0, name, r) for name, prow in rows.items() for r in prow
          if r["calibration"]["quality"] >= profile["quality_goal"] * cal_cloud["quality"] - 1e-9
          and r["calibration"]["ttft_median_ms"] <= factor * cal_device["ttft_median_ms"]]
    if not ok:
        return None
    _, name, r = min(ok, key=lambda x: (x[0], x[1]))
    return {"policy": name, "threshold": r["threshold"], "target_cloud_fraction": r["target_cloud_fraction"],
            "cloud_fraction": r["cloud_fraction"], "quality": r["quality"],
            "quality_vs_cloud": round(r["quality"] / cloud["quality"], 4) if cloud["quality"] else None,
            "cost_rel": r["cost_rel"], "ttft_ms": r["ttft_median_ms"], "ttft_mean_ms": r["ttft_ms"],
            "ttft_limit_ms": round(factor * device["ttft_median_ms"], 1),
            "met": bool(r["quality"] >= profile["quality_goal"] * cloud["quality"] - 1e-9
                        and r["ttft_median_ms"] <= factor * device["ttft_median_ms"])}


def goals(rows: dict, heldout: dict, cloud: dict, profile: dict) -> dict[str, Any]:
    """The issue's three goals, checked on held-out rows."""
    cq = cloud["quality"]
    g1 = [(n, r) for n, prow in rows.items() for r in prow if cp.meets_goal(r, 0.95 * cq, 0.30, "cloud_fraction")]
    g2 = [(n, r) for n, prow in rows.items() for r in prow if cp.meets_goal(r, 0.97 * cq, 0.20)]
    # issue 24: 95% of cloud quality at <= 30% of cloud-only cost (a cloud check costs what it costs)
    g3 = [(n, r) for n, prow in rows.items() for r in prow if cp.meets_goal(r, 0.95 * cq, 0.30)]
    beats = {}
    for name, prow in rows.items():
        band = [r for r in prow if 0.10 - 1e-9 <= r["target_cloud_fraction"] <= 0.50 + 1e-9]
        beats[name] = {"all": bool(band) and all(r["beats_random"] for r in band),
                       "misses_at": [r["target_cloud_fraction"] for r in band if not r["beats_random"]]}
    return {"q95_at_30pct_cloud": {"met": bool(g1), "by": sorted({n for n, _ in g1}),
                                   "rows": [f"{n}@{r['cloud_fraction']}" for n, r in g1][:5],
                                   "heldout_fitted": heldout["met"] and heldout["cloud_fraction"] <= 0.30},
            "q97_at_20pct_cost": {"met": bool(g2), "by": sorted({n for n, _ in g2}),
                                  "rows": [f"{n}@{r['cost_rel']}" for n, r in g2][:5]},
            "q95_at_30pct_cost": {"met": bool(g3), "by": sorted({n for n, _ in g3}),
                                  "rows": [f"{n}@{r['cost_rel']}" for n, r in g3][:5]},
            "gate_beats_random_10_50": beats}


# -- output -----------------------------------------------------------------------------------------------
def markdown(task: str, data: dict, smoke: bool, png: str) -> str:
    s = data["summary"]
    fr = data["settings"]["report_fractions"]
    head = f"## {task} — {'SMOKE RUN, ' if smoke else ''}{s['n']} items ({s['n_heldout']} held out)\n\n"
    if smoke:
        head += ("> **Smoke run** (`--limit`): too few items for any conclusion; it shows the pipeline works "
                 "end to end. The full run is `python bench/cascade.py --task all`.\n\n")
    m = data["models"]
    head += (f"Device {m['device']}, cloud {m['cloud']}, greedy; thresholds and the learned gate fitted on "
             f"the calibration half (seed {data['settings']['split']['seed']}), every number below on the "
             "held-out half. "
             f"Sandbox: {data['sandbox']['isolation'] if data.get('sandbox') else 'n/a'}.\n\n")

    def line(name: str, r: dict) -> str:
        return (f"| {name} | {r['quality']:.3f} | {r['cloud_fraction']:.2f} | {_f(r['cost_rel'])} | "
                f"{r['ttft_ms']:.0f} | "
                f"{r['latency_mean_ms']:.0f} | {r['latency_p95_ms']:.0f} | {r['cloud_tokens_in']:.0f} / "
                f"{r['cloud_tokens_out']:.0f} |")

    base = ("| policy | quality | cloud fraction | cost vs cloud | TTFT ms | latency mean ms | "
            "latency p95 ms | cloud tokens in / out |\n|---|---|---|---|---|---|---|---|\n"
            + "\n".join([line("device only", s["device_only"]), line("cloud only", s["cloud_only"]),
                         line("oracle", s["oracle"])]) + "\n")
    cols = " | ".join(f"{int(f * 100)}%" for f in fr)
    table = ("\nQuality at a target share of cloud calls (realised share in brackets):\n\n"
             f"| policy | {cols} |\n|---|" + "---|" * len(fr) + "\n")
    rand = {r["target_cloud_fraction"]: r for r in s["random"]}
    table += ("| random (expected) | " + " | ".join(f"{rand[f]['quality']:.3f}" for f in fr if f in rand)
              + " |\n")
    for name, prow in s["policies"].items():
        by = {r["target_cloud_fraction"]: r for r in prow}
        table += f"| {name} | " + " | ".join(
            f"{by[f]['quality']:.3f} ({by[f]['cloud_fraction']:.2f})"
            f"{'' if by[f]['beats_random'] else ' ≤rnd'}"
            for f in fr if f in by) + " |\n"
    streams = [(name, r) for name, prow in s["policies"].items() if name.startswith("stream-")
               for r in prow if r["target_cloud_fraction"] in fr and r.get("cloud_fraction")]
    if streams:
        table += ("\nStreaming rows: a hand-over after the device left the cloud's path is scored from a "
                  "live run through the gateway where one was made (`--live-stream`); otherwise it is "
                  "counted right only if the device and the escalated answers both were, between bounds:\n\n"
                  "| row | quality | live hand-overs | unscored share | bounds |\n|---|---|---|---|---|\n"
                  + "".join(f"| {name} @ {int(r['target_cloud_fraction'] * 100)}% | {r['quality']:.3f} | "
                            f"{r.get('live', 0)} | {r['unknown']:.2f} | "
                            f"{r['quality_low']:.3f}–{r['quality_high']:.3f} |\n" for name, r in streams))
    h = s["heldout"]
    held = (f"\nHeld-out check: the threshold that reaches {h['target']:.0%} of cloud-only quality on the "
            f"calibration half ({h['policy']}, fewest escalations there) gives on the held-out half: "
            f"quality {h['quality']:.3f} "
            f"(target {h['target_quality']:.3f}: {'met' if h['met'] else 'not met'}), cloud fraction "
            f"{h['cloud_fraction']:.2f}, cost {_f(h['cost_rel'])} of always-cloud, "
            f"TTFT {h['ttft_ms']:.0f} ms.\n")
    e = s["escalation"]
    esc = ("\nNo shared tokenizer: an escalated request is answered by the cloud from scratch after the "
           "device's answer (the gateway's gate; streaming is off), so escalation costs what cloud-only "
           "does.\n"
           if not s.get("shared_tokenizer", True) else
           "\nEscalation reuses the device answer as a draft (per escalated request, measured): the device "
           f"answered {e['device_answer_tokens']:.0f} tokens; the cloud verified {e['drafts_proposed']:.0f} "
           f"drafts and accepted "
           f"{e['drafts_accepted_verified_only']:.0f} (verified only, not generated), generated "
           f"{e['cloud_tokens_generated']:.0f} tokens itself in {e['cloud_passes']:.1f} passes "
           f"({e['cloud_calls']:.1f} calls) — against {e['cloud_only_tokens_generated']:.0f} tokens and as "
           f"many passes when the cloud answers alone.\n")
    rec = s["recommended"]
    if rec and rec.get("why"):  # nothing met the goals: what is shipped instead
        rec = None
    recline = (f"\nCheapest setting meeting {data['settings']['quality_goal']:.0%} of cloud quality with "
               f"TTFT ≤ {data['settings']['ttft_goal_vs_device']}× device mode's, chosen on the calibration "
               "half: "
               + (f"{rec['policy']} at threshold {rec['threshold']}; held out: "
                  f"cloud {rec['cloud_fraction']:.2f}, "
                  f"quality {rec['quality']:.3f}, cost {_f(rec['cost_rel'])}, TTFT {rec['ttft_ms']:.0f} ms "
                  f"(limit {rec['ttft_limit_ms']:.0f}) — {'holds' if rec['met'] else 'does not hold'} "
                  "on held-out.\n"
                  if rec else "none on the calibration half.\n"))
    g = s["goals"]
    bench_only, opt_in = set(s.get("bench_only", [])), set(s.get("opt_in", []))

    def named(n: str) -> str:
        return f"{n} (bench-only)" if n in bench_only else f"{n} (opt-in)" if n in opt_in else n

    def verdict(goal: dict) -> str:
        return f"**met** by {', '.join(map(named, goal['by']))}" if goal["met"] else "**not met**"

    goal_lines = ("\nGoals (held-out): ≥95% of cloud quality at ≤30% cloud calls: "
                  f"{verdict(g['q95_at_30pct_cloud'])}; "
                  f"≥95% at ≤30% of cloud cost: {verdict(g['q95_at_30pct_cost'])}; "
                  f"≥97% at ≤20% of cloud cost: {verdict(g['q97_at_20pct_cost'])}; "
                  "gate beats random at every target from 10% to 50%: "
                  + ", ".join(f"{named(n)} {_yes(v['all'])}" for n, v in g["gate_beats_random_10_50"].items())
                  + ".\n")
    if opt_in:
        goal_lines += (f"\n{', '.join(sorted(opt_in))}: runs in the gateway where the user turns it on "
                       "(`cascade.verifiers: [examples, confidence]`: it executes the answer's code in the sandbox); "
                       "never chosen as `tandem-auto`'s default.\n")
    if bench_only:
        goal_lines += (f"\n{', '.join(sorted(bench_only))}: bench-only (a yardstick the gateway does not "
                       "run); never chosen as `tandem-auto`'s setting.\n")
    return head + base + table + held + esc + recline + goal_lines + f"\n![{task}]({png})\n"


TITLE = "# Cascade: what each share of cloud calls buys\n\n"
STREAM_NOTE = """
### How the numbers are made

* **Runs.** Each item runs three ways through the gateway's own parts (`Runtime`: device engine in-process,
  local cloud over HTTP, loopback; the two take turns, so each has every core): device only (the engine's
  greedy answer with per-token log-probabilities, entropies and arrival times), cloud only (`tandem-cloud`),
  and a forced escalation (`tandem-cascade` with `cascade.policy=gate`, `cascade.threshold=1000`: the cloud
  verifies the device answer as one long draft and continues from its first rejection). An escalated item gets
  that run's answer, trace and times — measured, not assumed equal to the cloud-only answer. The configured
  RTT is added per cloud call.
* **Gates** escalate when a score of the device answer is below a threshold (`routers.confidence.score`: mean,
  min, tail = mean of the worst 10 % of token log-probs, entropy = minus the mean per-token entropy; answers
  that loop escalate whatever their score, as in the gateway). **learned**: logistic regression on those
  features plus prompt and answer length. Kept answers reach the client only when complete (TTFT = the
  device's whole answer time), because the gate judges the finished answer.
* **selftest** (HumanEval) runs the device's answer, in the sandbox, on the examples its problem's docstring
  states (`>>> f(1)` / `2`, or `f(1) ==> 2`; 138 of 164 problems give some, and the reference solutions pass
  every parsed example in 134 of those 138; the other four are errors in HumanEval's docstrings). An answer
  that fails an example escalates first, then those with nothing to run, then those passing all; the entropy
  score orders each group; the sandbox run's time counts in every answer's TTFT. It shows what a task's own
  check adds to token confidence. The gateway runs it where the user turns it on (`cascade.verifiers:
  [examples, confidence]`; executing generated code on the device is a
  choice for the application, not for the router), so it is never the recommended setting.
* **Streaming cascade** (the gateway's `cascade.policy: stream`, replayed from the cached per-token data with
  its own rule, `routers.confidence.first_unsure`). Device tokens stream as they are generated while the
  running mean log-prob of the last *w* tokens stays at or above the threshold; at the first token below it,
  that token is held back and the cloud takes over from there (verifying the device's remaining tokens as
  drafts, as the cascade does). If the shown prefix is within the part of the device answer the cloud itself
  agreed with (the forced escalation's accepted prefix), the result is exactly the escalated answer, so its
  correctness is known. Otherwise the shown prefix has left the cloud's path, and `--live-stream` runs that
  hand-over through the gateway (`tandem-cascade` with `cascade.policy=stream` at the row's window and
  threshold; one run per item and hand-over token, cached) and scores it. Where no live run exists it counts
  as right only if both the device and the escalated answers were right, with 0/1 bounds
  (`quality_low`/`quality_high`, `unknown` and `live` in the JSON). TTFT: the device's first token (the
  cloud's first answer when it hands over at the very first token); latency: device time to the hand-over
  token plus the escalation's cloud phase.
* **Random** is the expected value at each cloud fraction (linear between device-only and escalated quality),
  **oracle** escalates exactly the items where that turns a wrong answer into a right one.
* **Cost** relative to always-cloud, from `configs/bench-cascade.yaml` prices: cloud input tokens = prompt +
  drafts verified, output tokens = tokens the cloud generated. Cloud-only: prompt in, its answer out. Each
  token is counted once, as for a cloud that keeps the conversation's KV cache between verification calls
  (Tandem's local cloud does; stock vLLM with `prompt_logprobs` recomputes the context every round).
  `cost_rel` depends only on the input:output price ratio; device energy is reported apart (`device_j`).
* **A device without the cloud's tokenizer** (SmolLM2 with the Qwen cloud): the gateway gates (nothing to
  stream into), and an escalated request is the unchanged request passed to the cloud, i.e. the cloud-only
  run, after the device's answer; the cloud-only runs are shared with the first device's cache (same request,
  same greedy answer).
* **Times** are wall-clock on the machine named below (threads per model in the JSON's `settings.threads`:
  runs cached by earlier smoke runs used 1; `settings.escalations_pipelined` counts the escalations timed
  while the device drafted during the cloud's verification on the same cores, which oversubscribed them), on
  loopback; the configured RTT is added per cloud call. Phases run in passes over all items (every device
  answer, then every cloud answer, then every escalation), so no request finds its own prompt already in a KV
  cache.
"""


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _yes(ok: bool) -> str:
    return "met" if ok else "not met"


def plot(task: str, summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    rnd = summary["random"]
    a1.plot([r["cloud_fraction"] for r in rnd], [r["quality"] for r in rnd], "k--", label="random (expected)")
    for name, rows in summary["policies"].items():
        style = ":" if name.startswith("stream") else "-"
        a1.plot([r["cloud_fraction"] for r in rows], [r["quality"] for r in rows], style, marker=".",
                label=name)
        a2.plot([r["cost_rel"] for r in rows], [r["quality"] for r in rows], style, marker=".", label=name)
    for ax, x_of in ((a1, "cloud_fraction"), (a2, "cost_rel")):
        o, d, c = summary["oracle"], summary["device_only"], summary["cloud_only"]
        ax.plot([o[x_of]], [o["quality"]], "r*", markersize=12, label="oracle")
        ax.plot([d[x_of]], [d["quality"]], "ks", label="device only")
        ax.plot([c[x_of]], [c["quality"]], "k^", label="cloud only")
        ax.axhline(0.95 * c["quality"], color="grey", lw=0.6, ls=":")
        ax.set_ylabel("quality (held-out)")
        ax.grid(alpha=0.3)
    a2.plot([r["cost_rel"] for r in rnd], [r["quality"] for r in rnd], "k--", label="random (expected)")
    a1.set_xlabel("share of requests reaching the cloud")
    a2.set_xlabel("cloud cost relative to always-cloud")
    a1.set_title("Quality vs cloud calls")
    a2.set_title("Quality vs cost")
    a2.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Cascade on {task}: {summary['n_heldout']} held-out items", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main -------------------------------------------------------------------------------------------------
def run_task(task_name: str, args: argparse.Namespace, profile: dict) -> tuple[dict, str] | None:
    task = TASKS[task_name]()
    items = task.items()
    full = len(items)
    if args.limit:
        items = items[:args.limit]
    max_tokens = profile["tasks"][task_name]["max_tokens"]
    device, cloud = args.device or profile["models"]["device"], args.cloud or profile["models"]["cloud"]
    cache = Cache(pair_dir(task_name, device, cloud))
    records = asyncio.run(collect(task_name, items, cache, max_tokens, device, cloud,
                                  generate=not args.no_generate))
    if args.rescore_answers:
        rescore_answers(task_name, records, items, cache)
    if args.embed_tokens or not args.no_generate:  # a router reads one length: the gateway's (EMBED_TOKENS)
        reembed(records, items, cache, device, args.embed_tokens or EMBED_TOKENS)
    lengths = sorted({embed_length(r) for r in records})
    if len(lengths) > 1:
        raise SystemExit(f"{task_name}: records embedded at {lengths} tokens; a query router reads one length: "
                         f"run without --no-generate (or with --embed-tokens {EMBED_TOKENS})")
    if args.export_records and device == profile["models"]["device"] and cloud == profile["models"]["cloud"]:
        print(f"wrote {export_records(task_name, records)} ({len(records)} records)")
    add_self_tests(task_name, records, items, cache, redo=args.rescore_answers)
    if len(records) < 4:
        print(f"{task_name}: only {len(records)} cached items; nothing to report", file=sys.stderr)
        return None
    smoke = len(items) < full
    done = {r["id"] for r in records}
    private = kept_private(items, cache, max_tokens, device, cloud)
    missing = [it.id for it in items if it.id not in done and it.id not in private]
    for ids, why in ((private, "left out: the gateway keeps them on the device"),
                     (missing, "have no complete record (run again to retry them)")):
        if ids:
            print(f"{task_name}: {len(ids)} items {why}: {', '.join(ids[:10])}{' …' if len(ids) > 10 else ''}",
                  file=sys.stderr)
    sandbox = task.sandbox.describe() if task_name == "humaneval" else None
    summary = summarize(records, profile)
    live = {"fractions": list(args.live_stream or []), "moved": 0}
    todo = (handovers_to_run(records, summary, profile, live["fractions"]) if summary["shared_tokenizer"]
            else [])
    if todo and not args.no_generate:
        live["moved"] = asyncio.run(collect_handovers(task_name, todo, items, records, cache, max_tokens,
                                                      device,
                                                      cloud))
        summary = summarize(records, profile)
    live["runs"] = sum(1 for r in records for h in r.get("handovers", {}).values() if "score" in h)
    data = {
        "summary": summary,
        "models": {"device": device, "cloud": cloud},
        "settings": {"max_tokens": max_tokens, "temperature": 0, "split": profile["split"],
                     "cost": profile["cost"], "quality_goal": profile["quality_goal"],
                     "ttft_goal_vs_device": profile["ttft_goal_vs_device"],
                     "report_fractions": profile["sweep"]["report_fractions"],
                     "streaming_windows": profile["streaming"]["windows"],
                     "scoring": ("pass@1 in gateway.core.verifiers.sandbox" if task_name == "humaneval"
                                 else "parsed letter"),
                     "threads": thread_counts(records),
                     "escalations_pipelined": pipelined_escalations(records),
                     "live_stream": live,
                     "smoke": smoke},
        "data": {"source": f"{task.source.requirement}:{task.source.member}", "sha256": task.sha256,
                 "items": len(records), "of": full, "missing": missing,
                 "private": private},
        "sandbox": sandbox,
        "machine": machine(),
        "date": now_iso(),
    }
    suffix = "" if device == profile["models"]["device"] and cloud == profile["models"]["cloud"] \
        else f"_{_safe(device)}"
    name = f"cascade{'_smoke' if smoke else ''}_{task_name}{suffix}"
    md = markdown(task_name, data, smoke, f"{name}.png")
    write_results(name, data, md)
    plot(task_name, data["summary"], RESULTS / f"{name}.png")
    print(f"wrote {RESULTS / (name + '.json')}")
    return data, md


MIXED = ("humaneval", "mmlu", "boolq")


def run_mixed(args: argparse.Namespace, profile: dict) -> tuple[dict, str] | None:
    """The three tasks' records as one workload, served by one policy with one threshold: quality is the mean
    of the tasks' (each weighs the same), cost the summed cloud cost against always-cloud. From the cache
    only (``run_task`` generates). Adds ``per_task``: the mixed fit's thresholds applied to each task alone."""
    device, cloud = args.device or profile["models"]["device"], args.cloud or profile["models"]["cloud"]
    records: list[dict] = []
    sources = {}
    for name in MIXED:
        task = TASKS[name]()
        items = task.items()
        cache = Cache(pair_dir(name, device, cloud))
        recs = asyncio.run(collect(name, items, cache, profile["tasks"][name]["max_tokens"], device, cloud,
                                   generate=False))
        add_self_tests(name, recs, items, cache)
        records += recs
        sources[name] = {"items": len(recs), "of": len(items), "source": f"{task.source.requirement}:"
                                                                       f"{task.source.member}", "sha256": task.sha256}
    if any(v["items"] < 4 for v in sources.values()):
        print(f"mixed: too few records per task {sources}; nothing to report", file=sys.stderr)
        return None
    summary = summarize(records, profile, per_task=True)
    summary["shipped"] = shipped_default(records, profile)
    if summary["recommended"] is None:  # nothing met the goals: say what tandem-auto ships instead, and why
        factor, device_ttft = profile["ttft_goal_vs_device"], summary["device_only"]["ttft_median_ms"]
        summary["recommended"] = {**summary["shipped"], "met": False, "ttft_limit_ms": round(factor * device_ttft, 1),
                                  "why": "no setting that runs in the gateway reached 95% of cloud-only quality "
                                         "on the calibration half with median TTFT <= 1.5x device mode's; "
                                         f"the shipped default is configs/default.yaml's: {shipped_words(summary)}"}
    data = {"summary": summary, "models": {"device": device, "cloud": cloud},
            "settings": {"temperature": 0, "split": profile["split"], "cost": profile["cost"],
                         "quality_goal": profile["quality_goal"], "ttft_goal_vs_device": profile["ttft_goal_vs_device"],
                         "report_fractions": profile["sweep"]["report_fractions"],
                         "streaming_windows": profile["streaming"]["windows"],
                         "weighting": "each task weighs the same in quality; cost is summed",
                         "smoke": False},
            "data": sources, "sandbox": None, "machine": machine(), "date": now_iso()}
    sh = summary["shipped"]
    live = sh["ttft_live"] or {}
    md = markdown("mixed", data, False, "cascade_mixed.png") + (
        f"\n**tandem-auto as shipped** ({sh['policy']}: {shipped_words(summary)}), held out: quality {sh['quality']:.3f} ({sh['quality_vs_cloud']:.0%} of cloud-only), "
        f"{sh['cloud_fraction']:.0%} of requests reach the cloud, cost {_f(sh['cost_rel'])} of always-cloud; "
        f"live median TTFT {live.get('ttft_median_ms', 0):.0f} ms = {live.get('ttft_vs_device', 0):.3f}× device "
        "mode's (bench/cascade_ttft.py --task mixed).\n") + per_task_markdown(summary)
    write_results("cascade_mixed", data, md)
    plot("mixed", summary, RESULTS / "cascade_mixed.png")
    print(f"wrote {RESULTS / 'cascade_mixed.json'}")
    return data, md


def shipped_words(summary: dict) -> str:
    """The shipped default in words, for the reports."""
    sh = summary["shipped"]
    stream = f"the streaming cascade at {sh['threshold']}"
    return f"the query router, then {stream}" if sh["query_router"] else stream


def shipped_default(records: list[dict], profile: dict) -> dict[str, Any]:
    """tandem-auto as configs/default.yaml ships it (the query router where it is on, then the streaming
    cascade at its window and threshold), on the held-out half, with its live TTFT from
    bench/cascade_ttft.py --task mixed."""
    from gateway.config import load_config

    cfg = load_config()
    cost = cost_model(profile)
    _, cal, held = halves(records, profile)
    name = f"query+stream-w{cfg.cascade.window}" if cfg.routing.query_router else f"stream-w{cfg.cascade.window}"
    policy = next(p for p in make_signal_policies(cal, cost, [cfg.cascade.window], profile["learned"]["l2"])
                  + cp.make_policies(cal, cost, [cfg.cascade.window], profile["learned"]["l2"]) if p.name == name)
    r = policy.evaluate(held, cfg.cascade.window_threshold)
    live = RESULTS / "cascade_ttft_mixed.json"
    ttft = json.loads(live.read_text())["summary"].get("auto") if live.is_file() else None
    return {"policy": name, "threshold": cfg.cascade.window_threshold, "query_router": cfg.routing.query_router,
            "cloud_fraction": r["cloud_fraction"], "quality": r["quality"],
            "quality_vs_cloud": round(r["quality"] / cp.cloud_only(held, cost)["quality"], 4),
            "cost_rel": r["cost_rel"], "ttft_ms": r["ttft_median_ms"],
            "ttft_live": ttft}


def per_task_markdown(summary: dict) -> str:
    rows = summary.get("per_task", {})
    out = ("\nThe mixed fit applied to each task alone (held-out; the policy and threshold chosen on the mixed "
           "calibration half):\n\n| task | n | device only | cloud only | policy | quality | of cloud | cloud share "
           "| cost vs cloud |\n|---|---|---|---|---|---|---|---|---|\n")
    for task, t in rows.items():
        for name, r in t["policies"].items():
            out += (f"| {task} | {t['n']} | {t['device_only']:.3f} | {t['cloud_only']:.3f} | {name} | "
                    f"{r['quality']:.3f} | {r['quality'] / t['cloud_only'] if t['cloud_only'] else 0:.0%} | "
                    f"{r['cloud_fraction']:.2f} | {_f(r['cost_rel'])} |\n")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=[*TASKS, "mixed", "all"], default="all")
    ap.add_argument("--embed-tokens", type=int,
                    help="embed the cached prompts again at this many tokens (the query router's input; no "
                         f"generation): what a shorter, cheaper embedding keeps (default {EMBED_TOKENS}, the "
                         "length the gateway's router reads: every record is embedded at it)")
    ap.add_argument("--export-records", action="store_true",
                    help="write each task's complete records to bench/data (gzip) after the run")
    ap.add_argument("--limit", type=int, help="only the first N items of each task (a smoke run)")
    ap.add_argument("--no-generate", action="store_true",
                    help="report from the cache only; never load a model")
    ap.add_argument("--rescore-answers", action="store_true",
                    help="score the cached answers again (no model)")
    ap.add_argument("--profile", type=Path, help=f"benchmark settings (default {PROFILE.relative_to(ROOT)})")
    ap.add_argument("--live-stream", type=float, nargs="*", metavar="FRACTION",
                    help="run the streaming cascade live wherever its rows at these target cloud fractions "
                         "hand over past the cloud's path (the replay can only bound those); "
                         "no value: the profile's")
    ap.add_argument("--device", help="device model (default: the profile's)")
    ap.add_argument("--cloud", help="cloud model (default: the profile's)")
    args = ap.parse_args(argv)
    profile = load_profile(args.profile)
    if args.live_stream == []:
        args.live_stream = profile["streaming"].get("live_fractions", [0.2, 0.3, 0.5])
    tasks = list(TASKS) if args.task == "all" else [] if args.task == "mixed" else [args.task]
    sections, smoke = [], False
    for t in tasks:
        out = run_task(t, args, profile)
        if out is not None:
            sections.append(out[1])
            smoke = smoke or out[0]["settings"]["smoke"]
    if args.task in ("mixed", "all") and not args.limit:
        mixed = run_mixed(args, profile)
        if mixed is not None:
            sections.append(mixed[1])
    if smoke and sections:  # a smoke run's summary holds just what ran
        (RESULTS / "cascade_smoke.md").write_text(TITLE + "\n".join(sections) + STREAM_NOTE)
        print(f"wrote {RESULTS / 'cascade_smoke.md'}")
    elif sections:  # the full report gathers every task and device pair written so far, whichever ran now
        parts = [p.read_text() for t in [*TASKS, "mixed"] for p in sorted(RESULTS.glob(f"cascade_{t}*.md"))]
        (RESULTS / "cascade.md").write_text(TITLE + "\n".join(parts) + STREAM_NOTE)
        print(f"wrote {RESULTS / 'cascade.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
