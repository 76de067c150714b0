"""Scheduling by state: the device's battery, heat and load (a fake sysfs tree) and the cloud's load
(vLLM's /metrics), read in the background and turned into the auto policy's choices — model-free."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from aiohttp import web
import pytest
from aiohttp.test_utils import TestClient, TestServer

from cloud.server import create_cloud_app
from device_runtime.fake import FakeEngine
from device_runtime.state import DeviceStateSampler, read_device_state
from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.errors import CloudError
from gateway.cloud_client.load import CloudLoad, parse_metrics, render_metrics
from gateway.config import load_config
from gateway.runtime import Runtime
from gateway.testing.replica_cloud import DraftingEngine, ReplicaCloud
from routers.policy import AutoPolicy, RouteFacts


def fake_sysfs(root: Path, batteries: dict[str, tuple[str, str]] | None = None,
               temps_milli: list[str] | None = None, loadavg: str | None = None,
               mem_available_kb: int | None = None) -> Path:
    """A /sys and /proc under ``root``: batteries {name: (capacity, status)}, thermal zones, load, memory."""
    ps = root / "sys" / "class" / "power_supply"
    ps.mkdir(parents=True, exist_ok=True)
    (ps / "AC").mkdir(exist_ok=True)
    (ps / "AC" / "type").write_text("Mains\n")
    (ps / "AC" / "online").write_text("0\n")
    for name, (capacity, status) in (batteries or {}).items():
        (ps / name).mkdir()
        (ps / name / "type").write_text("Battery\n")
        (ps / name / "capacity").write_text(capacity + "\n")
        (ps / name / "status").write_text(status + "\n")
    for i, milli in enumerate(temps_milli or []):
        zone = root / "sys" / "class" / "thermal" / f"thermal_zone{i}"
        zone.mkdir(parents=True)
        (zone / "temp").write_text(milli + "\n")
    (root / "proc").mkdir(exist_ok=True)
    if loadavg is not None:
        (root / "proc" / "loadavg").write_text(loadavg + "\n")
    if mem_available_kb is not None:
        (root / "proc" / "meminfo").write_text(
            f"MemTotal: 16000000 kB\nMemFree: 100000 kB\nMemAvailable: {mem_available_kb} kB\n")
    return root


# -- reading the device ----------------------------------------------------------------------------------
def test_a_discharging_battery_hot_zone_load_and_memory_are_read(tmp_path):
    fake_sysfs(tmp_path, {"BAT0": ("15", "Discharging")}, ["45000", "81500", "0"], "3.00 2.50 2.00 3/400 999",
               2_048_000)
    state = read_device_state(tmp_path, cores=2)
    assert state.battery_percent == 15 and state.discharging and state.battery_status == "Discharging"
    assert state.temperature_c == 81.5  # the hottest zone; a zone reading 0 has no sensor
    assert state.cpu_load == 1.5 and state.memory_available_mb == 2000


def test_two_batteries_average_and_charging_is_not_discharging(tmp_path):
    fake_sysfs(tmp_path, {"BAT0": ("30", "Charging"), "BAT1": ("50", "Full")})
    state = read_device_state(tmp_path)
    assert state.battery_percent == 40 and not state.discharging


def test_a_machine_without_battery_or_sensors_reads_as_unknown(tmp_path):
    state = read_device_state(fake_sysfs(tmp_path))
    assert state.battery_percent is None and state.temperature_c is None and not state.discharging
    assert state.cpu_load is None and state.memory_available_mb is None
    assert read_device_state(tmp_path / "nowhere").battery_percent is None


async def test_the_sampler_reads_in_the_background(tmp_path):
    fake_sysfs(tmp_path, {"BAT0": ("80", "Discharging")})
    sampler = DeviceStateSampler(tmp_path, interval_s=0.02)
    sampler.start()
    try:
        for _ in range(100):
            if sampler.latest.battery_percent == 80:
                break
            await asyncio.sleep(0.01)
        assert sampler.latest.battery_percent == 80
        (tmp_path / "sys" / "class" / "power_supply" / "BAT0" / "capacity").write_text("12\n")
        for _ in range(100):
            if sampler.latest.battery_percent == 12:
                break
            await asyncio.sleep(0.01)
        assert sampler.latest.battery_percent == 12
    finally:
        await sampler.close()


# -- reading the cloud -----------------------------------------------------------------------------------
VLLM_METRICS = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="Qwen/Qwen2.5-Coder-1.5B-Instruct"} 8.0
vllm:num_requests_running{engine="1",model_name="Qwen/Qwen2.5-Coder-1.5B-Instruct"} 7.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="Qwen/Qwen2.5-Coder-1.5B-Instruct"} 3.0
vllm:num_requests_waiting{engine="1",model_name="Qwen/Qwen2.5-Coder-1.5B-Instruct"} 2.0
vllm:gpu_cache_usage_perc{engine="0",model_name="Qwen/Qwen2.5-Coder-1.5B-Instruct"} 0.5
vllm:kv_cache_usage_perc{engine="0",model_name="Qwen/Qwen2.5-Coder-1.5B-Instruct"} 0.61
vllm:kv_cache_usage_perc{engine="1",model_name="Qwen/Qwen2.5-Coder-1.5B-Instruct"} 0.93
vllm:prefix_cache_hits_total{engine="0",model_name="x"} 1234.0
"""


