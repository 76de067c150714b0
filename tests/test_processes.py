"""Commands that start children: ports are ours or clearly refused, and children die with us."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from cloud.process import LocalCloudError, ensure_port_free

SMOL_BOTH = ["--device-model", "smollm2-135m", "--set", "cloud.local.model=smollm2-135m"]
pytestmark = pytest.mark.usefixtures("smol_path")


class _Impostor(BaseHTTPRequestHandler):
    """An unrelated server on the local cloud's old fixed port that looks healthy and fails the rest."""

    def do_GET(self) -> None:  # noqa: N802 — http.server's naming
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self) -> None:  # noqa: N802
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def impostor_on_8001():
    try:
        server = HTTPServer(("127.0.0.1", 8001), _Impostor)
    except OSError:
        pytest.skip("port 8001 is taken on this machine already")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 8001
    server.shutdown()
    server.server_close()


def tandem(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.integration
def test_demo_never_talks_to_a_stranger_on_port_8001(impostor_on_8001):
    proc = tandem("demo", *SMOL_BOTH)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out + err
    assert "DEGRADED" not in out and "degraded" not in out
    assert "tandem-speculative" in out


def test_a_busy_fixed_port_stops_the_start_naming_the_port(impostor_on_8001):
    proc = tandem("demo", *SMOL_BOTH, "--set", f"cloud.local.port={impostor_on_8001}")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert f"port {impostor_on_8001} on 127.0.0.1 is already in use" in err


def test_port_check_names_the_setting_to_change():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(LocalCloudError, match=f"port {port} .*server.port=0"):
            ensure_port_free("127.0.0.1", port, "the gateway", "server.port")
    ensure_port_free("127.0.0.1", 0)


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.integration
@pytest.mark.parametrize("command,ready", [("serve", "Tandem gateway on"), ("demo", "ready in")])
def test_sigkill_leaves_no_child_behind(command, ready):
    extra = ["--port", "0"] if command == "serve" else []
    proc = tandem(command, *SMOL_BOTH, *extra)
    try:
        deadline = time.monotonic() + 300
        assert proc.stdout is not None
        for line in proc.stdout:
            if ready in line or time.monotonic() > deadline:
                break
        children = _children(proc.pid)
        assert children, "the local cloud child should be running"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 15
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [c for c in children if _alive(c)], "children outlived a SIGKILLed parent"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_port_left_in_time_wait_by_our_own_restarted_cloud_counts_as_free():
    """A killed server leaves TIME_WAIT connections behind; its restart on the same port must go on."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server closes first: TIME_WAIT on its side
    time.sleep(0.1)
    client.close()
    server.close()
    ensure_port_free("127.0.0.1", port)
