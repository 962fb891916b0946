"""The studio's ASGI app (Starlette + Jinja2): routes, error pages and cross-site protection.

Pages are in `pages.py`; everything they read comes through `backend.Backend` (boto3), so the
app is the same against localcloud and AWS. Errors never show a traceback: an unknown name is a
404 page naming it, a service refusal (AccessDenied, ThrottlingException, ...) is a page with
AWS's code and message and AWS's HTTP status; a request the SDK refuses before sending it (an
invalid bucket name in the S3 browser's URL) is a 400 page naming the parameter.

Every response carries anti-framing headers and a Content-Security-Policy (`SECURITY_HEADERS`),
and only loopback Host names (plus the address the studio binds and `MLGW_ALLOWED_HOSTS`) are
served, as localcloud and the gateway do: a page whose DNS name is rebound to 127.0.0.1 gets
400, never the studio's pages, its token or the S3 browser.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qs, quote

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from jinja2 import ChainableUndefined, Environment, FileSystemLoader, Undefined
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Message, Receive, Scope, Send

from localcloud.asgi_server import allowed_hosts, host_name
from mlgw.studio.backend import Backend, NotFound

HERE = Path(__file__).parent
_DEFAULT_DISPLAY_NAME = re.compile(r"execution-\d+")
CSRF_FIELD = "csrf_token"


# Sent with every response. The pages load only the studio's own script and stylesheet
# (static/); charts are inline SVG whose styles are presentation attributes (charts.py) and
# whose raster parts (the confusion matrix's heat map) are data: images; forms post to the
# studio; no page may be framed (clickjacking the Approve/Promote buttons).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
)


class CrossSiteRequest(Exception):
    """A state-changing POST without this server's token, or from another origin."""


class InvalidRequest(Exception):
    """A value in the request that no page can use (the message names it): a 400 page."""


DASH = "—"


class Absent(ChainableUndefined):
    """A response member AWS left out. Most members of SageMaker's responses are optional in the
    botocore service model (ListPipelines' LastExecutionTime before a pipeline's first run,
    DescribePipelineExecution's FailureReason, ListModelPackages' ModelPackageVersion...), and AWS
    omits absent ones, so a page shows a dash for them rather than failing: `{{ x.Absent }}`, and
    `x.Absent.Deeper`, render as "—"; `{{ x.Absent or "" }}` and `is defined` still work."""

    __slots__ = ()

    def __str__(self) -> str:
        return DASH


def _absent(value) -> bool:
    return value is None or value == "" or isinstance(value, Undefined)


def _when(value) -> str:
    if _absent(value):
        return DASH
    if isinstance(value, (int, float)):
        value = dt.datetime.fromtimestamp(value, dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(start, end) -> str:
    if _absent(start) or _absent(end):
        return DASH
    return _duration((end - start).total_seconds())


def _duration(seconds: float) -> str:
    if _absent(seconds):
        return DASH
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _formatted(value, spec: str) -> str:
    """A number with format `spec`; a dash when absent, the text as it is when not a number."""
    if _absent(value):
        return DASH
    try:
        return f"{float(value):{spec}}"
    except (TypeError, ValueError):
        return str(value)


def _number(value, digits: int = 4) -> str:
    return _formatted(value, f".{digits}f")


def _own_name(execution) -> str | None:
    """The execution's display name if the user chose one: SageMaker names an execution
    `execution-<epoch ms>` when StartPipelineExecution is given no PipelineExecutionDisplayName,
    and that default says nothing the execution ID (what the CLI prints and links use) does not."""
    name = execution.get("PipelineExecutionDisplayName")
    if not name or _DEFAULT_DISPLAY_NAME.fullmatch(name):
        return None
    return name


def _count(value) -> str:
    """A CloudWatch Sum of requests (a float on the wire) as a whole number."""
    return _formatted(value, ",.0f")


def templates() -> Jinja2Templates:
    env = Jinja2Templates(
        env=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=Absent)
    )
    env.env.filters.update(
        when=_when, number=_number, count=_count, duration=_duration, urlpart=lambda s: quote(str(s), safe="")
    )
    env.env.globals.update(seconds=_seconds, own_name=_own_name)
    return env


async def form(request: Request) -> dict[str, str]:
    """The POST's urlencoded fields, after the cross-site check: the form must carry this
    server's token (pages embed it; another site cannot read it) and any Origin must be ours.
    Parsed with the standard library: python-multipart is not in the lock and forms here are
    urlencoded only."""
    body = (await request.body()).decode(errors="replace")
    fields = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
    token = request.app.state.csrf_token
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin and origin not in ("null",) and origin.split("://", 1)[-1] != host:
        raise CrossSiteRequest(f"request from origin {origin} refused (this studio is {host})")
    if not hmac.compare_digest(fields.get(CSRF_FIELD, ""), token):
        raise CrossSiteRequest(
            "the form did not carry this studio's token (a cross-site request, "
            "or a page from before the studio restarted: reload it)"
        )
    return fields


