"""The device's state as Linux reports it: battery, heat, CPU load and free memory. Reading only.

    state = read_device_state()              # DeviceState(battery_percent=15.0, status='Discharging', ...)
    state = read_device_state(root=tmp_path) # a fake tree: tmp_path/sys/class/power_supply/BAT0/capacity, ...
    sampler = DeviceStateSampler(interval_s=10); sampler.start(); ...; sampler.latest; await sampler.close()

Where it reads, under ``root`` (default ``/``):

* batteries: ``sys/class/power_supply/*/`` with ``type`` = ``Battery``: ``capacity`` (percent) and
  ``status`` (``Charging``, ``Discharging``, ``Not charging``, ``Full``, ``Unknown``). Several batteries:
  the mean capacity; discharging when any is.
* heat: ``sys/class/thermal/thermal_zone*/temp`` (millidegrees Celsius); the hottest zone counts.
* CPU load: ``proc/loadavg`` (the 1-minute average) over the cores, so 1.0 is every core busy.
* free memory: ``proc/meminfo`` ``MemAvailable``.

Anything missing or unreadable is None (a desktop has no battery, a container may see no thermal
zones); the policy's rules on it then stay silent. The sampler reads on a worker thread every
``interval_s``, never on a request's path; requests read ``latest``, the last sample.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("tandem.device")


@dataclass(frozen=True)
class DeviceState:
    battery_percent: float | None = None  # None: no battery
    battery_status: str | None = None  # as the kernel says it: Charging, Discharging, Full, ...
    temperature_c: float | None = None  # the hottest thermal zone
    cpu_load: float | None = None  # 1-minute load average per core
    memory_available_mb: float | None = None

    @property
    def discharging(self) -> bool:
        """Running on the battery (not plugged in, or plugged in but drawing more than it gets)."""
        return self.battery_status == "Discharging"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text.split()[0])
    except (ValueError, IndexError):
        return None


def read_battery(root: Path) -> tuple[float | None, str | None]:
    capacities, statuses = [], []
    supplies = root / "sys" / "class" / "power_supply"
    for supply in sorted(supplies.glob("*")) if supplies.is_dir() else []:
        if _read(supply / "type") != "Battery":
            continue
        capacity = _number(_read(supply / "capacity"))
        if capacity is not None and 0 <= capacity <= 100:
            capacities.append(capacity)
            statuses.append(_read(supply / "status") or "Unknown")
    if not capacities:
        return None, None
    status = "Discharging" if "Discharging" in statuses else statuses[0]
    return round(sum(capacities) / len(capacities), 1), status


def read_temperature(root: Path) -> float | None:
    temps = []
    thermal = root / "sys" / "class" / "thermal"
    for zone in sorted(thermal.glob("thermal_zone*")) if thermal.is_dir() else []:
        milli = _number(_read(zone / "temp"))
        if milli is not None and 0 < milli < 200_000:  # some zones report 0 or junk when they have no sensor
            temps.append(milli / 1000)
    return max(temps) if temps else None


def read_cpu_load(root: Path, cores: int | None = None) -> float | None:
    load = _number(_read(root / "proc" / "loadavg"))
    return None if load is None else round(load / max(1, cores or os.cpu_count() or 1), 3)


def read_memory_available_mb(root: Path) -> float | None:
    for line in (_read(root / "proc" / "meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            kb = _number(line.split(":", 1)[1])
            return None if kb is None else round(kb / 1024, 1)
    return None


def read_device_state(root: str | Path = "/", cores: int | None = None) -> DeviceState:
    """One reading of everything above (a few small files; call it off the event loop)."""
    base = Path(root)
    percent, status = read_battery(base)
    return DeviceState(percent, status, read_temperature(base), read_cpu_load(base, cores),
                       read_memory_available_mb(base))


class DeviceStateSampler:
    """``latest``: the device's state as of the last sample, read every ``interval_s`` on a worker thread."""

    def __init__(self, root: str | Path = "/", interval_s: float = 10.0):
        self.root = Path(root)
        self.interval_s = interval_s
        self.latest = DeviceState()
        self._task: asyncio.Task | None = None

    async def sample(self) -> DeviceState:
        self.latest = await asyncio.to_thread(read_device_state, self.root)
        return self.latest

    def start(self) -> None:
        if self._task is None and self.interval_s > 0:
            self._task = asyncio.create_task(self._run(), name="tandem-device-state")

    async def _run(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception:  # the sampler must outlive one odd file
                log.exception("reading the device state failed")
            await asyncio.sleep(self.interval_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
