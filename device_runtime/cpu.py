"""Which instructions llama.cpp may use on this CPU — chosen at build time, checked at run time.

    python3 -m device_runtime.cpu --cmake-args     # what scripts/bootstrap.sh builds with
    python3 -m device_runtime.cpu                  # the features, the AMX tile check, the choice

llama-cpp-python builds with ``GGML_NATIVE=ON`` by default (``-march=native``). On Intel
hosts whose CPU reports AMX that compiles llama.cpp's AMX kernels, and on virtual machines
that do not grant the process tile state the first tile instruction is a general protection
fault: the whole process dies on the first decode. So Tandem builds with ``GGML_NATIVE=OFF``
and names each instruction set the CPU reports, and AMX only when asked for
(``TANDEM_LLAMA_AMX=1``) and a child process has proven that tile instructions run here
(``amx_tiles_work``). The tile check alone is not enough: on an Intel Xeon virtual machine
where it passes, llama-cpp-python 0.3.36's AMX kernels still die with SIGILL on
``tilezero`` in a compute thread during the first prompt evaluation (seen under gdb in
``ggml_backend_amx_mul_mat``), so AMX is opt-in. Stdlib only: bootstrap runs this before
any dependency is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# llama.cpp's CMake switch → the /proc/cpuinfo flag that must be present for it
GGML_ISA_FLAGS: dict[str, str] = {
    "GGML_AVX": "avx",
    "GGML_AVX2": "avx2",
    "GGML_FMA": "fma",
    "GGML_F16C": "f16c",
    "GGML_BMI2": "bmi2",
    "GGML_AVX_VNNI": "avx_vnni",
    "GGML_AVX512": "avx512f",
    "GGML_AVX512_VBMI": "avx512vbmi",
    "GGML_AVX512_VNNI": "avx512_vnni",
    "GGML_AVX512_BF16": "avx512_bf16",
}
AMX_FLAGS = ("amx_tile", "amx_int8", "amx_bf16")
AMX_OPT_IN = "TANDEM_LLAMA_AMX"  # llama.cpp's AMX build only where the user asks for it (module docstring)
GGML_AMX_FLAGS = {"GGML_AMX_TILE": "amx_tile", "GGML_AMX_INT8": "amx_int8", "GGML_AMX_BF16": "amx_bf16"}
LLAMA_CPP_VERSION = "0.3.36"


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The feature flags the kernel reports for the first CPU (empty off Linux/x86)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_model(cpuinfo: str | None = None) -> str:
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return platform.processor() or platform.machine()
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


# A tiny program that asks Linux for AMX tile state and runs the tile instructions llama.cpp
# uses. Where the hypervisor does not grant them it dies with SIGSEGV/SIGILL, in a child.
_AMX_PROBE_C = r"""
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
typedef struct { uint8_t palette_id; uint8_t start_row; uint8_t reserved[14];
                 uint16_t colsb[16]; uint8_t rows[16]; } tilecfg;
int main(void) {
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)) return 2;
    tilecfg cfg; memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int i = 0; i < 3; i++) { cfg.rows[i] = 16; cfg.colsb[i] = 64; }
    _tile_loadconfig(&cfg);
    static int8_t a[16 * 64], b[16 * 64]; static int32_t c[16 * 16];
    for (int i = 0; i < 16 * 64; i++) { a[i] = 1; b[i] = 1; }
    _tile_zero(0); _tile_loadd(1, a, 64); _tile_loadd(2, b, 64);
    _tile_dpbssd(0, 1, 2); _tile_stored(0, c, 64); _tile_release();
    return c[0] == 64 ? 0 : 3;
}
"""


def amx_tiles_work(flags: set[str] | None = None, timeout_s: float = 60.0) -> tuple[bool, str]:
    """Compile and run the AMX probe in a child process; (works, why)."""
    flags = cpu_flags() if flags is None else flags
    if not all(f in flags for f in AMX_FLAGS):
        return False, "the CPU reports no AMX"
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return False, "no C compiler to run the AMX tile check"
    with tempfile.TemporaryDirectory(prefix="tandem-amx-") as tmp:
        src, exe = Path(tmp) / "amx.c", Path(tmp) / "amx"
        src.write_text(_AMX_PROBE_C)
        built = subprocess.run([cc, "-O1", "-mamx-tile", "-mamx-int8", str(src), "-o", str(exe)],
                               capture_output=True, text=True)
        if built.returncode != 0:
            return False, f"the AMX tile check did not compile: {built.stderr.strip()[:200]}"
        try:
            ran = subprocess.run([str(exe)], capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False, "the AMX tile check hung"
    if ran.returncode == 0:
        return True, "AMX tile instructions run on this host"
    if ran.returncode < 0:
        return False, f"AMX tile instructions fault on this host (signal {-ran.returncode})"
    return False, f"the kernel refused AMX tile state (exit {ran.returncode})"


def ggml_cmake_args(flags: set[str], amx_ok: bool = False) -> list[str]:
    """A portable llama.cpp build for this CPU: every ISA it reports, by name; AMX only when proven."""
    args = ["-DGGML_NATIVE=OFF"]
    for switch, flag in GGML_ISA_FLAGS.items():
        args.append(f"-D{switch}={'ON' if flag in flags else 'OFF'}")
    for switch, flag in GGML_AMX_FLAGS.items():
        args.append(f"-D{switch}={'ON' if amx_ok and flag in flags else 'OFF'}")
    return args


def chosen_cmake_args() -> tuple[str, str]:
    """(CMAKE_ARGS, where it came from): the user's CMAKE_ARGS always wins."""
    user = os.environ.get("CMAKE_ARGS", "").strip()
    if user:
        return user, "CMAKE_ARGS from the environment"
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return "", f"llama.cpp's defaults for {platform.machine()}"
    flags = cpu_flags()
    if os.environ.get(AMX_OPT_IN, "").strip() != "1":
        amx_ok, why = False, f"AMX off unless {AMX_OPT_IN}=1: llama.cpp's AMX kernels fault on some hosts"
    else:
        amx_ok, why = amx_tiles_work(flags)
    return " ".join(ggml_cmake_args(flags, amx_ok)), f"this CPU's features ({why})"


def build_key(cmake_args: str) -> str:
    """Names the wheel cache entry: one wheel per llama-cpp-python version, Python and build flags."""
    python = f"cp{sys.version_info.major}{sys.version_info.minor}"
    key = f"llama-cpp-python=={LLAMA_CPP_VERSION}|{python}|{cmake_args}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cmake-args", action="store_true", help="print only the CMAKE_ARGS to build with")
    ap.add_argument("--key", action="store_true", help="print only the wheel cache key for those args")
    args = ap.parse_args(argv)
    cmake_args, source = chosen_cmake_args()
    if args.cmake_args:
        print(cmake_args)
    elif args.key:
        print(build_key(cmake_args))
    else:
        flags = cpu_flags()
        print(f"cpu: {cpu_model()}")
        isa = sorted(set(GGML_ISA_FLAGS.values()) | set(AMX_FLAGS))
        print(f"isa: {' '.join(f for f in isa if f in flags)}")
        print(f"CMAKE_ARGS ({source}): {cmake_args}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
