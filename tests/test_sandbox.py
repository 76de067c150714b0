"""The sandbox every generated program runs in (gateway/core/verifiers/sandbox.py): the examples
verifier's and the cascade benchmark's. Right and wrong programs, limits, and containment: no
network, no writes outside its temp dir, fork bombs and loops end. The containment tests need the
namespaces (root and util-linux's unshare); elsewhere they skip and say why."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from gateway.core.verifiers.sandbox import Limits, Sandbox

REPO = Path(__file__).resolve().parent.parent
FAST = Limits(cpu_s=2, wall_s=4, memory_mb=512, nproc=16)


@pytest.fixture(scope="module")
def box() -> Sandbox:
    return Sandbox(FAST)


def isolated(box: Sandbox) -> None:
    if box.isolation != "namespaces":
        pytest.skip(f"no namespace isolation here: {box.reason}")


def test_right_answer_passes_wrong_answer_fails(box):
    assert box.run("assert sorted([3, 1, 2]) == [1, 2, 3]\n").passed
    wrong = box.run("assert sorted([3, 1, 2]) == [3, 2, 1]\n")
    assert wrong.status == "failed" and "AssertionError" in wrong.stderr


def test_infinite_loop_is_stopped(box):
    r = box.run("while True:\n    pass\n")
    assert not r.passed
    assert r.seconds < FAST.wall_s + 3  # the CPU limit (or, at the latest, the wall limit) ended it


def test_sleeping_forever_hits_the_wall_limit(box):
    r = box.run("import time\ntime.sleep(600)\n")
    assert r.status == "timeout" and r.seconds < FAST.wall_s + 3


def _processes_of(uid: int) -> int:
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


def test_fork_bomb_is_contained(box):
    counted = box.run(
        "import os, time\nn = 0\nfor _ in range(200):\n    try:\n        pid = os.fork()\n    except OSError:\n"
        "        break\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n    n += 1\nprint(n, flush=True)\n")
    assert int(counted.stdout.split()[0]) < FAST.nproc  # the process limit held
    before = _processes_of(65534)
    r = box.run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n")
    assert not r.passed and r.seconds < FAST.wall_s + 3
    deadline = time.monotonic() + 10  # the kernel reaps a killed namespace's processes asynchronously
    while _processes_of(65534) > before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_of(65534) <= before  # nothing it forked outlives it
    assert box.run("print('still fine')\n").passed


def test_network_is_unreachable(box):
    isolated(box)
    with socket.socket() as server:  # a listener on the host's loopback: reachable from here, not from there
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        r = box.run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n")
        assert not r.passed and ("OSError" in r.stderr or "Error" in r.stderr)
        outside = socket.create_connection(("127.0.0.1", port), timeout=2)  # the host itself still can
        outside.close()


def test_writes_outside_its_temp_dir_do_not_land(box, tmp_path):
    isolated(box)
    target = tmp_path / "escaped.txt"
    in_repo = REPO / "ESCAPED_FROM_SANDBOX.txt"
    program = (
        "import os\nresults = []\n"
        f"for path in [{str(target)!r}, {str(in_repo)!r}, '/tmp/escaped.txt', '../escaped.txt', 'mine.txt']:\n"
        "    try:\n        open(path, 'w').write('x')\n        results.append('ok')\n"
        "    except OSError as exc:\n        results.append(type(exc).__name__)\n"
        "print(os.getcwd(), results)\n")
    r = box.run(program)
    assert r.passed, r.stderr
    cwd, results = r.stdout.split(" ", 1)
    assert "ok" not in results.split(",")[1]  # the checkout is read-only to it
    assert results.strip().endswith("'ok']")  # its own temp dir is writable
    assert not target.exists() and not in_repo.exists() and not Path("/tmp/escaped.txt").exists()
    assert not (Path(cwd).parent / "escaped.txt").exists()
