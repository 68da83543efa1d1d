"""A TCP proxy in front of a node whose link can be cut, to test services under RPC faults.

``TcpProxy(upstream_port)`` listens on its own loopback port and forwards every connection to
``127.0.0.1:upstream_port``. Its ``mode`` decides what clients see:

* ``"pass"``: bytes flow both ways;
* ``"refuse"``: the listener is closed and open connections are reset (connection refused: a
  node that is down);
* ``"hang"``: connections are accepted and open ones stay open, but nothing is forwarded in
  either direction (a node that hangs: clients run into their read timeouts).

Threads only, no dependencies; the port stays the same across mode changes, so a service
started against ``proxy.url`` sees one node that comes and goes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Literal

Mode = Literal["pass", "refuse", "hang"]


class TcpProxy:
    def __init__(self, upstream_port: int, *, port: int = 0, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.mode: Mode = "pass"
        self.lock = threading.Lock()
        self.conns: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.port = port
        self._listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: Mode) -> None:
        with self.lock:
            previous, self.mode = self.mode, mode
        if mode == "refuse":
            self._close_listener()
            self._reset_all()
        elif mode == "pass" and previous == "hang":
            self._reset_all()  # connections held during the hang carry half-sent requests
        if mode != "refuse" and self.listener is None:
            self._listen()

    def close(self) -> None:
        self.set_mode("refuse")

    # -- internals

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 5
        while True:
            try:
                sock.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self.listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _close_listener(self) -> None:
        sock, self.listener = self.listener, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _reset_all(self) -> None:
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            with contextlib.suppress(OSError):
                c.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                c.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.conns += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.mode == "hang":
                    time.sleep(0.05)
                    if src.fileno() < 0:
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
