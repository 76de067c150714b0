"""The collaboration engine: one request's life from parsed body to a stream of chunks.

    job = await collaborator.plan(body, privacy_header, api_key)   # may raise gateway.core.errors
    async for chunk in collaborator.run(job): ...                  # text as it is final

``plan`` (``gateway.core.planner``) tags privacy, picks the mode, redacts what will leave the
device, tokenizes and checks the context window: everything that can fail with a client
error happens before the first byte is streamed. ``run`` executes the planned mode, one
module each under ``gateway.core.modes``:

* ``device``      — the device model alone.
* ``cloud``       — the cloud model alone (pass-through).
* ``speculative`` — the device drafts, the cloud verifies.
* ``cascade``     — the device answers; the cloud takes over where it is unsure.

Each thing happens in one place: one device turn per request (``DeviceTurn``), one
verification path (the speculative decoder), one answer and its accounting
(``AnswerBuilder``), and one hand-over, here: a mode that loses the cloud records a
``Handover`` and returns, and the device continues from exactly what has been generated,
using the tokens it already holds; the trace says ``degraded`` and the client gets a whole
answer. However the request ends (finished, failed, or the client gone), ``job.answer``
holds what was produced and the trace its cloud traffic.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Callable

from device_runtime.engine import LlamaEngine
from device_runtime.tools import Tools
from device_runtime.worker import DeviceWorker
from gateway.api.protocol import ChatCompletionRequest, CompletionRequest
from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.health import NetworkMonitor
from gateway.cloud_client.transport import CallStats
from gateway.config import TandemConfig
from gateway.core.answer import AnswerBuilder, Chunk
from gateway.core.modes.cascade import run_cascade
from gateway.core.modes.cloud import run_cloud
from gateway.core.modes.device import run_device
from gateway.core.modes.speculative import SpeculativeSettings, run_speculative
from gateway.core.planner import Job, Planner
from gateway.core.query import Embedder, QueryStep, load_router, router_path
from gateway.core.state import Answer
from gateway.core.tokenizers import TokenizerCheck, compare_tokenizers
from gateway.core.verifiers.base import Verifier, VerifierChain
from gateway.core.verifiers.cloud_check import CloudCheck
from gateway.core.verifiers.confidence import Confidence
from gateway.core.verifiers.degeneration import Degeneration
from gateway.core.verifiers.examples import Examples
from gateway.core.verifiers.sandbox import Limits, Sandbox
from gateway.core.verifiers.schema import Schema, ToolCalls
from routers.confidence import ConfidenceRouter
from routers.cost import CloudBudget
from routers.draft_length import DraftLengthController

log = logging.getLogger("tandem.collaborate")

Mode = Callable[["Collaborator", Answer], AsyncIterator[Chunk]]
RUN: dict[str, Mode] = {
    "device": run_device,
    "cloud": run_cloud,
    "speculative": run_speculative,
    "cascade": run_cascade,
}


class Collaborator:
    def __init__(
        self,
        config: TandemConfig,
        device: DeviceWorker,
        cloud: CloudClient | None,
        monitor: NetworkMonitor | None = None,
        embedder: Embedder | None = None,
    ):
        self.config = config
        self.device = device
        self.engine: LlamaEngine = device.engine
        self.cloud = cloud
        self.monitor = monitor or (cloud.monitor if cloud else NetworkMonitor(offline=True))
        self.monitor.offline = self.monitor.offline or cloud is None or config.cloud.offline
        self.budget = CloudBudget(config.budget.cloud_tokens_per_window, config.budget.window_s)
        r = config.routing
        query = (QueryStep(load_router(router_path(r.query_router), embedder), embedder, r.query_threshold)
                 if r.query_router and embedder is not None and cloud is not None else None)
        self.planner = Planner(config, self.engine, self.monitor, self.budget, cloud is not None, query)
        if cloud is not None:
            self.planner.state.cloud = cloud.load_for  # the auto policy reads the load of a session's replica
        c = config.cascade
        self.confidence = ConfidenceRouter(
            threshold=c.threshold,
            method=c.method,
            quantile=c.quantile,
            window=c.window,
            window_threshold=c.window_threshold,
        )
        s = config.speculative
        self.draft_length = DraftLengthController(k=s.k, k_min=s.k_min, k_max=s.k_max, adaptive=s.adaptive)
        self.spec_settings = SpeculativeSettings(
            s.pipeline,
            s.skip_verify_above,
            s.skip_verify_at_greedy,
            verify_chunk=max(1, c.verify_chunk),
            acceptance=s.acceptance,
            margin=s.margin,
        )
        self.tokenizers = TokenizerCheck(False, "not checked yet", checked=False)
        self._tokenizer_recheck: asyncio.Task | None = None
        self.sandbox: Sandbox | None = None  # for the examples verifier, once check_sandbox found it isolated

    def verifiers(self, stats: CallStats, schema: dict | None = None, tools: Tools | None = None
                  ) -> VerifierChain:
        """The cascade's checks for one request (its cloud calls count in ``stats``): degeneration always,
        the request's JSON schema or tool calls where it asks for them, then ``cascade.verifiers`` in order;
        the examples check where ``check_sandbox`` found the sandbox, the cloud check where the cloud can read
        device tokens."""
        c = self.config.cascade
        chain: list[Verifier] = [Degeneration(span=c.degeneration_span)]
        if schema is not None:
            chain.append(Schema(schema))
        if tools is not None:
            chain.append(ToolCalls(tools))
        for name in c.verifiers:
            if name == "confidence":
                chain.append(Confidence(self.confidence))
            elif name == "examples" and self.sandbox is not None:
                chain.append(Examples(self.sandbox, self.engine.detokenize))
            elif name == "cloud_check" and self.cloud is not None and self.tokenizers.compatible:
                chain.append(
                    CloudCheck(self.cloud, stats, c.cloud_check_threshold, self.spec_settings.margin)
                )
        return VerifierChain(chain)

    # -- start-up and planning ---------------------------------------------------------------------
    async def check_tokenizers(self) -> TokenizerCheck:
        """Speculation needs one tokenizer on both sides (gateway.core.tokenizers)."""
        self.tokenizers = await compare_tokenizers(self.engine, self.cloud)
        (log.info if self.tokenizers.compatible else log.warning)(
            "tokenizer check: %s", self.tokenizers.reason
        )
        return self.tokenizers

    async def check_sandbox(self, unshare: str = "unshare") -> Sandbox | None:
        """The examples verifier runs generated code: only in the full namespace sandbox (no network,
        read-only files, a process limit), never the resource-limits fallback. Checked once, at
        start-up, where ``cascade.verifiers`` names it; where it cannot be made, it stays off and says why."""
        if "examples" not in self.config.cascade.verifiers:
            return None
        t = self.config.cascade.examples_timeout_s
        limits = Limits(cpu_s=max(1, math.ceil(t)), wall_s=t, memory_mb=1024, nproc=32)
        box = await asyncio.to_thread(Sandbox, limits, None, unshare)
        if box.isolation != "namespaces":
            log.warning(
                "cascade.verifiers names examples, but no sandbox can isolate generated code here (%s): "
                "the examples verifier stays off (it needs root and util-linux's unshare, setpriv, prlimit)",
                box.why_not,
            )
            self.sandbox = None
            return None
        log.info("examples verifier: code runs in %s's namespace sandbox (%s)", box.python, limits)
        self.sandbox = box
        return box

    def model_ids(self) -> list[str]:
        return self.planner.model_ids()

    async def plan(
        self,
        body: ChatCompletionRequest | CompletionRequest,
        privacy_header: str | None = None,
        api_key: str | None = None,
        session_header: str | None = None,
        offline: bool = False,
    ) -> Job:
        """``gateway.core.planner``; a cloud that was down at the tokenizer check is checked again once up."""
        if (
            not self.tokenizers.checked
            and self.cloud is not None
            and self.monitor.available()
            and (self._tokenizer_recheck is None or self._tokenizer_recheck.done())
        ):
            self._tokenizer_recheck = asyncio.create_task(self.check_tokenizers())
        return await self.planner.plan(
            body, self.tokenizers, privacy_header, api_key, session_header, offline
        )

    # -- running -----------------------------------------------------------------------------------
    def _next_replica(self, a: Answer, seen: int) -> bool:
        """The cloud failed mid-answer: can another replica of the pool go on from exactly here? Where a
        replica failed since the last try, another is usable and one tokenizer lets the device's drafts be
        verified there, the speculative path continues the answer (the trace names the failover)."""
        aff = a.stats.affinity
        return (self.cloud is not None and aff is not None and len(aff.failed) > seen and not a.out.finished
                and self.tokenizers.compatible and self.cloud.can_fail_over(a.stats))

    def answer_builder(self, job: Job) -> AnswerBuilder:
        return AnswerBuilder(
            self.engine.token_bytes,
            self.engine.is_eos,
            job.params.max_tokens,
            job.stops,
            job.trace,
            job.privacy.redactor,
            n_logprobs=job.n_logprobs,
        )

    async def run(self, job: Job) -> AsyncIterator[Chunk]:
        """The answer as chunks, on the request's one device turn: taken here for the modes that
        start on the device (queue admission, 429, before the first byte), on first need for cloud
        mode. A recorded hand-over lets the device finish (module docstring), unless another replica
        of the cloud pool can go on from exactly there (``_next_replica``)."""
        a = Answer(job, self.answer_builder(job))
        job.answer = a.out
        a.out.mark("planned")
        if self.cloud is not None and job.mode != "device" and job.session_key is not None:
            a.stats.affinity = self.cloud.affinity(job.session_key, lambda: a.out.completion_tokens)
        seen = 0  # replicas seen failing when the cloud last took the answer over
        try:
            async with self.device.lazy_turn() as a.device:
                if job.mode != "cloud":
                    await a.device.take()
                    a.out.mark("device_acquired")
                async for chunk in RUN[job.mode](self, a):
                    yield chunk
                while a.handover is not None and self._next_replica(a, seen):
                    held, a.handover = a.handover.held, None
                    seen = len(a.stats.affinity.failed) if a.stats.affinity else 0
                    await a.device.take(bounded=False)  # the device drafts; the next replica verifies
                    async for chunk in run_speculative(self, a, ahead=held):
                        yield chunk
                if a.handover is not None:
                    a.out.degraded(a.handover.reason)
                    await a.device.take(bounded=False)  # already admitted: wait for the device, never refuse
                    async for chunk in run_device(self, a, lead=a.handover.held):
                        yield chunk
                final = a.out.finish(a.out.finish_reason or "stop")
                if final.text:
                    yield final
        finally:
            a.out.close(a.stats)
            if self.cloud is not None and a.stats.affinity is not None:
                self.cloud.release(a.stats.affinity)
            if a.stats.calls:
                self.budget.record(
                    job.api_key or "anonymous",
                    len(job.prompt_tokens) + job.trace.drafts_proposed + job.trace.cloud_tokens,
                )
