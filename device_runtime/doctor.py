"""``tandem doctor``: will llama.cpp run on this host? Asked in child processes, answered in words.

    tandem doctor                      # CPU features, the build's system info, every pulled model
    tandem doctor --model smollm2-135m # just one model

A llama.cpp build that uses instructions the host cannot run does not raise: it kills the
process (SIGSEGV/SIGILL) on the first decode. So every check that touches llama.cpp runs
in a child process, and a crash becomes a sentence with the fix ("rebuild with …") and a
non-zero exit instead of a dead caller. Bootstrap and CI run this before anything else.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from device_runtime.cpu import (
    AMX_FLAGS,
    GGML_ISA_FLAGS,
    amx_tiles_work,
    chosen_cmake_args,
    cpu_flags,
    cpu_model,
)

PROBE_PROMPT = "def fibonacci(n):"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def rebuild_hint() -> str:
    args = chosen_cmake_args()[0]  # the flags bootstrap builds with (AMX only where opted in and proven)
    return (f'rebuild llama-cpp-python with CMAKE_ARGS="{args}" (scripts/bootstrap.sh does this; delete '
            f"~/.cache/tandem/wheels if an old native build is cached there)")


def describe_exit(returncode: int, phase: str) -> str:
    """A child's death, in words a user can act on."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"llama.cpp crashed ({name}) in {phase} on this CPU; {rebuild_hint()}"
    return f"the check failed in {phase} (exit code {returncode})"


def _run_child(args: list[str], timeout_s: float) -> tuple[int, str, str]:
    try:
        done = subprocess.run([sys.executable, "-m", "device_runtime.doctor", *args], capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return -int(signal.SIGALRM), out, "timed out"
    return done.returncode, done.stdout, done.stderr


def _last_phase(stdout: str) -> str:
    phases = re.findall(r"^phase: (.+)$", stdout, re.M)
    return phases[-1] if phases else "start-up"


def system_info(timeout_s: float = 60) -> Check:
    code, out, err = _run_child(["--child-system-info"], timeout_s)
    if code != 0:
        tail = f": {err.strip()[-300:]}" if err else ""
        return Check("llama.cpp build", False, describe_exit(code, "import") + tail)
    return Check("llama.cpp build", True, out.strip().splitlines()[-1] if out.strip() else "")


def amx_consistency(info: str, tiles_ok: bool, tiles_why: str) -> Check:
    """A build with AMX kernels is only safe where the tile check passed."""
    built_with_amx = "AMX_INT8 = 1" in info
    if built_with_amx and not tiles_ok:
        return Check("AMX", False,
                     f"the build uses AMX but {tiles_why}: the first decode would crash; {rebuild_hint()}")
    return Check("AMX", True, ("build uses AMX; " if built_with_amx else "build without AMX; ") + tiles_why)


def probe_model(path: Path, n_tokens: int = 8, timeout_s: float = 300) -> Check:
    code, out, err = _run_child(["--child-probe", str(path), "--tokens", str(n_tokens)], timeout_s)
    name = path.name
    if code != 0:
        detail = describe_exit(code, _last_phase(out))
        tail = err.strip().splitlines()[-1] if err.strip() else ""
        return Check(name, False, f"{detail}{': ' + tail if tail and code > 0 else ''}")
    result = json.loads(out.strip().splitlines()[-1])
    return Check(name, True, f"loaded in {result['load_s']:.1f} s, decoded {result['tokens']} tokens at "
                             f"{result['decode_tok_s']:.1f} tok/s ({result['threads']} threads)")


def run_doctor(models: list[str] | None = None, out=sys.stdout) -> int:
    """Print every check; exit code 0 only when all pass."""
    from device_runtime.models import REGISTRY, ModelStore

    flags = cpu_flags()
    isa = sorted(f for f in set(GGML_ISA_FLAGS.values()) | set(AMX_FLAGS) if f in flags)
    print(f"cpu:      {cpu_model()}", file=out)
    print(f"features: {' '.join(isa) or '(none of the SIMD sets llama.cpp uses)'}", file=out)
    tiles_ok, tiles_why = amx_tiles_work(flags)
    checks = [system_info()]
    print(f"llama.cpp system info: {checks[0].detail}", file=out)
    if checks[0].ok:
        checks.append(amx_consistency(checks[0].detail, tiles_ok, tiles_why))
        store = ModelStore(progress=False)
        names = models or [spec.name for spec in REGISTRY.values() if store.is_verified(spec)]
        if not names:
            print("no models pulled yet (tandem models pull NAME); only the build was checked", file=out)
        for name in names:
            spec = REGISTRY.get(name)
            path = store.path_for(spec) if spec and store.is_verified(spec) else Path(name)
            if not path.is_file():
                checks.append(Check(name, False, f"model not found (tandem models pull {name})"))
                continue
            checks.append(probe_model(path))
    for check in checks[1:]:
        print(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}", file=out)
    failed = [c for c in checks if not c.ok]
    print("doctor: all checks passed" if not failed else f"doctor: {len(failed)} check(s) failed", file=out)
    return 1 if failed else 0


# -- what the child processes run ----------------------------------------------------------------
def _child_system_info() -> None:
    import llama_cpp

    print(" ".join(llama_cpp.llama_print_system_info().decode().split()))


def _child_probe(path: str, n_tokens: int) -> None:
    from device_runtime.engine import LlamaEngine, SamplingParams

    print("phase: load", flush=True)
    t0 = time.perf_counter()
    engine = LlamaEngine(path, n_ctx=256)
    load_s = time.perf_counter() - t0
    print("phase: prompt evaluation", flush=True)
    prompt = engine.tokenize(PROBE_PROMPT)
    engine.sync(prompt)
    print("phase: decode", flush=True)
    t0 = time.perf_counter()
    produced = sum(1 for _ in engine.generate(prompt, SamplingParams(max_tokens=n_tokens)))
    decode_s = time.perf_counter() - t0
    print(json.dumps({"load_s": load_s, "tokens": produced, "decode_tok_s": produced / max(decode_s, 1e-9),
                      "threads": engine._llm.n_threads}), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append",
                    help="a registry name or GGUF path (default: every pulled model)")
    ap.add_argument("--child-system-info", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-probe", help=argparse.SUPPRESS)
    ap.add_argument("--tokens", type=int, default=8, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_system_info:
        _child_system_info()
        return 0
    if args.child_probe:
        _child_probe(args.child_probe, args.tokens)
        return 0
    return run_doctor(args.model)


if __name__ == "__main__":
    sys.exit(main())
