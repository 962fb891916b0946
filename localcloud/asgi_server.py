"""What localcloud's HTTP servers share: uvicorn (httptools, uvloop) on a socket bound to
127.0.0.1.

The HTTP/1.1 framing is uvicorn's and llhttp's (httptools), not ours: llhttp refuses
duplicate or malformed Content-Length, Content-Length with Transfer-Encoding, and bad chunk
sizes, and uvicorn answers 400 and closes the connection; a body the application did not
read is discarded by the parser (never taken for the next request), and a refusal sent
before the body was read also closes the connection;
`Expect: 100-continue` is answered only when the application asks for the body, so a request
refused on its headers never has its body sent at all. What this module adds:

- a read timeout (`READ_TIMEOUT_S`): a connection on which the server waits for client bytes
  (no request yet, a request's headers or body half sent, or idle keep-alive) for that long
  is closed; uvicorn alone only times out idle keep-alive connections.
- a deadline on the request head (`HEAD_TIMEOUT_S`): a request line and headers not complete
  that long after the connection opened or the request's first byte arrived close the
  connection, however slowly they drip in (a byte every few seconds resets no clock).
- a limit on the request line and headers (`MAX_HEADER_BYTES`), which llhttp leaves to
  its caller.
- `Host` checking: only the loopback names (and any configured with `MLGW_ALLOWED_HOSTS`, a
  comma-separated list, plus the host the server was told to bind) are served, so a web page
  that rebinds its own DNS name to 127.0.0.1 cannot reach the server (DNS rebinding).
- `read_body`: the body in chunks against a limit, refusing it from Content-Length before a
  byte is read.
- `run_sync`: the services are synchronous (SQLite, files, models): work that may take long
  runs on a thread pool, off the event loop (callers keep only short, bounded work inline:
  a hop to a thread and back costs more than an SQLite lookup).
- `_OneWriteResponses`: a response's head and body leave in one write.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("localcloud")

READ_TIMEOUT_S = 30.0  # no client bytes for this long while we wait for some: close
HEAD_TIMEOUT_S = 10.0  # a request line + headers must be complete this long after they began
KEEP_ALIVE_S = 30.0  # idle keep-alive connection lifetime (boto3 reuses connections)
MAX_HEADER_BYTES = 64 * 1024  # request line + headers (S3 allows 8 KB of headers; boto3 sends < 2 KB)
WORKER_THREADS = 32

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

App = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


class BodyTooLarge(Exception):
    """A request body over the server's limit (the rest is never read)."""

    def __init__(self, size: int):
        super().__init__(f"request body of at least {size} bytes is too large")
        self.size = size


class ClientDisconnected(Exception):
    """The client hung up before sending the whole body."""


def allowed_hosts(bind_host: str) -> frozenset[str]:
    extra = {h.strip().lower() for h in os.environ.get("MLGW_ALLOWED_HOSTS", "").split(",") if h.strip()}
    return LOOPBACK_HOSTS | {bind_host.lower()} | extra


