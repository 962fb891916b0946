"""The local API Gateway: one HTTP/1.1 keep-alive server on 127.0.0.1 in front of the routes.

Per request, in API Gateway's order: route match → payload limit (413) → API key (403) →
usage plan (429) → body validation against the route's JSON Schema (400) → integration.
Every response carries x-amzn-RequestId (and Access-Control-Allow-Origin when the request's
Origin is one of the configured CORS origins: none by default); one access-log line is
written per request (method, path, status, size, latency, key id: never the key, never a
body). The key and usage plan are checked before the body is read; a refused request's body
is never read (its connection is closed instead).
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

from localcloud.apigateway.exceptions import BadJson
from localcloud.apigateway.models import KeyStore, default_path
from localcloud.config import DEFAULT_GATEWAY_PORT
from localcloud.apigateway.metrics import GatewayMetrics
from localcloud.apigateway.openapi import build_document
from localcloud.apigateway.responses import (ApiRequest, ApiResponse, Route, _field_error, build_routes,
                                             json_response, parse_json)
from localcloud.asgi_server import (BodyTooLarge, ClientDisconnected, LoopbackServer,
                                    allowed_hosts, header, host_name, read_body, send_response)

log = logging.getLogger("ml_gateway.apigateway")
access_log = logging.getLogger("ml_gateway.apigateway.access")

DEFAULT_PORT = DEFAULT_GATEWAY_PORT
MAX_PAYLOAD = 1024 * 1024      # the limit this gateway enforces (API Gateway's own is 10 MB)
_CORS_HEADERS = "Content-Type,X-Api-Key,Authorization,X-Amz-Date,X-Amz-Security-Token"


@dataclasses.dataclass(frozen=True)
class GatewayConfig:
    home: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    endpoint_name: str = dataclasses.field(
        default_factory=lambda: os.environ.get("ENDPOINT_NAME", "ml-gateway-fraud"))
    # Origins a browser may call the API from (Access-Control-Allow-Origin is sent only to
    # these); MLGW_CORS_ORIGINS, comma-separated. "*" allows any: never the default.
    cors_origins: tuple[str, ...] = dataclasses.field(default_factory=lambda: tuple(
        o.strip() for o in os.environ.get("MLGW_CORS_ORIGINS", "").split(",") if o.strip()))


class GatewayServer(LoopbackServer):
    thread_name = "apigateway"

    def __init__(self, config: GatewayConfig, keys: KeyStore | None = None,
                 reuse_port: bool = False):
        self.config = config
        # Request schemas from the data contract; validated as API Gateway models are (draft 4).
        self.routes = build_routes()
        self.endpoint_name = config.endpoint_name
        self.keys = keys or KeyStore(default_path(config.home))
        self.metrics = GatewayMetrics()
        self.validators = {r.name: Draft4Validator(r.schema) for r in self.routes if r.schema}
        self._by_path = {(r.method, r.path): r for r in self.routes}
        self._paths = {r.path for r in self.routes}
        self._hosts = allowed_hosts(config.host)
        super().__init__((config.host, config.port), self.app, reuse_port=reuse_port)
        self.openapi_document = json.dumps(build_document(self.routes, self.url), indent=2).encode()

    def match(self, method: str, path: str) -> tuple[Route | None, ApiResponse | None]:
        path = path.rstrip("/") or "/"
        route = self._by_path.get((method, path))
        if route is not None:
            return route, None
        if path in self._paths:
            return None, json_response(405, {"message": f"method {method} not allowed on {path}"})
        return None, json_response(404, {"message": f"no route for {method} {path}"})

    # -- dispatch ----------------------------------------------------------------------------

    async def app(self, scope: dict, receive, send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        method = scope["method"]
        path = scope["path"]
        query = scope["query_string"].decode("latin-1")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        client = (scope.get("client") or ("", 0))[0]
        route_name, key_id, body_read = "unmatched", None, False
        try:
            if host_name(header(scope, b"host") or "") not in self._hosts:
                response = json_response(400, {"message": "Host not served here: the gateway "
                                           "answers loopback host names only"})
            elif method == "OPTIONS":
                route_name, response = "preflight", self._preflight(path)
            else:
                route, response = self.match(method, path)
                if route is not None:
                    route_name = route.name
                    response, key_id, body_read = await self._through(
                        route, scope, receive, path, query, headers, client, request_id)
        except ClientDisconnected:
            return
        except BodyTooLarge:
            response = json_response(413, {"message": f"Request Too Long: the payload limit is "
                                                      f"{MAX_PAYLOAD} bytes"})
        except Exception:   # the server never dies on a request
            log.exception("gateway error on %s %s (request %s)", method, path, request_id)
            response = json_response(500, {"message": "Internal server error"})
        out = {**response.headers, "x-amzn-RequestId": request_id,
               "Content-Length": str(len(response.body))}
        origin = headers.get("origin")
        allowed = self.config.cors_origins
        if origin and ("*" in allowed or origin in allowed):
            out["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
            out["Vary"] = "Origin"
        await send_response(send, response.status, out, response.body, close=not body_read)
        seconds = time.perf_counter() - started
        self.metrics.observe(route_name, response.status, response.variant, seconds)
        access_log.info("%s %s %s %d %dB %.2fms key=%s variant=%s", client, method, path,
                        response.status, len(response.body), seconds * 1e3, key_id or "-",
                        response.variant or "-")

    async def _through(self, route: Route, scope: dict, receive, path: str, query: str,
                       headers: dict[str, str], client: str,
                       request_id: str) -> tuple[ApiResponse, str | None, bool]:
        """(response, key id, whether the body was read) for a matched route."""
        key_id = None
        length = header(scope, b"content-length")
        if length is not None and int(length) > MAX_PAYLOAD:
            raise BodyTooLarge(int(length))       # API Gateway's order: the limit, then the key
        if route.api_key_required:
            # Inline, not on a worker thread: a cached key is a dict lookup, a quota one SQLite
            # upsert (WAL); a thread hop would cost more than either.
            decision = self.keys.admit(headers.get("x-api-key"))
            key_id = decision.key_id
            if decision.status != 200:
                response = json_response(decision.status, {"message": decision.message})
                if decision.retry_after is not None:
                    response.headers["Retry-After"] = str(decision.retry_after)
                return response, key_id, False
        body = await read_body(scope, receive, MAX_PAYLOAD)
        payload = None
        if route.schema is not None:
            try:
                payload = parse_json(body)
            except BadJson as exc:
                return json_response(400, {"message": f"Invalid request body: not JSON: {exc}"}), key_id, True
            error = best_match(self.validators[route.name].iter_errors(payload))
            if error is not None:
                return json_response(400, {"message": _field_error(error)}), key_id, True
        request = ApiRequest(scope["method"], path, query, headers, body, payload, request_id,
                             client, key_id)
        return await self.run_sync(route.integration, self, request), key_id, True

    def _preflight(self, path: str) -> ApiResponse:
        """CORS preflight, answered by the gateway itself (API Gateway's mock integration)."""
        path = path.rstrip("/") or "/"
        methods = sorted({r.method for r in self.routes if r.path == path})
        if not methods:
            return json_response(404, {"message": f"no route for {path}"})
        return ApiResponse(204, b"", {
            "Access-Control-Allow-Methods": ",".join(methods + ["OPTIONS"]),
            "Access-Control-Allow-Headers": _CORS_HEADERS,
            "Access-Control-Max-Age": "600"})

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.keys.close()