def render(request: Request, name: str, context: dict, status: int = 200) -> HTMLResponse:
    app = request.app
    return app.state.templates.TemplateResponse(
        request,
        name,
        {
            "target": app.state.backend.target.kind,
            "csrf_token": app.state.csrf_token,
            "mlflow_url": _mlflow_url(app),
            "nav": name.split("_")[0],
            **context,
        },
        status_code=status,
    )


def _mlflow_url(app) -> str | None:
    """--mlflow-url, else the UI `mlgw mlflow` is serving for this state directory now."""
    if app.state.mlflow_url:
        return app.state.mlflow_url
    home = app.state.backend.target.home
    if home is None:
        return None
    from mlgw.studio.server import mlflow_url

    return mlflow_url(home)


async def _not_found(request: Request, exc: Exception) -> HTMLResponse:
    if not isinstance(exc, NotFound):  # Starlette hands each handler its own class only
        raise exc
    return render(
        request,
        "error.html",
        {"title": "Not found", "code": "404", "message": f"{exc.what} {exc.name!r} was not found"},
        404,
    )


async def _no_page(request: Request, exc: Exception) -> HTMLResponse:
    if not isinstance(exc, HTTPException):
        raise exc
    if exc.status_code == 404:
        return render(
            request,
            "error.html",
            {"title": "Not found", "code": "404", "message": f"no page at {request.url.path!r}"},
            404,
        )
    return render(
        request,
        "error.html",
        {"title": exc.detail, "code": str(exc.status_code), "message": exc.detail},
        exc.status_code,
    )


async def _aws_error(request: Request, exc: ClientError) -> HTMLResponse:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 502
    return render(
        request,
        "error.html",
        {
            "title": "The service refused",
            "code": error.get("Code", "Error"),
            "message": error.get("Message", str(exc)),
            "operation": exc.operation_name,
        },
        status if 400 <= status < 600 else 502,
    )


async def _unreachable(request: Request, exc: BotoCoreError) -> HTMLResponse:
    if isinstance(exc, ParamValidationError):
        # The SDK refused the request before sending it: a value from the URL that no AWS API
        # accepts (botocore's message names the parameter). The client's mistake, not the service's.
        return await _invalid(request, InvalidRequest(str(exc.kwargs.get("report") or exc)))
    return render(
        request,
        "error.html",
        {"title": "The service did not answer", "code": type(exc).__name__, "message": str(exc)},
        502,
    )


async def _not_implemented(request: Request, exc: Exception) -> HTMLResponse:
    # Only AWS emulators (moto) lack operations; say which instead of failing.
    return render(
        request, "error.html", {"title": "Not available on this target", "code": "501", "message": str(exc)}, 501
    )


async def _invalid(request: Request, exc: Exception) -> HTMLResponse:
    return render(request, "error.html", {"title": "Invalid request", "code": "400", "message": str(exc)}, 400)


async def _cross_site(request: Request, exc: Exception) -> HTMLResponse:
    return render(request, "error.html", {"title": "Refused", "code": "403", "message": str(exc)}, 403)


class Studio(Starlette):
    """Starlette with the studio's outermost checks: the Host name first (a refused one is a
    plain 400, no page), then `SECURITY_HEADERS` on every response, error pages and Starlette's
    own 500 included."""

    def __init__(self, *args, hosts: frozenset[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        if host_name(host) not in self.hosts:
            body = (
                f"Host {host!r} is not served here: mlgw studio answers loopback host names only "
                "(set MLGW_ALLOWED_HOSTS to add one)\n"
            ).encode()
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
            ]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await super().__call__(scope, receive, secured)


def served_hosts(bind_host: str) -> frozenset[str]:
    """The Host names the studio answers: localcloud's rule (loopback names, the address it
    binds, `MLGW_ALLOWED_HOSTS`), with an IPv6 address also in its bracketed Host form."""
    hosts = allowed_hosts(bind_host)
    if ":" in bind_host and not bind_host.startswith("["):
        hosts |= {f"[{bind_host.lower()}]"}
    return hosts


def create_app(backend: Backend, mlflow_url: str | None = None, host: str = "127.0.0.1") -> Studio:
    """The studio for one backend. `mlflow_url`: where the MLflow UI answers, linked from pages;
    `host`: the address it is served on (its name is answered besides the loopback names)."""
    from mlgw.studio import pages

    app = Studio(
        routes=[*pages.routes(), Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")],
        exception_handlers={
            NotFound: _not_found,
            HTTPException: _no_page,
            ClientError: _aws_error,
            BotoCoreError: _unreachable,
            CrossSiteRequest: _cross_site,
            InvalidRequest: _invalid,
            NotImplementedError: _not_implemented,
        },
        hosts=served_hosts(host),
    )
    app.state.backend = backend
    app.state.templates = templates()
    app.state.csrf_token = secrets.token_urlsafe(32)
    app.state.mlflow_url = mlflow_url
    return app
