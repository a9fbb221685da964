"""Run the simulator: in a background thread for tests (yields the base URL), or in the foreground (CLI)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from bitsniper.simulator.app import Simulator, create_app

__all__ = ["RunningSimulator", "run_in_thread", "serve_forever"]

_STARTUP_TIMEOUT_SECS = 10.0


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    """A live simulator: ``url`` for ``Market/Trade/User(url=...)`` and the simulator to inspect."""

    url: str
    sim: Simulator


def _config(sim: Simulator, log_level: str) -> uvicorn.Config:
    # h11 keeps the request cycle's transport reachable, which the drop faults rely on.
    return uvicorn.Config(
        create_app(sim), http="h11", lifespan="off", log_level=log_level, access_log=False,
        timeout_graceful_shutdown=1,
    )


@contextmanager
def run_in_thread(sim: Simulator, log_level: str = "warning") -> Iterator[RunningSimulator]:
    """Serve ``sim`` on a free 127.0.0.1 port in a daemon thread; stop it on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(_config(sim, log_level))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"simulator-{port}")
    thread.start()
    deadline = time.monotonic() + _STARTUP_TIMEOUT_SECS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    try:
        yield RunningSimulator(f"http://127.0.0.1:{port}", sim)
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def serve_forever(sim: Simulator, port: int, host: str = "127.0.0.1", log_level: str = "info") -> None:
    """Foreground server for ``bitsniper simulator``; Ctrl-C stops it."""
    config = _config(sim, log_level)
    config.host, config.port = host, port
    uvicorn.Server(config).run()
