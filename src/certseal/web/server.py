"""Serving the app: one process per worker, each with its own SO_REUSEPORT socket, supervised.

`uvicorn --workers N` is not used: the listening socket it hands its workers reports protocol 0, so asyncio does
not set TCP_NODELAY on accepted connections and every response waits ~40 ms for a delayed ACK.  Here each worker
binds its own IPPROTO_TCP socket on the same port and the kernel spreads connections over them.  A worker that
dies is started again; the others keep serving meanwhile.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

from certseal.logs import get_logger

log = get_logger("server")
RESTART_PAUSE = 0.5


def listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def run_worker(host: str, port: int, access_log: bool, reuse_port: bool) -> None:
    """One server process: builds the app from the environment's settings (CERTSEAL_*) and serves it."""
    import uvicorn

    config = uvicorn.Config(
        "certseal.web.app:create_app",
        factory=True,
        log_level="info" if access_log else "warning",
        access_log=access_log,
        proxy_headers=True,
        backlog=2048,
    )
    uvicorn.Server(config).run(sockets=[listening_socket(host, port, reuse_port)])


def serve(host: str, port: int, workers: int = 1, access_log: bool = True) -> None:
    if workers <= 1:
        run_worker(host, port, access_log, reuse_port=False)
        return
    Supervisor(host, port, workers, access_log).run()


class Supervisor:
    def __init__(self, host: str, port: int, workers: int, access_log: bool) -> None:
        self._args = (host, port, access_log, True)
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[BaseProcess] = []
        self._count = workers
        self._stopping = False

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self._workers = [self._start() for _ in range(self._count)]
        log.info("serving on %s:%s with %d workers", self._args[0], self._args[1], self._count)
        while not self._stopping:
            time.sleep(RESTART_PAUSE)
            for index, worker in enumerate(self._workers):
                if not worker.is_alive() and not self._stopping:
                    log.warning("worker %s exited with %s; starting another", worker.pid, worker.exitcode)
                    self._workers[index] = self._start()
        for worker in self._workers:
            worker.terminate()
        for worker in self._workers:
            worker.join(timeout=15)

    def _start(self) -> BaseProcess:
        worker = self._context.Process(target=run_worker, args=self._args, daemon=True)
        worker.start()
        return worker

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
