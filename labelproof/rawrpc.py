"""JSON-RPC over a plain keep-alive ``http.client`` connection per thread: the services' hot
reads (the relayer's intake checks, the oracle's head read for each reveal).

A call through web3's requests-based provider costs about a millisecond of CPU in middleware
and per-call setup; this costs about a tenth of it. Only for reads whose answers the caller
decodes itself; everything else goes through web3. Errors are split the way the services
answer them: :class:`RpcUnavailable` (the node could not answer: refused, reset, timeout,
HTTP 5xx/429, a rate-limit code) is transient and becomes a 503 with ``Retry-After``;
``ValueError`` is an answer that is not what was asked for.
"""

from __future__ import annotations

import http.client
import json
import threading
from base64 import b64encode
from typing import Any
from urllib.parse import unquote, urlsplit

# JSON-RPC codes that mean "later", not "no": -32005 limit exceeded (Infura, Alchemy),
# -32603 internal error of a proxying provider, 429 as a code (some gateways).
TRANSIENT_CODES = {-32005, -32603, 429}


class RpcUnavailable(ConnectionError):
    """The node did not answer usefully (refused, reset, timeout, HTTP 5xx / 429): transient."""


class RawRpc:
    """JSON-RPC calls and batches over a plain keep-alive connection per thread (a batch of
    three reads through web3 costs about 1.3 ms of CPU, this about a tenth of it)."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) RPC URL: {url!r}")
        self.headers = {"Content-Type": "application/json"}
        if parts.username is not None:  # https://user:key@provider/...: HTTP basic auth
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.headers["Authorization"] = "Basic " + b64encode(credentials.encode()).decode()
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self.local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = cls(self.host, self.port, timeout=self.timeout)
            self.local.conn = conn
        return conn

    def call(self, method: str, params: list[Any]) -> Any:
        """The ``result`` of one call (not a batch: some providers answer batches of one
        differently); errors as :meth:`batch`."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        answer = json.loads(self._post(body.encode()))
        if isinstance(answer, dict) and "result" in answer:
            return answer["result"]
        error = answer.get("error") if isinstance(answer, dict) else answer
        code = error.get("code") if isinstance(error, dict) else None
        kind = RpcUnavailable if code in TRANSIENT_CODES else ValueError
        raise kind(f"{method}: {error!r:.200}")

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """The ``result`` of each call, in order; a call's JSON-RPC error raises ValueError
        (RpcUnavailable for a rate limit or a provider's internal error)."""
        results = self.batch_outcomes(calls)
        for outcome in results:
            if isinstance(outcome, Exception):
                raise outcome
        return results

    def batch_outcomes(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Each call's ``result``, or for a call the node answered with an error, that error
        as an exception instance (RpcUnavailable if transient, else ValueError), so one bad
        call does not spoil the others. The batch as a whole failing raises RpcUnavailable."""
        body = json.dumps(
            [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                for i, (m, p) in enumerate(calls)
            ]
        ).encode()
        data = self._post(body)
        answers = json.loads(data)
        if not isinstance(answers, list):
            error = answers.get("error") if isinstance(answers, dict) else answers
            raise RpcUnavailable(f"the node refused the batch: {error!r:.200}")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        results: list[Any] = []
        for i in range(len(calls)):
            answer = by_id.get(i)
            if answer is not None and "result" in answer:
                results.append(answer["result"])
                continue
            error = answer.get("error") if answer else "no answer"
            code = error.get("code") if isinstance(error, dict) else None
            if code in TRANSIENT_CODES:
                results.append(RpcUnavailable(f"{calls[i][0]}: {error!r:.200}"))
            else:
                results.append(ValueError(f"{calls[i][0]}: {error!r:.200}"))
        return results

    def _post(self, body: bytes) -> bytes:
        """The node's 200 answer to ``body``; RpcUnavailable when it could not answer."""
        for attempt in (1, 2):  # a keep-alive connection the node closed: reconnect once
            conn = self._conn()
            try:
                conn.request("POST", self.path, body, self.headers)
                response = conn.getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self.local.conn = None
                if attempt == 2 or isinstance(exc, TimeoutError):
                    raise RpcUnavailable(f"{type(exc).__name__}: {exc}") from None
        if response.status >= 500 or response.status in (408, 429):
            raise RpcUnavailable(f"HTTP {response.status} from the node")
        if response.status != 200:
            raise ValueError(f"HTTP {response.status} from the node: {data[:200]!r}")
        return data
