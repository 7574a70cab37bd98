"""`certseal serve`: several worker processes on one port; a worker killed with -9 is replaced, and clients that
retry once never see a failure meanwhile."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.fixtures.server import CERTSEAL, LiveDeployment, free_port


def _workers(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return int(response.status)


def _get_with_one_retry(url: str) -> int:
    try:
        return _get(url)
    except OSError:
        return _get(url)


def _wait(predicate, seconds: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:  # workers still starting: nothing listens yet
            pass
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def test_workers_survive_a_killed_worker(offline: LiveDeployment) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/health/ready"
    server = subprocess.Popen(
        [*CERTSEAL, "serve", "--port", str(port), "--workers", "2", "--no-access-log"],
        env=offline.env,
        cwd=offline.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait(lambda: len(_workers(server.pid)) == 2)
        _wait(lambda: _get_with_one_retry(url) == 200)
        victim = _workers(server.pid)[0]
        os.kill(victim, signal.SIGKILL)
        statuses = [_get_with_one_retry(url) for _ in range(60)]
        assert statuses == [200] * 60
        _wait(lambda: len(_workers(server.pid)) == 2 and victim not in _workers(server.pid))
        assert _get(url) == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0


def test_serve_refuses_an_uninitialised_database(tmp_path: Path, offline: LiveDeployment) -> None:
    env = {**offline.env, "CERTSEAL_HOME": str(tmp_path / "empty")}
    (tmp_path / "empty").mkdir()
    result = subprocess.run(
        [*CERTSEAL, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "certseal init" in result.stderr