def test_vllm_metrics_parse_into_the_queue_and_the_fullest_cache():
    assert parse_metrics(VLLM_METRICS) == CloudLoad(waiting=5.0, running=15.0, kv_usage=0.93)
    old = VLLM_METRICS.replace("vllm:kv_cache_usage_perc", "vllm:other")  # vLLM < 0.9
    assert parse_metrics(old) == CloudLoad(5.0, 15.0, 0.5)
    assert parse_metrics("# nothing\nprocess_cpu_seconds_total 1.0\n") is None
    assert parse_metrics(render_metrics(4, 1, 0.25, 'a "quoted" model')) == CloudLoad(4.0, 1.0, 0.25)


async def test_the_client_polls_each_replicas_load():
    replicas = [ReplicaCloud("r0"), ReplicaCloud("r1")]
    for r in replicas:
        await r.start()
    replicas[1].load = {"waiting": 12, "running": 4, "kv": 0.97}
    client = CloudClient([r.url for r in replicas], load_poll_s=0.02)
    await client.start()
    try:
        for _ in range(200):
            if all(e.load is not None for e in client.endpoints):
                break
            await asyncio.sleep(0.01)
        assert client.endpoints[0].load == CloudLoad(0.0, 0.0, 0.0)
        assert client.endpoints[1].load == CloudLoad(12.0, 4.0, 0.97)
        key = next(f"k{i}" for i in range(100) if client.affinity(f"k{i}").order[0] == 1)
        assert client.load_for(key) == CloudLoad(12.0, 4.0, 0.97)  # the replica this session goes to
        await replicas[1].kill()
        assert client.endpoints[1].load is not None
        for _ in range(200):
            if client.endpoints[1].load is None:
                break
            await asyncio.sleep(0.01)
        assert client.endpoints[1].load is None  # gone: not known any more
    finally:
        await client.close()
        for r in replicas:
            await r.stop()



async def test_a_replica_that_answers_health_but_fails_its_calls_still_opens_the_circuit():
    """The poll re-checks /health of a replica a failed call marked unhealthy; a 200 there must not wipe
    the breaker's count of failed calls, or a replica whose answers always fail never opens its circuit
    and every request pays the failure again."""
    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=503, text="broken")

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/v1/completions", broken)
    server = TestServer(app)
    await server.start_server()
    client = CloudClient([str(server.make_url("")).rstrip("/")], retries=0, load_poll_s=0.01)
    client.monitor.failure_threshold = 3
    await client.start()
    try:
        url = client.endpoints[0].url
        for _ in range(2):
            with pytest.raises(CloudError):
                await client.request_json("POST", "/v1/completions", {"prompt": "x"})
            for _ in range(100):  # let the poll see the unhealthy replica and re-check its /health
                if client.endpoints[0].healthy:
                    break
                await asyncio.sleep(0.01)
            assert client.endpoints[0].healthy  # /health answers: usable again, as far as the flag goes
        with pytest.raises(CloudError):
            await client.request_json("POST", "/v1/completions", {"prompt": "x"})
        assert client.monitor.state(url) == "open"  # but three failed calls in a row open the circuit
    finally:
        await client.close()
        await server.close()


# -- the rules ---------------------------------------------------------------------------------------------
POLICY = AutoPolicy(battery_low_percent=20, long_answer_tokens=256, device_hot_celsius=80,
                    device_load_high=1.5, cloud_queue_high=8, cloud_kv_high=0.9)
LOW = {"battery_percent": 15.0, "discharging": True}


