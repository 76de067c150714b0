"""Scheduling by state: the device's battery, heat and load (a fake sysfs tree) and the cloud's load
(vLLM's /metrics), read in the background and turned into the auto policy's choices — model-free."""

from __future__ import annotations

import asyncio
from pathlib import Path

from device_runtime.state import DeviceStateSampler, read_device_state
from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.load import CloudLoad, parse_metrics, render_metrics
from gateway.testing.replica_cloud import ReplicaCloud


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

