"""Configuration: one pydantic model, read from YAML, then env vars, then CLI flags.

Precedence (last wins): built-in defaults < ``--config FILE`` (default
``configs/default.yaml``) < environment ``TANDEM__SECTION__FIELD=value`` < CLI
``--set section.field=value`` (and the named shortcuts such as ``--port``). Values
from env and ``--set`` are parsed as YAML, so ``--set cloud.endpoints='[http://h:8001]'``
and ``TANDEM__SERVER__API_KEYS='[k1, k2]'`` work.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from routers.policy import Mode

ENV_PREFIX = "TANDEM__"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: list[str] = Field(default_factory=list, description="empty: no authentication")
    metrics_open: bool = False  # /metrics without an API key even when api_keys are set
    max_body_bytes: int = 1_048_576
    max_queue: int = 16
    log_prompts: bool = False
    shutdown_grace_s: float = 10.0
    max_tokens_default: int = 512
    temperature_default: float = 1.0


class DeviceConfig(Section):
    model: str = "qwen2.5-coder-0.5b"
    n_ctx: int = 4096
    n_threads: int | None = None
    pull: bool = True  # fetch a registry model on first use


class LocalCloudConfig(Section):
    model: str = "qwen2.5-coder-1.5b"
    host: str = "127.0.0.1"
    port: int = 0  # 0: the child binds a free port and tells the parent which
    n_ctx: int = 4096
    n_threads: int | None = None
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    failure_rate: float = 0.0
    start_timeout_s: float = 120.0
    # verification sessions (several devices at once): each keeps its KV state; those not being served
    # are saved copies in RAM up to this bound, the least recently used dropped first (next round: a prefill)
    session_memory_mb: float = Field(default=512.0, ge=0)
    max_sessions: int = Field(default=64, ge=1)  # remembered at all; a forgotten one resends its context once


class CloudConfig(Section):
    endpoints: list[str] = Field(default_factory=list, description="empty: start the local stand-in")
    model: str = "cloud"
    api_key: str | None = None
    strategy: Literal["auto", "tandem", "vllm", "vllm-scale-out"] = "auto"
    timeout_s: float = 30.0
    retries: int = 2
    simulated_rtt_ms: float = 0.0
    offline: bool = False
    failure_threshold: int = 3
    cooldown_s: float = 10.0
    local: LocalCloudConfig = Field(default_factory=LocalCloudConfig)


class SpeculativeConfig(Section):
    k: int = 4
    k_min: int = 1
    k_max: int = 8
    adaptive: bool = True
    pipeline: bool = True
    # opportunistic (U-HLM style): skip verifying drafts whose device probability exceeds this
    skip_verify_above: float | None = None
    skip_verify_at_greedy: bool = False
    # exact: at temperature 0 the answer is the cloud's greedy answer (lossless). lenient: keep the
    # device's token unless the cloud prefers another by more than `margin` log-probability (fewer
    # cloud passes, the cloud's quality traded for them; margin 0 is exact). Speculative and cascade alike.
    acceptance: Literal["exact", "lenient"] = "exact"
    margin: float = Field(default=0.0, ge=0.0)


class CascadeConfig(Section):
    # stream: device tokens reach the client as they come while the mean log-prob of the last `window`
    # tokens stays >= window_threshold; below it the cloud takes over from that token (shown text stands).
    # gate: the whole device answer is scored first (method, threshold) and either sent or escalated.
    policy: Literal["stream", "gate"] = "stream"
    window: int = Field(default=8, ge=1)
    window_threshold: float = -1.0
    threshold: float = -1.5
    method: Literal["mean", "min", "tail", "entropy"] = "tail"
    quantile: float = 0.1
    verify_chunk: int = 64  # the device answer is verified in drafts of at most this many tokens
    # the gate's checks after degeneration (always on), cheapest first; the first that fails escalates.
    # cloud_check: the cloud scores the device's tokens in one verification pass (needs a shared tokenizer).
    # examples: a code answer runs on the examples its question states, in a sandbox (opt-in: it runs
    # generated code on this machine; off, with a warning at start-up, where the sandbox cannot be made)
    verifiers: list[Literal["confidence", "examples", "cloud_check"]] = ["confidence"]
    cloud_check_threshold: float = -8.0  # the cloud's lowest log-prob of a device token below this fails
    examples_timeout_s: float = Field(default=5.0, gt=0)  # wall and CPU limit of one examples run
    degeneration_span: int = Field(default=16, ge=4)  # a run of this many tokens said twice is a loop


class PrivacyRuleConfig(Section):
    level: Literal["public", "redact", "private"]
    api_key: str | None = None
    pattern: str | None = None


Action = Literal["redact", "private", "off"]
DEFAULT_TYPES: dict[str, Action] = {"HEALTH": "private"}


class PrivacyConfig(Section):
    pii_action: Literal["redact", "private"] = "redact"
    default_level: Literal["public", "redact", "private"] = "public"
    rules: list[PrivacyRuleConfig] = Field(default_factory=list)
    use_presidio: bool = False
    session_pin_s: float = Field(default=3600.0, ge=0,
                                 description="a session that was private stays on the device "
                                             "this long after its last private turn; 0: off")
    # requests with more characters (messages + stop strings) are not scanned: they stay on the device
    max_scan_chars: int = Field(default=65_536, ge=0)
    # per kind of personal data (PERSON, ADDRESS, DATE_OF_BIRTH, HEALTH, EMAIL, ...): redact | private | off;
    # a kind not listed follows pii_action. Health details make a request private unless set otherwise.
    types: dict[str, Action] = Field(default_factory=lambda: dict(DEFAULT_TYPES))

    @field_validator("types", mode="before")
    @classmethod
    def _yaml_off(cls, v: Any) -> Any:  # YAML reads a bare `off` as false
        return {k: "off" if x is False else x for k, x in v.items()} if isinstance(v, dict) else v


class BudgetConfig(Section):
    cloud_tokens_per_window: int | None = None
    window_s: float = 3600.0


class RoutingConfig(Section):
    default_mode: Mode = "auto"
    device_only_latency_ms: float = 200.0
    # the query router (routers/query.py): `auto` requests bound for the cascade go straight to the cloud
    # when it expects the cloud to fix what the device would answer. `default`: the router shipped with
    # Tandem (fitted on the cascade benchmark's calibration halves); a path: one `tandem calibrate
    # --query-router` wrote; null: off. It embeds the prompt's first tokens on the device, as many as the
    # router was fitted on (the file's `embed_tokens`; the shipped one's: 32, routers.query.EMBED_TOKENS).
    query_router: str | None = None
    query_threshold: float | None = Field(default=None, ge=0.0, le=1.0, description="override the file's")
    query_max_tokens: int | None = Field(default=None, ge=8)  # null: the router's; another: refused at start


class SchedulingConfig(Section):
    # the device's and the cloud's state as inputs to the auto policy (routers/policy.py rules 9-12);
    # a bound set to null turns its rule off. Explicit modes and the client's hints are never overridden.
    battery_low_percent: float | None = Field(default=20.0, ge=0, le=100)  # discharging below: long answers
    long_answer_tokens: int = Field(default=256, ge=0)  # …(max_tokens above this) go to the cloud
    device_hot_celsius: float | None = None  # the hottest thermal zone at or above: the cloud answers
    device_load_high: float | None = Field(default=None, gt=0)  # 1-min load per core at or above: likewise
    cloud_queue_high: float | None = Field(default=8, ge=0)  # the replica's waiting requests at or above:
    cloud_kv_high: float | None = Field(default=None, gt=0, le=1)  # …or its KV cache use: the cascade
    device_sample_s: float = Field(default=10.0, ge=0)  # how often the device's state is read; 0: never
    cloud_poll_s: float = Field(default=5.0, ge=0)  # how often each replica's /metrics is read; 0: never
    sysfs_root: str = "/"  # where sys/ and proc/ are read from (a test's fake tree)


class TandemConfig(Section):
    server: ServerConfig = Field(default_factory=ServerConfig)
    device: DeviceConfig = Field(default_factory=DeviceConfig)
    cloud: CloudConfig = Field(default_factory=CloudConfig)
    speculative: SpeculativeConfig = Field(default_factory=SpeculativeConfig)
    cascade: CascadeConfig = Field(default_factory=CascadeConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    scheduling: SchedulingConfig = Field(default_factory=SchedulingConfig)


def _set_path(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.lower().split(".")
    node = tree
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ValueError(f"{dotted}: {key} is not a section")
    node[keys[-1]] = value


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None,
                overrides: Sequence[str] = ()) -> TandemConfig:
    """File, then ``TANDEM__A__B`` env vars, then ``a.b=value`` overrides; validated once at the end."""
    tree: dict[str, Any] = {}
    file = Path(path) if path else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    if file is not None:
        tree = yaml.safe_load(file.read_text()) or {}
    env = os.environ if env is None else env
    for name, raw in sorted(env.items()):
        if name.startswith(ENV_PREFIX):
            _set_path(tree, name[len(ENV_PREFIX):].replace("__", "."), yaml.safe_load(raw))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects section.field=value, got {item!r}")
        _set_path(tree, key.strip(), yaml.safe_load(raw))
    return TandemConfig.model_validate(tree)
