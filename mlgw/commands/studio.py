"""`mlgw studio`: serve the web UI (127.0.0.1 by default) against localcloud or AWS."""

from __future__ import annotations

import argparse

from mlgw.args import CliError, config_from, port_number, with_home


def register(sub) -> None:
    studio = sub.add_parser(
        "studio",
        help="a web UI for pipelines, models, endpoints, monitoring and Feature Store",
        description="Serve mlgw studio: the pipeline graph coloured by step status, executions "
        "(start, retry, stop), the model registry (approve, reject, compare), endpoints "
        "(promote, roll back, weights), drift checks and feature groups. Reads through "
        "the SageMaker, S3, CloudWatch and EventBridge APIs, so --target aws shows your "
        "account the same way. Starts localcloud if needed (local target).",
    )
    studio.add_argument(
        "--studio-port",
        type=port_number,
        default=None,
        help="the studio's own port (default: $MLGW_STUDIO_PORT or 4700; --port is localcloud's)",
    )
    with_home(studio)
    studio.add_argument(
        "--localcloud-port", dest="port", type=port_number, default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )  # earlier spelling
    studio.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only); pages are served only to loopback "
        "Host names, this address and those in MLGW_ALLOWED_HOSTS (comma-separated), others get 400",
    )
    studio.add_argument(
        "--target",
        choices=["local", "aws"],
        default="local",
        help="local: localcloud (default); aws: your AWS account via boto3's credentials",
    )
    studio.add_argument("--region", help="aws: region (default: boto3's)")
    studio.add_argument("--profile", help="aws: named profile")
    studio.add_argument("--bucket", help="aws: the workflow's bucket (default sagemaker-<region>-<account>)")
    studio.add_argument("--mlflow-url", help="an MLflow UI to link to (default: the one `mlgw mlflow` runs)")
    studio.set_defaults(func=cmd_studio)


def cmd_studio(args: argparse.Namespace) -> int:
    import os

    from mlgw.studio import server
    from mlgw.target import Target

    port = args.studio_port or int(os.environ.get("MLGW_STUDIO_PORT", server.DEFAULT_PORT))
    config = config_from(args) if args.target == "local" else None
    try:
        # Refused before anything starts: no localcloud started, no run file touched.
        server.refuse_if_running(config.home if config else None)
        sock = server.bind(args.host, port)
    except server.StudioError as exc:
        raise CliError(str(exc)) from None
    try:
        if config is None:
            target = Target.aws(args.region, args.bucket or None, args.profile)
        else:
            from localcloud import daemon

            try:
                target = Target.local(daemon.start(config))
            except daemon.DaemonError as exc:
                raise CliError(str(exc)) from None
        server.serve(target, args.host, port, args.mlflow_url, sock=sock)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
