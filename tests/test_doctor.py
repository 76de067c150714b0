"""The portable llama.cpp build and ``tandem doctor`` (device_runtime/cpu.py, device_runtime/doctor.py)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from device_runtime import cpu
from device_runtime.cpu import amx_tiles_work, build_key, chosen_cmake_args, cpu_flags, ggml_cmake_args
from device_runtime.doctor import amx_consistency, describe_exit, system_info

AMD_EPYC = {"fpu", "sse2", "avx", "avx2", "fma", "f16c", "bmi1", "bmi2"}
XEON_AMX = AMD_EPYC | {"avx512f", "avx512_vnni", "avx512_bf16", "avx512vbmi", "avx_vnni",
                       "amx_tile", "amx_int8", "amx_bf16"}


def test_cmake_args_name_each_isa_the_cpu_reports_and_nothing_native():
    args = ggml_cmake_args(AMD_EPYC)
    assert "-DGGML_NATIVE=OFF" in args
    assert {"-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DGGML_BMI2=ON"} <= set(args)
    assert "-DGGML_AVX512=OFF" in args and "-DGGML_AMX_INT8=OFF" in args


def test_amx_stays_off_unless_the_tile_check_passed():
    without = ggml_cmake_args(XEON_AMX, amx_ok=False)
    assert "-DGGML_AVX512=ON" in without and "-DGGML_AVX512_VNNI=ON" in without
    assert all(f"-DGGML_AMX_{x}=OFF" in without for x in ("TILE", "INT8", "BF16"))
    assert "-DGGML_AMX_INT8=ON" in ggml_cmake_args(XEON_AMX, amx_ok=True)


def test_amx_is_opt_in_even_where_the_tile_check_passes(monkeypatch):
    """On an Intel Xeon VM the tile check passed and llama.cpp's AMX build still died (SIGILL on
    tilezero in a compute thread): the default build names every ISA but AMX."""
    monkeypatch.delenv("CMAKE_ARGS", raising=False)
    monkeypatch.delenv(cpu.AMX_OPT_IN, raising=False)
    monkeypatch.setattr(cpu.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(cpu, "cpu_flags", lambda: XEON_AMX)
    monkeypatch.setattr(cpu, "amx_tiles_work", lambda flags=None: (True, "AMX tile instructions run on this host"))
    args, why = chosen_cmake_args()
    assert "-DGGML_AVX512=ON" in args and "-DGGML_AMX_INT8=OFF" in args and "-DGGML_AMX_TILE=OFF" in args
    assert cpu.AMX_OPT_IN in why
    monkeypatch.setenv(cpu.AMX_OPT_IN, "1")
    assert "-DGGML_AMX_INT8=ON" in chosen_cmake_args()[0]


def test_each_set_of_flags_gets_its_own_cached_wheel():
    assert build_key(" ".join(ggml_cmake_args(AMD_EPYC))) != build_key(" ".join(ggml_cmake_args(XEON_AMX)))


def test_cpu_without_amx_is_not_probed():
    assert amx_tiles_work(AMD_EPYC) == (False, "the CPU reports no AMX")


@pytest.mark.integration
def test_installed_llama_cpp_uses_amx_only_where_tiles_were_proven_to_work():
    """The crash of issue 9: an AMX build on a host whose VM does not grant tile state."""
    info = system_info()
    assert info.ok, info.detail
    tiles_ok, why = amx_tiles_work(cpu_flags())
    if "AMX_INT8 = 1" in info.detail:
        assert tiles_ok, f"llama.cpp was built with AMX but {why}"
    assert amx_consistency(info.detail, tiles_ok, why).ok


def test_an_amx_build_where_tiles_fault_is_a_failed_check_with_the_fix():
    check = amx_consistency("CPU : SSE3 = 1 | AVX2 = 1 | AMX_INT8 = 1 |", False, "AMX tile instructions fault")
    assert not check.ok and "GGML_NATIVE=OFF" in check.detail and "AMX_INT8=OFF" in check.detail


def test_a_crash_in_a_child_is_reported_in_words():
    crashed = subprocess.run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
    message = describe_exit(crashed.returncode, "decode")
    assert crashed.returncode == -signal.SIGSEGV
    assert message.startswith("llama.cpp crashed (SIGSEGV) in decode on this CPU; rebuild llama-cpp-python with CMAKE_ARGS=")


@pytest.mark.integration
def test_doctor_passes_on_this_host_and_decodes_with_the_real_model(smol_path):
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "doctor", "--model", "smollm2-135m"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "llama.cpp system info:" in done.stdout and "tok/s" in done.stdout
    assert "doctor: all checks passed" in done.stdout


@pytest.mark.integration
def test_doctor_fails_clearly_on_a_model_llama_cpp_cannot_load(tmp_path):
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF" + b"\0" * 64)
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "doctor", "--model", str(bogus)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "FAIL broken.gguf: the check failed in load" in done.stdout
