"""`python -m localcloud.apigateway`: serve the gateway in the foreground (the CLI's background
`gateway start` runs this). boto3 inside reaches localcloud through the AWS_* environment."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from localcloud.apigateway.server import DEFAULT_PORT, GatewayConfig, GatewayServer


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.apigateway",
                                     description="Serve the local API Gateway in the foreground.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--endpoint-name", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    kwargs = {}
    if args.endpoint_name:
        # The in-process Lambda reads its endpoint from the environment, as on AWS.
        os.environ["ENDPOINT_NAME"] = kwargs["endpoint_name"] = args.endpoint_name
    try:
        server = GatewayServer(GatewayConfig(home=args.home.resolve(), host=args.host,
                                             port=args.port, **kwargs))
    except OSError as exc:
        print(f"gateway: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _interrupt)
    logging.getLogger("ml_gateway.apigateway").info(
        "gateway serving %s for endpoint %s", server.url, server.endpoint_name)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.keys.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
