"""``tandem cloud --engine vllm``: the printed vLLM commands (nothing is started)."""

from __future__ import annotations

import shlex

import pytest

from cloud import vllm_cpu, vllm_serve
from gateway.cli import main


def test_gpu_command_serves_the_hf_model_with_the_verification_flags():
    cmd = vllm_serve.gpu_command("qwen2.5-coder-1.5b", 8001)
    assert cmd[:3] == ["vllm", "serve", "Qwen/Qwen2.5-Coder-1.5B-Instruct"]
    assert {"--enable-scale-out", "--enable-prompt-tokens-details"} <= set(cmd)
    assert cmd[cmd.index("--served-model-name") + 1] == "cloud" and cmd[cmd.index("--port") + 1] == "8001"
    assert vllm_serve.gpu_command("org/model", 9000)[2] == "org/model"
    with pytest.raises(ValueError):
        vllm_serve.hf_id("no-such-model")


def test_cpu_command_is_the_vllm_cpu_recipe(monkeypatch):
    monkeypatch.setenv("TANDEM_VLLM_DTYPE", "bfloat16")
    cmd = vllm_serve.cpu_command("qwen2.5-coder-1.5b", 8001)
    assert cmd[0] == str(vllm_cpu.venv_python()) and cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert cmd[cmd.index("--model") + 1] == str(vllm_cpu.hf_dir("qwen2.5-coder-1.5b"))
    assert cmd[cmd.index("--dtype") + 1] == "bfloat16" and "--enforce-eager" in cmd
    assert {"--enable-scale-out", "--enable-prompt-tokens-details"} <= set(cmd)


def test_cli_prints_both_commands_and_the_device_side(capsys, monkeypatch):
    monkeypatch.setenv("TANDEM_VLLM_DTYPE", "bfloat16")
    assert main(["cloud", "--engine", "vllm", "--model", "qwen2.5-coder-1.5b", "--port", "8123"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line and not line.startswith("#")]
    assert shlex.split(lines[0]) == vllm_serve.gpu_command("qwen2.5-coder-1.5b", 8123)
    assert shlex.split(lines[1]) == ["VLLM_CPU_KVCACHE_SPACE=4", *vllm_serve.cpu_command("qwen2.5-coder-1.5b", 8123)]
    assert lines[2] == "tandem serve --cloud-url http://CLOUD_HOST:8123"
    assert main(["cloud", "--engine", "vllm", "--model", "nope"]) == 2


def test_run_execs_exactly_the_printed_cpu_command(capsys, monkeypatch):
    """--run sets up vllm-cpu and becomes the printed command (exec replaced: no vLLM starts here)."""
    ran = []
    monkeypatch.setattr(vllm_serve, "has_gpu", lambda: False)
    monkeypatch.setattr(vllm_cpu, "setup", lambda model: ran.append(("setup", model)))
    monkeypatch.setattr(vllm_serve.os, "execve", lambda path, argv, env: ran.append((path, argv, env)))
    main(["cloud", "--engine", "vllm", "--model", "qwen2.5-coder-0.5b", "--run"])
    assert ran[0] == ("setup", "qwen2.5-coder-0.5b")
    path, argv, env = ran[1]
    assert argv == vllm_serve.cpu_command("qwen2.5-coder-0.5b", 8001) and path == argv[0]
    assert env["VLLM_CPU_KVCACHE_SPACE"]
    monkeypatch.setattr(vllm_serve, "has_gpu", lambda: True)
    assert main(["cloud", "--engine", "vllm", "--run"]) == 1  # a GPU host runs the GPU command instead


HEALTH = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def test_running_waits_for_health_and_stops_the_server(monkeypatch, tmp_path):
    """The start-up helper the vLLM test and bench/verify_cost.py share, with a stand-in process for vLLM."""
    import sys
    import urllib.request

    from tests.conftest import free_port

    monkeypatch.setattr(vllm_cpu, "setup", lambda model: None)
    monkeypatch.setattr(vllm_cpu, "serve_command", lambda model, port, extra=(): [sys.executable, "-c", HEALTH, str(port)])
    port = free_port()
    with vllm_cpu.running("qwen2.5-coder-1.5b", port, str(tmp_path / "log")) as url:
        assert url == f"http://127.0.0.1:{port}"
        assert urllib.request.urlopen(f"{url}/health", timeout=2).status == 200
    assert not vllm_cpu._healthy(url)  # stopped
    monkeypatch.setattr(vllm_cpu, "serve_command", lambda model, port, extra=(): [sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(RuntimeError, match="exit code 3"), \
            vllm_cpu.running("qwen2.5-coder-1.5b", free_port(), str(tmp_path / "log")):
        pass
