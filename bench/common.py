"""What every benchmark needs: the machine it ran on, and JSON + markdown + PNG output."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from device_runtime.cpu import cpu_model

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    cpu = cpu_model()
    mem_gb = None
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        mem_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
        mem_gb = round(mem_kb / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        pass
    try:
        import llama_cpp
        llama_version = llama_cpp.__version__
    except ImportError:
        llama_version = None
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb, "python": platform.python_version(),
            "platform": platform.platform(), "llama_cpp_python": llama_version, "commit": _git_commit()}


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=RESULTS.parent.parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def write_results(name: str, data: dict[str, Any], markdown: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    m = data.get("machine", {})
    header = (f"_Machine: {m.get('cpu')} · {m.get('cores')} cores · {m.get('memory_gb')} GB · "
              f"llama-cpp-python {m.get('llama_cpp_python')} · commit {m.get('commit')} · "
              f"{data.get('date')}_\n\n")
    (RESULTS / f"{name}.md").write_text(markdown.rstrip() + "\n\n" + header)
    return path


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q)) if values else float("nan")
