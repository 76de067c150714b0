"""Prometheus metrics, one registry per app (tests build many apps in one process).

Names follow vLLM's where the idea is the same (``spec_decode_num_draft_tokens_total``…),
so existing dashboards read them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.core.trace import RouteTrace


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("tandem_requests_total", "Requests by endpoint, mode and status",
                                ["endpoint", "mode", "status"], registry=r)
        self.degraded = Counter("tandem_degraded_total",
                                "Requests the device finished because the cloud failed", registry=r)
        self.tokens = Counter("tandem_completion_tokens_total", "Completion tokens by who produced them",
                              ["source"], registry=r)
        self.prompt_tokens = Counter("tandem_prompt_tokens_total", "Prompt tokens", registry=r)
        self.drafts = Counter("tandem_spec_decode_num_draft_tokens_total", "Draft tokens proposed",
                              registry=r)
        self.accepted = Counter("tandem_spec_decode_num_accepted_tokens_total", "Draft tokens accepted",
                                registry=r)
        self.cloud_calls = Counter("tandem_cloud_calls_total", "HTTP calls to the cloud", registry=r)
        self.cloud_bytes = Counter("tandem_cloud_bytes_total", "Bytes exchanged with the cloud",
                                   ["direction"], registry=r)
        self.verify_fallbacks = Counter(
            "tandem_verify_fallbacks_total",
            "Verifications redone uncached because the cache-keeping answer was unusable", registry=r)
        self.escalations = Counter("tandem_cascade_escalations_total", "Cascade answers handed to the cloud",
                                   registry=r)
        self.verdicts = Counter("tandem_verifier_verdicts_total", "Cascade verifier verdicts by outcome",
                                ["verifier", "outcome"], registry=r)
        self.verifier_seconds = Histogram("tandem_verifier_seconds", "What each cascade check cost",
                                          ["verifier"], registry=r,
                                          buckets=(0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.pii = Counter("tandem_pii_detections_total", "Detected personal data by kind", ["kind"],
                           registry=r)
        self.latency = Histogram("tandem_request_seconds", "Request latency", ["mode"], registry=r,
                                 buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.ttft = Histogram("tandem_time_to_first_token_seconds", "Time to first token", ["mode"],
                              registry=r, buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.queue = Gauge("tandem_device_queue_depth", "Requests waiting for the device model", registry=r)
        self.inflight = Gauge("tandem_requests_in_flight", "Requests being served", registry=r)
        self.cloud_up = Gauge("tandem_cloud_available", "1 when the cloud is considered reachable",
                              registry=r)

    def observe(self, endpoint: str, status: int, trace: RouteTrace, seconds: float,
                prompt_tokens: int) -> None:
        self.requests.labels(endpoint, trace.mode, str(status)).inc()
        self.latency.labels(trace.mode).observe(seconds)
        if status != 200:
            return
        self.prompt_tokens.inc(prompt_tokens)
        self.tokens.labels("device").inc(trace.device_tokens)
        self.tokens.labels("cloud").inc(trace.cloud_tokens)
        self.drafts.inc(trace.drafts_proposed)
        self.accepted.inc(trace.drafts_accepted)
        self.cloud_calls.inc(trace.cloud_calls)
        self.verify_fallbacks.inc(trace.verify_fallbacks)
        self.cloud_bytes.labels("up").inc(trace.bytes_up)
        self.cloud_bytes.labels("down").inc(trace.bytes_down)
        if trace.degraded:
            self.degraded.inc()
        if trace.escalated:
            self.escalations.inc()
        for kind, n in trace.pii.items():
            self.pii.labels(kind).inc(n)
        for v in trace.verdicts:
            self.verdicts.labels(v["verifier"], v["outcome"]).inc()
            self.verifier_seconds.labels(v["verifier"]).observe(v["ms"] / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)
