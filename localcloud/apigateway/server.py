"""The local API Gateway: one HTTP/1.1 keep-alive server on 127.0.0.1 in front of the routes.

Per request, in API Gateway's order: route match → payload limit (413) → API key (403) →
usage plan (429) → body validation against the route's JSON Schema (400) → integration.
Every response carries x-amzn-RequestId (and Access-Control-Allow-Origin when the request's
Origin is one of the configured CORS origins: none by default); one access-log line is
written per request (method, path, status, size, latency, key id: never the key, never a
body). The key and usage plan are checked before the body is read; a refused request's body
is never read (its connection is closed instead).

The gateway's own refusals are the errors of localcloud/apigateway/exceptions.py, rendered by
responses.error_response; the key store is models.KeyStore; the routes and the body's parsing
are responses.py's. It runs as a process of its own (`python -m localcloud.apigateway`), not in
the localcloud daemon: its integrations reach localcloud through boto3, as on AWS.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from jsonschema import Draft4Validator

from localcloud.apigateway import function_env
from localcloud.apigateway.exceptions import (
    BadRequestBody,
    KeyRefusal,
    RequestTooLarge,
    RouteMethodNotAllowed,
    RouteNotFound,
)
from localcloud.apigateway.function import LambdaFunction
from localcloud.apigateway.metrics import GatewayMetrics
from localcloud.apigateway.models import KeyStore, default_path
from localcloud.apigateway.openapi import build_document
from localcloud.apigateway.responses import (
    MAX_PAYLOAD,
    ApiRequest,
    ApiResponse,
    Route,
    build_routes,
    error_response,
    parse_body,
)
from localcloud.asgi_server import (
    BodyTooLarge,
    ClientDisconnected,
    LoopbackServer,
    allowed_hosts,
    header,
    host_name,
    read_body,
    send_response,
)
from localcloud.config import DEFAULT_GATEWAY_PORT
from localcloud.errors import InternalFailure, InvalidHostHeader

log = logging.getLogger("ml_gateway.apigateway")
access_log = logging.getLogger("ml_gateway.apigateway.access")

DEFAULT_PORT = DEFAULT_GATEWAY_PORT
_CORS_HEADERS = "Content-Type,X-Api-Key,Authorization,X-Amz-Date,X-Amz-Security-Token"


Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class GatewayConfig:
    """Where the gateway keeps its keys (`home`), where it listens, the endpoint behind it and
    the CORS origins it answers."""

    home: Path
    # The gateway function's GetFunction document (mlgw.lambda_package.publish writes it):
    # the /predict route runs that zip, never the checkout (function.py).
    function: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    endpoint_name: str = dataclasses.field(default_factory=lambda: os.environ.get("ENDPOINT_NAME", "ml-gateway-fraud"))
    # Origins a browser may call the API from (Access-Control-Allow-Origin is sent only to
    # these); MLGW_CORS_ORIGINS, comma-separated. "*" allows any: never the default.
    cors_origins: tuple[str, ...] = dataclasses.field(
        default_factory=lambda: tuple(
            o.strip() for o in os.environ.get("MLGW_CORS_ORIGINS", "").split(",") if o.strip()
        )
    )


class GatewayServer(LoopbackServer):
    """The gateway: the route table, the key store, the metrics and the OpenAPI document; the
    integrations receive it (endpoint_name, metrics, openapi_document)."""

    thread_name = "apigateway"

    def __init__(self, config: GatewayConfig, keys: KeyStore | None = None, reuse_port: bool = False) -> None:
        self.config = config
        self.endpoint_name = config.endpoint_name
        self.keys = keys or KeyStore(default_path(config.home))
        self.metrics = GatewayMetrics()
        self.function_env = function_env.FunctionEnvironment(function_env.default_path(config.home))
        self.function_env.refresh()
        self.function = LambdaFunction(config.function, config.home / "apigateway" / "function")
        self.function.reconfigure(self.function_env.variables)
        self._hosts = allowed_hosts(config.host)
        super().__init__((config.host, config.port), self.app, reuse_port=reuse_port)
        self._build_routes()

    def _build_routes(self) -> None:
        # Request schemas from the data contract (the function environment's MLGW_SCHEMA);
        # validated as API Gateway models are (draft 4).
        self.routes = build_routes()
        self.validators = {r.name: Draft4Validator(r.schema) for r in self.routes if r.schema}
        self._by_path = {(r.method, r.path): r for r in self.routes}
        self._paths = {r.path for r in self.routes}
        self.openapi_document = json.dumps(build_document(self.routes, self.url), indent=2).encode()

    def match(self, method: str, path: str) -> Route:
        """The route for method and path (a trailing slash ignored); RouteMethodNotAllowed when
        the path has routes but not this method, RouteNotFound when it has none."""
        path = path.rstrip("/") or "/"
        route = self._by_path.get((method, path))
        if route is not None:
            return route
        if path in self._paths:
            raise RouteMethodNotAllowed(f"method {method} not allowed on {path}")
        raise RouteNotFound(f"no route for {method} {path}")

    # -- dispatch ----------------------------------------------------------------------------

    async def app(self, scope: dict, receive: Receive, send: Send) -> None:
        """The ASGI application: one request, answered and logged; never raises."""
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        if self.function_env.refresh():  # the run configuration changed the function's environment
            self.function.reconfigure(self.function_env.variables)
            self._build_routes()
        request_id = str(uuid.uuid4())
        method = scope["method"]
        path = scope["path"]
        query = scope["query_string"].decode("latin-1")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        client = (scope.get("client") or ("", 0))[0]
        route_name: str = "unmatched"
        key_id: str | None = None
        body_read = False
        response: ApiResponse
        try:
            if host_name(header(scope, b"host") or "") not in self._hosts:
                response = error_response(
                    InvalidHostHeader("Host not served here: the gateway answers loopback host names only")
                )
            elif method == "OPTIONS":
                route_name, response = "preflight", self._preflight(path)
            else:
                try:
                    route = self.match(method, path)
                except (RouteNotFound, RouteMethodNotAllowed) as exc:
                    response = error_response(exc)
                else:
                    route_name = route.name
                    response, key_id, body_read = await self._through(
                        route, scope, receive, path, query, headers, client, request_id
                    )
        except ClientDisconnected:
            return
        except BodyTooLarge:
            response = error_response(RequestTooLarge("Request Too Long"))
        except Exception:  # the server never dies on a request
            log.exception("gateway error on %s %s (request %s)", method, path, request_id)
            response = error_response(InternalFailure("Internal server error"))
        out = {**response.headers, "x-amzn-RequestId": request_id, "Content-Length": str(len(response.body))}
        origin = headers.get("origin")
        allowed = self.config.cors_origins
        if origin and ("*" in allowed or origin in allowed):
            out["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
            out["Vary"] = "Origin"
        await send_response(send, response.status, out, response.body, close=not body_read)
        seconds = time.perf_counter() - started
        self.metrics.observe(route_name, response.status, response.variant, seconds)
        access_log.info(
            "%s %s %s %d %dB %.2fms key=%s variant=%s",
            client,
            method,
            path,
            response.status,
            len(response.body),
            seconds * 1e3,
            key_id or "-",
            response.variant or "-",
        )

    async def _through(
        self,
        route: Route,
        scope: dict,
        receive: Receive,
        path: str,
        query: str,
        headers: dict[str, str],
        client: str,
        request_id: str,
    ) -> tuple[ApiResponse, str | None, bool]:
        """(response, key id, whether the body was read) for a matched route."""
        key_id = None
        length = header(scope, b"content-length")
        if length is not None and int(length) > MAX_PAYLOAD:
            raise BodyTooLarge(int(length))  # API Gateway's order: the limit, then the key
        if route.api_key_required:
            # Inline, not on a worker thread: a cached key is a dict lookup, a quota one SQLite
            # upsert (WAL); a thread hop would cost more than either.
            try:
                key_id = self.keys.admit(headers.get("x-api-key"))
            except KeyRefusal as exc:
                return error_response(exc), exc.key_id, False
        body = await read_body(scope, receive, MAX_PAYLOAD)
        payload = None
        if route.schema is not None:
            try:
                payload = parse_body(body, self.validators[route.name])
            except BadRequestBody as exc:
                return error_response(exc), key_id, True
        request = ApiRequest(scope["method"], path, query, headers, body, payload, request_id, client, key_id)
        return await self.run_sync(route.integration, self, request), key_id, True

    def _preflight(self, path: str) -> ApiResponse:
        """CORS preflight, answered by the gateway itself (API Gateway's mock integration)."""
        path = path.rstrip("/") or "/"
        methods = sorted({r.method for r in self.routes if r.path == path})
        if not methods:
            return error_response(RouteNotFound(f"no route for {path}"))
        return ApiResponse(
            204,
            b"",
            {
                "Access-Control-Allow-Methods": ",".join(methods + ["OPTIONS"]),
                "Access-Control-Allow-Headers": _CORS_HEADERS,
                "Access-Control-Max-Age": "600",
            },
        )

    def stop(self) -> None:
        """Stop serving, close the socket and the key store."""
        self.shutdown()
        self.server_close()
        self.keys.close()
        self.function.close()
