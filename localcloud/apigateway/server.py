"""The local API Gateway: one HTTP/1.1 keep-alive server on 127.0.0.1 in front of the routes.

Per request, in API Gateway's order: route match → payload limit (413) → API key (403) →
usage plan (429) → body validation against the route's JSON Schema (400) → integration.
Every response carries x-amzn-RequestId and CORS headers; one access-log line is written per
request (method, path, status, size, latency, key id: never the key, never a body).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import uuid
from pathlib import Path

from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match

from localcloud.apigateway.keys import KeyStore, default_path
from localcloud.apigateway.metrics import GatewayMetrics
from localcloud.apigateway.openapi import build_document
from localcloud.apigateway.routes import ApiRequest, ApiResponse, Route, build_routes, json_response
from localcloud.server import BodyTooLarge, LoopbackHandler, LoopbackServer

log = logging.getLogger("ml_gateway.apigateway")
access_log = logging.getLogger("ml_gateway.apigateway.access")

DEFAULT_PORT = 4780
MAX_PAYLOAD = 1024 * 1024      # the limit this gateway enforces (API Gateway's own is 10 MB)
_CORS_HEADERS = "Content-Type,X-Api-Key,Authorization,X-Amz-Date,X-Amz-Security-Token"


@dataclasses.dataclass(frozen=True)
class GatewayConfig:
    home: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    endpoint_name: str = dataclasses.field(
        default_factory=lambda: os.environ.get("ENDPOINT_NAME", "ml-gateway-fraud"))
    cors_origin: str = "*"


def _field_error(error) -> str:
    """'field policy_id: ...' from a jsonschema error, naming the offending field."""
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required" or not where:
        return f"invalid request body: {error.message}"
    return f"invalid request body: field '{where}': {error.message}"


class _Handler(LoopbackHandler):
    server: "GatewayServer"

    # -- dispatch ----------------------------------------------------------------------------

    def _handle(self) -> None:
        started = time.perf_counter()
        gateway = self.server
        request_id = str(uuid.uuid4())
        path, _, query = self.path.partition("?")
        route_name, key_id = "unmatched", None
        try:
            route, response = gateway.match(self.command, path)
            if route is not None:
                route_name = route.name
                response, key_id = self._through(route, path, query, request_id)
            else:
                self.read_body(MAX_PAYLOAD)   # keep the connection usable for the next request
        except BodyTooLarge:
            self.close_connection = True     # the unread body is still on the socket
            response = json_response(413, {"message": f"Request Too Long: the payload limit is "
                                                      f"{MAX_PAYLOAD} bytes"})
        except Exception:   # the server never dies on a request
            log.exception("gateway error on %s %s (request %s)", self.command, path, request_id)
            response = json_response(500, {"message": "Internal server error"})
        self._send(response, request_id)
        seconds = time.perf_counter() - started
        gateway.metrics.observe(route_name, response.status, response.variant, seconds)
        access_log.info("%s %s %s %d %dB %.2fms key=%s variant=%s", self.client_address[0],
                        self.command, path, response.status, len(response.body), seconds * 1e3,
                        key_id or "-", response.variant or "-")

    def _through(self, route: Route, path: str, query: str,
                 request_id: str) -> tuple[ApiResponse, str | None]:
        gateway = self.server
        body = self.read_body(MAX_PAYLOAD)
        key_id = None
        if route.api_key_required:
            decision = gateway.keys.admit(self.headers.get("x-api-key"))
            key_id = decision.key_id
            if decision.status != 200:
                response = json_response(decision.status, {"message": decision.message})
                if decision.retry_after is not None:
                    response.headers["Retry-After"] = str(decision.retry_after)
                return response, key_id
        payload = None
        if route.schema is not None:
            try:
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                return json_response(400, {"message": f"Invalid request body: not JSON: {exc}"}), key_id
            error = best_match(gateway.validators[route.name].iter_errors(payload))
            if error is not None:
                return json_response(400, {"message": _field_error(error)}), key_id
        headers = {k: v for k, v in self.headers.items()}
        request = ApiRequest(self.command, path, query, headers, body, payload, request_id,
                             self.client_address[0], key_id)
        return route.integration(gateway, request), key_id

    def _send(self, response: ApiResponse, request_id: str) -> None:
        headers = {**response.headers, "x-amzn-RequestId": request_id,
                   "Access-Control-Allow-Origin": self.server.config.cors_origin,
                   "Content-Length": str(len(response.body))}
        self.write_response(response.status, headers, response.body)

    def do_OPTIONS(self) -> None:
        """CORS preflight, answered by the gateway itself (API Gateway's mock integration)."""
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        path = self.path.partition("?")[0]
        methods = sorted({r.method for r in self.server.routes if r.path == path})
        if methods:
            response = ApiResponse(204, b"", {
                "Access-Control-Allow-Methods": ",".join(methods + ["OPTIONS"]),
                "Access-Control-Allow-Headers": _CORS_HEADERS,
                "Access-Control-Max-Age": "600"})
        else:
            response = json_response(404, {"message": f"no route for {path}"})
        self._send(response, request_id)
        self.server.metrics.observe("preflight", response.status, "", time.perf_counter() - started)
        access_log.info("%s OPTIONS %s %d", self.client_address[0], path, response.status)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


class GatewayServer(LoopbackServer):
    thread_name = "apigateway"

    def __init__(self, config: GatewayConfig, keys: KeyStore | None = None,
                 reuse_port: bool = False):
        self.allow_reuse_port = reuse_port     # several worker processes on one port
        self.config = config
        # Request schemas from the data contract; validated as API Gateway models are (draft 4).
        self.routes = build_routes()
        self.endpoint_name = config.endpoint_name
        self.keys = keys or KeyStore(default_path(config.home))
        self.metrics = GatewayMetrics()
        self.validators = {r.name: Draft4Validator(r.schema) for r in self.routes if r.schema}
        self._by_path = {(r.method, r.path): r for r in self.routes}
        self._paths = {r.path for r in self.routes}
        super().__init__((config.host, config.port), _Handler)
        self.openapi_document = json.dumps(build_document(self.routes, self.url), indent=2).encode()

    def match(self, method: str, path: str) -> tuple[Route | None, ApiResponse | None]:
        path = path.rstrip("/") or "/"
        route = self._by_path.get((method, path))
        if route is not None:
            return route, None
        if path in self._paths:
            return None, json_response(405, {"message": f"method {method} not allowed on {path}"})
        return None, json_response(404, {"message": f"no route for {method} {path}"})

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.keys.close()
