"""Run an app with uvicorn on a socket bound here, so a busy port is a named error before
anything starts, and port 0 (any free port) tells the caller which port it got."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from moola.errors import ConfigError

#: How long :func:`running` waits for the server to start.
START_TIMEOUT = 30.0


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; a busy or bad address is a ConfigError."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"port must be an integer in 0..65535, got {port!r}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port"
        ) from None
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, remembering a Ctrl-C: uvicorn re-raises the signal after its
    graceful stop, but not on every path (a signal while it starts or stops), so that
    :func:`serve` can make a Ctrl-C exit like one whichever path uvicorn took."""

    interrupted = False

    def handle_exit(self, sig: int, frame: Any) -> None:
        if sig == signal.SIGINT:
            self.interrupted = True
        super().handle_exit(sig, frame)


def make_server(app: Any, *, log_level: str = "info", access_log: bool = True) -> _Server:
    config = uvicorn.Config(app, log_level=log_level, access_log=access_log, lifespan="on")
    return _Server(config)


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(app: Any, sock: socket.socket, *, access_log: bool = True) -> None:
    """Serve ``app`` on ``sock`` until interrupted (Ctrl-C or SIGTERM: a graceful stop).
    A Ctrl-C ends in :class:`KeyboardInterrupt` (moola's exit 130) after the stop."""
    server = make_server(app, access_log=access_log)
    server.run(sockets=[sock])
    if server.interrupted:
        raise KeyboardInterrupt


@contextlib.contextmanager
def running(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` in a background thread while the block runs; yields its base URL.

    For tests and benchmarks: a real uvicorn on a real socket (port 0: any free port),
    stopped and joined on exit.
    """
    sock = bind(host, port)
    server = make_server(app, log_level="warning", access_log=False)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT)
        sock.close()