def host_name(host_header: str) -> str:
    """'localhost' from 'localhost:4777', '[::1]' from '[::1]:4777'."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rpartition(":")[0] if ":" in host else host


def header(scope: dict, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def read_body(scope: dict, receive: Callable[[], Awaitable[dict]], limit: int) -> bytes:
    """The whole request body, refused (BodyTooLarge) from its Content-Length before any of it
    is read, or as soon as a chunked body passes the limit."""
    length = header(scope, b"content-length")
    if length is not None and int(length) > limit:  # llhttp has already checked it is a number
        raise BodyTooLarge(int(length))
    parts, total = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        if chunk:
            total += len(chunk)
            if total > limit:
                raise BodyTooLarge(total)
            parts.append(chunk)
        if not message.get("more_body"):
            return parts[0] if len(parts) == 1 else b"".join(parts)


async def send_response(
    send: Callable[[dict], Awaitable[None]], status: int, headers: dict[str, str], body: bytes, close: bool = False
) -> None:
    """Status, headers and body; `close` for a refusal that left the body unread."""
    raw = []
    for name, value in headers.items():
        # A header value never carries CR or LF (uvicorn would refuse to send it): an echoed
        # parameter cannot add headers of its own (response splitting).
        raw.append((name.encode("latin-1"), _header_value(value)))
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _header_value(value: str) -> bytes:
    if "\r" in value or "\n" in value or "\x00" in value:
        value = value.replace("\r", " ").replace("\n", " ").replace("\x00", " ")
    return value.encode("latin-1", "replace")


class _OneWriteResponses:
    """A transport that sends a response's head together with its first body write.

    uvicorn writes the status line and headers, then the body: two TCP segments, and for a
    small response two reads (and wake-ups) on the client, per request. The head is held
    until the body write that follows it in the same step (or the loop's next turn, or a
    close), so a small response leaves in one segment."""

    def __init__(self, transport, loop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 100 "):
            self._head = data
            self._loop.call_soon(self._flush)
            return
        self._transport.write(data)

    def _flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class _Protocol(HttpToolsProtocol):
    """uvicorn's httptools (llhttp) protocol plus a read timeout on every wait for the client,
    a total deadline on each request head and a limit on the request line and headers
    (llhttp has none of its own)."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.transport = _OneWriteResponses(transport, self.loop)  # type: ignore[assignment]
        self._last_read = self.loop.time()
        self._header_bytes = 0
        # When the head being received began (the connection's first, or a request's first
        # byte); None once it is complete, until the next request begins.
        self._head_began: float | None = self._last_read
        self._read_timer = self.loop.call_later(min(READ_TIMEOUT_S, HEAD_TIMEOUT_S), self._check_read)

    def data_received(self, data: bytes) -> None:
        self._last_read = self.loop.time()
        if self._header_bytes > MAX_HEADER_BYTES:  # headers that never end
            self.send_400_response("Request line and headers too large.")
            return
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._header_bytes = 0
        if self._head_began is None:  # a request after a complete one: its head's clock starts
            self._head_began = self.loop.time()
            deadline = self._head_began + HEAD_TIMEOUT_S
            if self._read_timer.when() > deadline:
                self._read_timer.cancel()
                self._read_timer = self.loop.call_at(deadline, self._check_read)
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._header_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._header_bytes > MAX_HEADER_BYTES:
            # Raised in a parser callback, httptools reports it as a parser error: uvicorn
            # answers 400 and closes.
            raise ValueError("request line and headers too large")
        self._header_bytes = 0
        self._head_began = None
        super().on_headers_complete()

    def connection_lost(self, exc) -> None:
        timer = getattr(self, "_read_timer", None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(exc)

    def _waiting_for_client(self) -> bool:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return True  # between requests, or a request's headers half sent
        return cycle.more_body  # the body is not all here yet

    def _check_read(self) -> None:
        if self.transport.is_closing():
            return
        now = self.loop.time()
        idle = now - self._last_read
        if idle >= READ_TIMEOUT_S and self._waiting_for_client():
            self.transport.close()
            return
        wait = READ_TIMEOUT_S - idle
        if self._head_began is not None:
            head_left = HEAD_TIMEOUT_S - (now - self._head_began)
            if head_left <= 0:
                self.transport.close()  # a head dripping in: no answer owed, nothing was read
                return
            wait = min(wait, head_left)
        self._read_timer = self.loop.call_later(max(0.1, wait), self._check_read)


class LoopbackServer:
    """An ASGI application served by uvicorn on (host, port); port 0 picks a free one.

    The socket is bound in the constructor, so `url` is known before serving starts.
    `serve_forever()` in the foreground (SIGINT/SIGTERM stop it), or `start_background()`
    and `shutdown()` for tests and benchmarks.
    """

    thread_name = "server"

    def __init__(self, address: tuple[str, int], app: App, reuse_port: bool = False):
        host, port = address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say TCP, and
        # without it a response's header and body writes wait out the client's delayed ACK.
        self.socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            self.socket.bind((host, port))
            self.socket.listen(128)
        except OSError:
            self.socket.close()
            raise
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self.executor = concurrent.futures.ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix=self.thread_name)
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(
                app,
                http=_Protocol,
                loop="uvloop",
                lifespan="off",
                access_log=False,
                interface="asgi3",
                proxy_headers=False,
                log_level="warning",
                timeout_keep_alive=int(KEEP_ALIVE_S),
                server_header=False,
                date_header=False,
                timeout_graceful_shutdown=5,
            )
        )
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    async def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def serve_forever(self) -> None:
        self._uvicorn.run(sockets=[self.socket])

    def start_background(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        while not self._uvicorn.started and self._thread.is_alive():
            threading.Event().wait(0.005)
        return self._thread

    def shutdown(self) -> None:
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def server_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.socket.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
