"""Request bodies for the services' ASGI apps (the oracle's and the relayer's): read whole,
within a size limit and a time limit, before any app code parses them.

A declared ``Content-Length`` over the limit is refused without reading; otherwise the body is
read up to the limit (chunked bodies included) under one timer for the whole body (a slow-loris
client would otherwise hold the request for ever; one ``asyncio.timeout``, not a task per
chunk, since both services read every reveal and attestation through here), then replayed to
the app. Refusals are JSON ``{"error": message}`` with ``Connection: close``: the body was not
read to its end, so the connection cannot carry another request.
"""

from __future__ import annotations

import asyncio
import json
from typing import NamedTuple

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyRefused(NamedTuple):
    status: int  # 400 bad Content-Length, 413 too large, 408 too slow
    message: str


async def read_body(
    scope: Scope, receive: Receive, max_bytes: int, seconds: float
) -> bytes | BodyRefused | None:
    """The whole request body, the refusal to answer instead, or None if the client left."""
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                return BodyRefused(400, "invalid Content-Length header")
            if declared > max_bytes:
                return BodyRefused(413, _too_large(declared, max_bytes))
    body = bytearray()
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                body += message.get("body", b"")
                if len(body) > max_bytes:
                    return BodyRefused(413, _too_large(len(body), max_bytes))
                if not message.get("more_body", False):
                    return bytes(body)
    except TimeoutError:
        return BodyRefused(
            408,
            f"the request body did not arrive within {seconds:g} s ({len(body)} bytes received)",
        )


def _too_large(size: int, max_bytes: int) -> str:
    return f"request body of {size} bytes exceeds the limit of {max_bytes} bytes"


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body already read, then the client's messages."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def send_error(send: Send, status: int, message: str, retry_after: int | None = None) -> None:
    """A JSON ``{"error": message}`` answer straight from ASGI, closing the connection."""
    payload = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class BodyLimit:
    """ASGI: every HTTP request's body read by :func:`read_body` (413, 408, 400 before the app
    sees it), then replayed to `app`."""

    def __init__(self, app: ASGIApp, max_bytes: int, body_timeout: float = 10.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await read_body(scope, receive, self.max_bytes, self.body_timeout)
        if body is None:
            return
        if isinstance(body, BodyRefused):
            await send_error(send, *body)
            return
        await self.app(scope, replaying(body, receive), send)
