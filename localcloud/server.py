"""The localcloud HTTP server: one port on 127.0.0.1, SigV4-verified, routed like AWS."""
from __future__ import annotations

import dataclasses
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from localcloud import sigv4
from localcloud.cloud import LocalCloud
from localcloud.config import Config
from localcloud.errors import AwsError
from localcloud.protocol import Request, Response, json_error, query_error, xml_error
from localcloud.router import route

log = logging.getLogger("localcloud")

# Bodies larger than this are refused before they are read (S3 single PUT's own limit is 5 GB;
# ours is a laptop's). Services apply their own, smaller limits (InvokeEndpoint: 6 MB).
MAX_BODY = 1 << 30


class BodyTooLarge(Exception):
    """A request body over the server's limit (the unread rest is still on the socket)."""

    def __init__(self, size: int):
        super().__init__(f"request body of at least {size} bytes is too large")
        self.size = size


class LoopbackHandler(BaseHTTPRequestHandler):
    """What localcloud's request handlers share: keep-alive, no Nagle delay, quiet logging,
    and a body reader that honours chunked transfer encoding and a size limit."""
    protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses connections
    # Headers and body go out in separate writes; without TCP_NODELAY each small response
    # waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s", self.address_string(), format % args)

    def read_body(self, limit: int) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > limit:
                    raise BodyTooLarge(total)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            raise BodyTooLarge(length)
        return self.rfile.read(length) if length > 0 else b""

    def write_response(self, status: int, headers: dict[str, str], body: bytes) -> None:
        """Status, headers (Content-Length added unless given) and body in one write: one
        syscall, one segment for a small response. A HEAD response sends no body."""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        buffer = getattr(self, "_headers_buffer", None)
        if buffer is None:      # HTTP/0.9: no headers are sent at all
            self.end_headers()
            buffer = []
        else:
            buffer.append(b"\r\n")
        if self.command != "HEAD" and body:
            buffer.append(body)
        self.wfile.write(b"".join(buffer))
        buffer.clear()


class _Handler(LoopbackHandler):
    server: "LocalCloudServer"

    def _handle(self) -> None:
        raw_path, _, raw_query = self.path.partition("?")
        service = "unknown"
        request_id = ""
        try:
            service = sigv4.parse_scope(self.headers.get("Authorization")).service
            try:
                body = self.read_body(MAX_BODY)
            except BodyTooLarge as exc:
                raise AwsError("EntityTooLarge", f"Request body of {exc.size} bytes is too large", 413) from None
            scope = sigv4.verify(self.command, self.path, self.headers, body,
                                 self.server.cloud.config.access_key,
                                 self.server.cloud.config.secret_key)
            service = scope.service
            request = Request(self.command, raw_path, raw_query, self.headers, body,
                              scope.service, scope.region)
            request_id = request.request_id
            response = route(self.server.cloud, request)
        except AwsError as error:
            response = _render_error(error, service, request_id)
        except Exception as exc:  # the server never dies on a request
            log.exception("internal error on %s %s", self.command, self.path)
            response = _render_error(AwsError("InternalFailure", f"localcloud internal error: {exc}",
                                              500, sender=False), service, request_id)
        self._send(response, request_id)

    def _send(self, response: Response, request_id: str) -> None:
        headers = {"x-amzn-RequestId": request_id, "x-amz-request-id": request_id, **response.headers}
        self.write_response(response.status, headers, response.body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


def _render_error(error: AwsError, service: str, request_id: str) -> Response:
    if service == "s3":
        return xml_error(error, request_id)
    if service in ("sts", "iam"):
        return query_error(error, request_id)
    return json_error(error)


class LoopbackServer(ThreadingHTTPServer):
    """What localcloud's servers share: a thread per connection, quiet about clients that hang
    up, and a background mode for tests and benchmarks."""
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    thread_name = "server"

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def handle_error(self, request, client_address) -> None:
        # A client hanging up mid-response is routine (timeouts, benchmarks), not an error.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name=self.thread_name, daemon=True)
        thread.start()
        return thread


class LocalCloudServer(LoopbackServer):
    thread_name = "localcloud"

    def __init__(self, config: Config | None = None, cloud: LocalCloud | None = None):
        self.cloud = cloud or LocalCloud(config)
        cfg = self.cloud.config
        super().__init__((cfg.host, cfg.port), _Handler)
        if cfg.port == 0:  # an ephemeral port (tests): record the one the OS chose
            self.cloud.config = dataclasses.replace(cfg, port=self.server_address[1])
        from localcloud.clock import Clock
        self.clock = Clock(self.cloud)   # started by serve_forever

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve, with the background clock (scheduled rules, alarm evaluation) running."""
        self.clock.start()
        try:
            super().serve_forever(poll_interval)
        finally:
            self.clock.stop()

    def close(self) -> None:
        """Release the port and let each service flush what it buffers."""
        self.clock.stop()
        self.server_close()
        self.cloud.close()

    def stop(self) -> None:
        self.shutdown()
        self.close()
