"""`python -m localcloud.apigateway`: serve the gateway in the foreground (the CLI's background
`gateway start` runs this). boto3 inside reaches localcloud through the AWS_* environment."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from localcloud.apigateway.function import FunctionDocumentError, default_document
from localcloud.apigateway.server import DEFAULT_PORT, GatewayConfig, GatewayServer


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud.apigateway", description="Serve the local API Gateway in the foreground."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--endpoint-name", default=None)
    parser.add_argument(
        "--function",
        type=Path,
        default=None,
        help="the gateway function's GetFunction document, whose zip /predict runs (default: "
        "<home>/apigateway/function.json, which `mlgw gateway start` writes)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port (SO_REUSEPORT); rate limits "
        "are then enforced per worker, daily quotas across them",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=None,
        help="an origin browsers may call the API from (repeatable; default: "
        "MLGW_CORS_ORIGINS, comma-separated, else none)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    kwargs: dict[str, Any] = {}
    if args.cors_origin:
        kwargs["cors_origins"] = tuple(args.cors_origin)
    if args.endpoint_name:
        # The in-process Lambda reads its endpoint from the environment, as on AWS.
        os.environ["ENDPOINT_NAME"] = kwargs["endpoint_name"] = args.endpoint_name
    children = _fork_workers(args.workers) if args.workers > 1 else []
    try:
        server = GatewayServer(
            GatewayConfig(
                home=args.home.resolve(),
                function=(args.function or default_document(args.home)).resolve(),
                host=args.host,
                port=args.port,
                **kwargs,
            ),
            reuse_port=args.workers > 1,
        )
    except FunctionDocumentError as exc:
        print(f"gateway: the function cannot run: {exc} (`mlgw gateway start` builds and writes it)", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"gateway: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _interrupt)
    logging.getLogger("ml_gateway.apigateway").info(
        "gateway serving %s for endpoint %s", server.url, server.endpoint_name
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.keys.close()
        _stop_workers(children)
    return 0


def _fork_workers(workers: int) -> list[int]:
    """Fork workers-1 more servers (before any thread or socket exists); the parent's pids list."""
    children = []
    for _ in range(workers - 1):
        pid = os.fork()
        if pid == 0:
            return []  # a worker: serves like the parent, no children of its own
        children.append(pid)
    return children


def _stop_workers(children: list[int]) -> None:
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in children:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


if __name__ == "__main__":
    sys.exit(main())