@pytest.mark.parametrize("facts,mode,reason", [
    (RouteFacts(max_tokens=512, **LOW), "cloud", "battery 15% discharging: cloud"),
    (RouteFacts(max_tokens=100, **LOW), "cascade", "default"),  # a short answer stays
    (RouteFacts(max_tokens=512, battery_percent=15.0), "cascade", "default"),  # charging
    (RouteFacts(max_tokens=512, battery_percent=25.0, discharging=True), "cascade", "default"),
    (RouteFacts(device_temp_c=85.5), "cloud", "device 85.5°C: cloud"),
    (RouteFacts(device_load=2.0), "cloud", "device load 2 per core: cloud"),
    (RouteFacts(cloud_waiting=12), "cascade", "cloud queue 12 waiting: cascade"),
    (RouteFacts(cloud_kv_usage=0.97), "cascade", "cloud KV cache 97% full: cascade"),
    (RouteFacts(cloud_waiting=12, device_temp_c=90, max_tokens=512, **LOW), "cascade",
     "cloud queue 12 waiting: cascade"),  # a busy cloud comes first
    (RouteFacts(privacy_level="private", device_temp_c=90, max_tokens=512, **LOW), "device", "private"),
    (RouteFacts(requested="device", device_temp_c=90), "device", "requested"),
    (RouteFacts(requested="speculative", cloud_waiting=50), "speculative", "requested"),  # never overridden
    (RouteFacts(quality="low", device_temp_c=90), "device", "quality low"),  # the client's hint first
    (RouteFacts(cloud_available=False, cloud_reason="cloud down", device_temp_c=90), "device", "cloud down"),
])
def test_each_state_rule_names_its_reason(facts, mode, reason):
    choice = POLICY.choose(facts)
    assert (choice.mode, choice.reason) == (mode, reason)


def test_a_rule_without_a_bound_is_off():
    off = AutoPolicy(battery_low_percent=None, cloud_queue_high=None)
    assert off.choose(RouteFacts(max_tokens=512, cloud_waiting=99, **LOW)).reason == "default"


# -- through the gateway -----------------------------------------------------------------------------------
@pytest.fixture
async def gateway(tmp_path):
    replica = ReplicaCloud("r0")
    await replica.start()
    fake_sysfs(tmp_path, {"BAT0": ("15", "Discharging")}, ["45000"])
    config = load_config(overrides=[
        "server.port=0", f"cloud.endpoints=[{replica.url}]", "cloud.strategy=tandem", "device.pull=false",
        f"scheduling.sysfs_root={tmp_path}", "scheduling.device_sample_s=0.02",
        "scheduling.cloud_poll_s=0.02", "scheduling.device_hot_celsius=80", "scheduling.cloud_queue_high=8"])
    async with Runtime(config, engine=DraftingEngine()) as rt, aiohttp.ClientSession() as http:
        yield rt, http, replica, tmp_path
    await replica.stop()


async def route(gateway, max_tokens: int = 300, **kw) -> dict:
    rt, http, _, _ = gateway
    body = {"model": "tandem-auto", "messages": [{"role": "user", "content": "Write me a long story."}],
            "max_tokens": max_tokens, "temperature": 0, **kw}
    async with http.post(f"{rt.url}/v1/chat/completions", json=body) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["tandem"]


async def eventually(check, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    assert check()


async def test_the_gateway_routes_by_the_devices_battery_and_heat_and_the_clouds_queue(gateway):
    rt, _, replica, root = gateway
    trace = await route(gateway)
    assert (trace["mode"], trace["reason"]) == ("cloud", "battery 15% discharging: cloud")
    short = await route(gateway, max_tokens=32)  # a short answer stays with the device (the cascade's reason
    assert short["mode"] == "cascade" and short["reason"].startswith("default")  # adds where it handed over)
    private = await route(gateway, metadata={"privacy": "private"})
    assert (private["mode"], private["reason"]) == ("device", "private")  # privacy first, always

    bat = root / "sys" / "class" / "power_supply" / "BAT0"
    (bat / "status").write_text("Charging\n")
    (root / "sys" / "class" / "thermal" / "thermal_zone0" / "temp").write_text("84000\n")
    await eventually(lambda: rt.device_state.latest.temperature_c == 84)
    trace = await route(gateway, max_tokens=32)
    assert (trace["mode"], trace["reason"]) == ("cloud", "device 84°C: cloud")

    replica.load = {"waiting": 12, "running": 4, "kv": 0.5}
    endpoint = rt.cloud.endpoints[0]
    await eventually(lambda: endpoint.load is not None and endpoint.load.waiting == 12)
    trace = await route(gateway)
    assert trace["mode"] == "cascade" and trace["reason"].startswith("cloud queue 12 waiting: cascade")
    assert (await route(gateway, model="tandem-speculative"))["reason"] == "requested"


async def test_the_local_cloud_exports_vllms_load_gauges():
    """cloud/server.py's /metrics speaks vLLM's names: the gateway reads the local cloud as it reads vLLM."""
    app = create_cloud_app(FakeEngine(), served_name="cloud", session_memory_mb=1)
    async with TestClient(TestServer(app)) as http:
        r = await http.get("/metrics")
        assert r.status == 200
        assert parse_metrics(await r.text()) == CloudLoad(waiting=0.0, running=0.0, kv_usage=0.0)
