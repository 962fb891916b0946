"""The localcloud HTTP server: one port on 127.0.0.1, SigV4-verified, routed like AWS.

Per request: Host check → the Authorization header's key, date and scope (refused before a
byte of the body is read) → Content-Length against the service's limit → the body → the
signature → `router.route(cloud, request)` on a worker thread.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from email.message import Message
from http.client import HTTPMessage

from localcloud import sigv4
from localcloud.asgi_server import (
    BodyTooLarge,
    ClientDisconnected,
    LoopbackServer,
    allowed_hosts,
    host_name,
    read_body,
    send_response,
)
from localcloud.cloud import LocalCloud
from localcloud.config import Config
from localcloud.errors import AwsError, EntityTooLarge, InternalFailure, InvalidHostHeader, SerializationException
from localcloud.protocol import Request, Response, json_error, query_error, xml_error
from localcloud.router import route
from localcloud.s3.models import remove_temporaries

log = logging.getLogger("localcloud")

# Bodies larger than this are refused before they are read (S3 single PUT's own limit is 5 GB;
# ours is a laptop's). Services apply their own, smaller limits (InvokeEndpoint: 6 MB).
MAX_BODY = 1 << 30
# The JSON and query services: their largest request is InvokeEndpoint's 6 MB payload (25 MB
# for asynchronous inference); their signature covers the body, so it is read to check it.
MAX_API_BODY = 32 << 20

__all__ = ["BodyTooLarge", "LocalCloudServer", "LoopbackServer", "MAX_BODY"]


def _headers(scope: dict) -> tuple[Message, dict[str, list[str]]]:
    """The request's headers as services read them (an email Message, as http.server gave
    them), and as lower-cased name → values for the signature check (Message lookups scan)."""
    message = HTTPMessage()
    values: dict[str, list[str]] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        message[name] = value
        values.setdefault(name, []).append(value)  # uvicorn lower-cases names
    return message, values


class Activity:
    """Requests in flight, how many were answered and when the last one ended: lets background
    work (the daemon's import of the serving libraries) wait for a quiet moment instead of
    slowing requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._answered = 0
        self._last = time.monotonic()

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1

    def end(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._answered += 1
            self._last = time.monotonic()

    def idle_seconds(self) -> float:
        """Seconds since the last request ended; 0 while one is in flight or before the first
        request was answered."""
        with self._lock:
            if self._in_flight or not self._answered:
                return 0.0
            return time.monotonic() - self._last

    def wait_idle(self, seconds: float, stop: threading.Event, check: float = 0.05) -> bool:
        """Block until a first request was answered and none has run for `seconds` since;
        False if `stop` is set first."""
        while not stop.wait(check):
            if self.idle_seconds() >= seconds:
                return True
        return False


class LocalCloudServer(LoopbackServer):
    thread_name = "localcloud"

    def __init__(self, config: Config | None = None, cloud: LocalCloud | None = None):
        self.cloud = cloud or LocalCloud(config)
        self.activity = Activity()
        cfg = self.cloud.config
        # This server owns the state directory: what killed writes left is garbage now.
        files, size = remove_temporaries(cfg.home)
        if files:
            log.info("removed %d temporary file(s), %d bytes, left by interrupted writes", files, size)
        # ... and the jobs a killed server left running are orphans: killed, their executions
        # Failed, before this server listens. Otherwise a job between two calls (a Deploy
        # polling its endpoint) reaches this server and goes on changing state for a step
        # recorded as Failed, which its retry then runs again. Not when a server already answers
        # on this port: this one cannot listen, and those executions are that server's.
        from localcloud.daemon import answers

        if cfg.port == 0 or not answers(cfg.host, cfg.port):
            for arn in self.cloud.pipelines.recover():
                log.info(
                    "execution %s was running when the previous server stopped: marked "
                    "Failed (RetryPipelineExecution runs its failed steps again)",
                    arn,
                )
        super().__init__((cfg.host, cfg.port), self.app)
        self._hosts = allowed_hosts(cfg.host)
        if cfg.port == 0:  # an ephemeral port (tests): record the one the OS chose
            self.cloud.config = dataclasses.replace(cfg, port=self.server_address[1])
        from localcloud.clock import Clock

        self.clock = Clock(self.cloud)  # started by serve_forever

    def serve_forever(self) -> None:
        """Serve, with the background clock (scheduled rules, alarm evaluation) running."""
        self.clock.start()
        try:
            super().serve_forever()
        finally:
            self.clock.stop()

    async def app(self, scope: dict, receive, send) -> None:
        if scope["type"] != "http":
            return
        self.activity.begin()
        try:
            await self._serve(scope, receive, send)
        finally:
            self.activity.end()

    async def _serve(self, scope: dict, receive, send) -> None:
        method = scope["method"]
        raw_path = scope["raw_path"].decode("latin-1")
        raw_query = scope["query_string"].decode("latin-1")
        full_path = f"{raw_path}?{raw_query}" if raw_query else raw_path
        headers, header_values = _headers(scope)
        service, request_id, body_read = "unknown", "", False
        config = self.cloud.config
        try:
            host = headers.get("Host") or ""
            if host_name(host) not in self._hosts:
                raise InvalidHostHeader(
                    f"Host {host!r} is not served here: localcloud "
                    "answers loopback host names only (set MLGW_ALLOWED_HOSTS to add one)"
                )
            claimed = sigv4.parse_scope(headers.get("Authorization"))
            service = claimed.service
            # Whose key signed it: the administrator's, or a role session's (localcloud/iam).
            principal, secret = self.cloud.principal_of(claimed.access_key)
            auth = sigv4.check_header(headers, claimed.access_key if principal else config.access_key, config.region)
            try:
                body = await read_body(scope, receive, MAX_BODY if service == "s3" else MAX_API_BODY)
            except BodyTooLarge as exc:
                raise EntityTooLarge(f"Request body of {exc.size} bytes is too large") from None
            body_read = True
            sigv4.verify_signature(auth, method, full_path, headers, body, secret, header_values)
            request = Request(
                method,
                raw_path,
                raw_query,
                headers,
                body,
                service,
                auth.scope.region,
                access_key=auth.scope.access_key,
                principal=principal,
            )
            content_hash = headers.get("X-Amz-Content-SHA256") or ""
            if service == "s3" and content_hash.startswith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"):
                request.verify_chunk = sigv4.chunk_verifier(auth, secret)
                if content_hash.endswith("-TRAILER"):
                    request.verify_trailer = sigv4.trailer_verifier(auth, secret, request.verify_chunk)
            request_id = request.request_id
            if self.cloud.recorder is not None:  # IAM conformance (MLGW_IAM_RECORD)
                self.cloud.recorder.request(principal or self.cloud.admin_arn(), request)
            response = await self.run_sync(_route, self.cloud, request)
        except ClientDisconnected:
            return
        except AwsError as error:
            response = _render_error(error, service, request_id)
        except Exception as exc:  # the server never dies on a request
            log.exception("internal error on %s %s", method, raw_path)
            response = _render_error(InternalFailure(f"localcloud internal error: {exc}"), service, request_id)
        out = {"x-amzn-RequestId": request_id, "x-amz-request-id": request_id, **response.headers}
        if "Content-Length" not in out and "content-length" not in out:
            out["Content-Length"] = str(len(response.body))
        # A refusal before the body was read closes the connection: its body is never read.
        await send_response(send, response.status, out, response.body, close=not body_read)

    def close(self) -> None:
        """Release the port and let each service flush what it buffers."""
        self.clock.stop()
        self.server_close()
        self.cloud.close()

    def stop(self) -> None:
        self.shutdown()
        self.close()


def _route(cloud: LocalCloud, request: Request) -> Response:
    try:
        return route(cloud, request)
    except RecursionError:
        # Only a client's input nests deep enough (JSON in a field: Detail, EventPattern...).
        raise SerializationException("A value in the request is nested too deeply") from None


def _render_error(error: AwsError, service: str, request_id: str) -> Response:
    if service == "s3":
        return xml_error(error, request_id)
    if service in ("sts", "iam"):
        return query_error(error, request_id)
    return json_error(error)
