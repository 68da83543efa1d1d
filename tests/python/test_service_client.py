"""The CLI's service client (labelproof.client.Service) against a real HTTP server: the
oracle's "nothing stored, try again in N s" (503 or 429 with Retry-After) is sent again, other
refusals are not."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from labelproof.client import ORACLE_BUSY_RETRIES, Service, ServiceRefused


class Scripted(ThreadingHTTPServer):
    answers: list[tuple[int, dict[str, str]]]
    seen: list[str]


class Handler(BaseHTTPRequestHandler):
    server: Scripted

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.server.seen.append(self.path)
        status, headers = self.server.answers.pop(0)
        body = json.dumps({"error": "busy"} if status >= 400 else {"ok": True}).encode()
        self.send_response(status)
        for name, value in {"content-type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Scripted]:
    httpd = Scripted(("127.0.0.1", 0), Handler)
    httpd.seen = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(server: Scripted) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_a_busy_oracle_is_asked_again_after_the_wait_it_gives(server: Scripted) -> None:
    server.answers = [(503, {"retry-after": "0"}), (429, {"retry-after": "0"}), (201, {})]
    oracle = Service(url(server), "oracle", busy_retries=ORACLE_BUSY_RETRIES)
    assert oracle.request("POST", "/tasks/1/gold", {"x": 1}) == (201, {"ok": True})
    assert server.seen == ["/tasks/1/gold"] * 3


def test_retries_end_with_the_last_refusal(server: Scripted) -> None:
    server.answers = [(503, {"retry-after": "0"})] * (ORACLE_BUSY_RETRIES + 1)
    oracle = Service(url(server), "oracle", busy_retries=ORACLE_BUSY_RETRIES)
    with pytest.raises(ServiceRefused, match=r"oracle refused POST /r: busy \(HTTP 503\)"):
        oracle.request("POST", "/r", {})
    assert len(server.seen) == ORACLE_BUSY_RETRIES + 1


@pytest.mark.parametrize(
    ("answer", "retries"),
    [
        ((503, {}), ORACLE_BUSY_RETRIES),  # no Retry-After: not a "try again"
        ((422, {"retry-after": "0"}), ORACLE_BUSY_RETRIES),  # a verdict, not a busy service
        ((503, {"retry-after": "0"}), 0),  # the relayer's client decides for itself
    ],
)
def test_other_refusals_are_not_sent_again(
    server: Scripted, answer: tuple[int, dict[str, str]], retries: int
) -> None:
    server.answers = [answer, (201, {})]
    service = Service(url(server), "service", busy_retries=retries)
    with pytest.raises(ServiceRefused) as refused:
        service.request("POST", "/r", {})
    assert refused.value.status == answer[0] and server.seen == ["/r"]
