"""Run untrusted generated code: its own ``python -I`` process, no network, its own temp dir, limits.

    box = Sandbox(Limits(cpu_s=10, wall_s=20))
    result = box.run(program)          # RunResult(status="passed" | "failed" | "timeout", ...)
    box.isolation                      # "namespaces" (the full set below) or "rlimits" (the fallback)

One sandbox serves the gateway's examples verifier (``gateway.core.verifiers.examples``) and the
benchmark's scoring (``bench.cascade_tasks``). HumanEval's own executor is no sandbox (it ``exec``s
in-process with a few monkey patches), so every program runs in a fresh process started like this
(as root)::

    unshare --net --mount --pid --fork --kill-child   # no network (a new namespace has only a down
                                                      # loopback), private mounts, own pid namespace
      sh: tmpfs over /tmp /var/tmp /dev/shm /run/lock  # world-writable places: private, and they
                                                       # vanish
          mkdir /tmp/work; cd /tmp/work                 # its own temp dir as cwd
      setpriv --reuid nobody --clear-groups --no-new-privs
                                                      # the checkout and the rest are read-only to it
      prlimit --cpu --as --nproc --fsize               # CPU seconds, memory, processes (fork bombs),
                                                       # file size
      python -I -                                      # isolated mode; the program comes on stdin

A wall-clock limit kills the whole process group; with ``--kill-child`` and the pid
namespace, every process the sample forked dies with it. Without root or ``unshare`` it
falls back to the resource limits and a temp dir (no network isolation) and says so in
``isolation`` and ``reason``: the benchmark records that next to its results; the gateway runs
nothing without the namespaces (``Collaborator.check_sandbox``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

NOBODY = 65534
MAX_OUTPUT = 8192  # characters of stdout/stderr kept per run


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 10
    wall_s: float = 20.0
    memory_mb: int = 1024
    nproc: int = 32  # processes (and threads) the sample's user may have: contains fork bombs
    fsize_mb: int = 16


@dataclass
class RunResult:
    status: str  # "passed" (exit 0), "failed" (any other exit), "timeout" (wall limit)
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"


_SETUP = (
    "for d in /tmp /var/tmp /dev/shm /run/lock; do "
    '[ -d "$d" ] && mount -t tmpfs -o size=64m,mode=1777 tmpfs "$d"; done; '
    "mkdir -m 700 /tmp/work && chown {uid}:{uid} /tmp/work && cd /tmp/work && "
    "exec setpriv --reuid={uid} --regid={uid} --clear-groups --no-new-privs -- "
    'prlimit --cpu={cpu} --as={mem} --nproc={nproc} --fsize={fsize} -- "$0" -I -'
)


def _namespace_command(python: str, limits: Limits, unshare: str = "unshare") -> list[str]:
    script = _SETUP.format(
        uid=NOBODY,
        cpu=limits.cpu_s,
        mem=limits.memory_mb << 20,
        nproc=limits.nproc,
        fsize=limits.fsize_mb << 20,
    )
    return [
        unshare,
        "--net",
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
        python,
    ]


# fallback: the sample's own interpreter sets its limits, then runs the program read from stdin
_LAUNCHER = (
    "import resource, sys\n"
    "for name, value in {limits!r}:\n"
    "    resource.setrlimit(getattr(resource, name), (value, value))\n"
    "source = sys.stdin.read()\n"
    "exec(compile(source, '<sample>', 'exec'), {{'__name__': '__main__'}})\n"
)


def _launcher(limits: Limits) -> str:
    return _LAUNCHER.format(
        limits=[
            ("RLIMIT_CPU", limits.cpu_s),
            ("RLIMIT_AS", limits.memory_mb << 20),
            ("RLIMIT_NPROC", limits.nproc),
            ("RLIMIT_FSIZE", limits.fsize_mb << 20),
        ]
    )


def _execute(cmd: list[str], program: str, wall_s: float, cwd: str | None = None) -> RunResult:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        start_new_session=True,
        text=True,
        errors="replace",
    )
    try:
        out, err = proc.communicate(program, timeout=wall_s)
        status = "passed" if proc.returncode == 0 else "failed"
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.kill()
        out, err = proc.communicate()
        status = "timeout"
    return RunResult(status, proc.returncode, out[-MAX_OUTPUT:], err[-MAX_OUTPUT:], time.perf_counter() - t0)


@functools.cache
def _probe(python: str, unshare: str = "unshare") -> tuple[str, str]:
    """("namespaces", "") when the full isolation works here with this interpreter, else ("rlimits", why)."""
    if os.geteuid() != 0:
        return "rlimits", "not root: unshare needs CAP_SYS_ADMIN"
    missing = [t for t in (unshare, "setpriv", "prlimit") if shutil.which(t) is None]
    if missing:
        return "rlimits", f"missing {', '.join(missing)} (util-linux)"
    try:
        r = _execute(_namespace_command(python, Limits(wall_s=30), unshare), "print(42)\n", 30)
    except OSError as exc:
        return "rlimits", f"unshare failed: {exc}"
    if r.status != "passed" or r.stdout.strip() != "42":
        return "rlimits", (
            f"unshare/setpriv trial failed ({r.status}, {r.returncode}): {r.stderr.strip()[-300:]}"
        )
    return "namespaces", ""


def _candidates() -> list[str]:
    """Interpreters to try: this one, then the system's (``nobody`` may not reach a home-dir pyenv)."""
    out = [sys.executable]
    for path in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(path) and os.path.realpath(path) != os.path.realpath(sys.executable):
            out.append(path)
    return out


class Sandbox:
    """Probes once (a trial run, cached per interpreter) which isolation works here; ``unshare`` names
    the tool (a path that does not exist stands for a machine without it)."""

    def __init__(self, limits: Limits = Limits(), python: str | None = None, unshare: str = "unshare"):
        self.limits = limits
        self.unshare = unshare
        reasons = []
        for candidate in [python] if python else _candidates():
            mode, why = _probe(candidate, unshare)
            if mode == "namespaces":
                self.isolation, self.python, self.reason, self.why_not = mode, candidate, "", ""
                return
            reasons.append(f"{candidate}: {why}")
        self.isolation, self.python = "rlimits", python or sys.executable
        self.why_not = "; ".join(reasons)  # why the namespaces cannot be made here
        self.reason = self.why_not + " — running with resource limits only, WITHOUT network isolation"

    def describe(self) -> dict:
        return {
            "isolation": self.isolation,
            "python": self.python,
            "reason": self.reason,
            "limits": {
                "cpu_s": self.limits.cpu_s,
                "wall_s": self.limits.wall_s,
                "memory_mb": self.limits.memory_mb,
                "nproc": self.limits.nproc,
                "fsize_mb": self.limits.fsize_mb,
            },
        }

    def run(self, program: str) -> RunResult:
        """Run ``program`` (Python source) once; exit status 0 means it passed."""
        if self.isolation == "namespaces":
            return _execute(
                _namespace_command(self.python, self.limits, self.unshare), program, self.limits.wall_s
            )
        with tempfile.TemporaryDirectory(prefix="tandem-sandbox-") as work:
            cmd = [self.python, "-I", "-c", _launcher(self.limits)]
            if os.geteuid() == 0 and shutil.which("setpriv"):  # root ignores RLIMIT_NPROC: drop to nobody
                os.chown(work, NOBODY, NOBODY)
                cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"] + cmd
            return _execute(cmd, program, self.limits.wall_s, cwd=work)
