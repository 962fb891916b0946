"""Build the studio for a target and serve it with uvicorn (127.0.0.1 unless told otherwise).

`<home>/studio.json` records the running studio (pid, host, port, url) so `mlgw run` can print
its URL; `<home>/mlflow.json` likewise records `mlgw mlflow`'s UI, which the studio links to.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import boto3

from localcloud import daemon
from localcloud.config import Config
from mlgw.studio.backend import Backend, Target

DEFAULT_PORT = 4700


def studio_file(home: Path) -> Path:
    return home / "studio.json"


def mlflow_file(home: Path) -> Path:
    return home / "mlflow.json"


def running_url(home: Path) -> str | None:
    """The URL of the studio serving this state directory, if one is running."""
    record = daemon.read_record(studio_file(home))
    return record["url"] if record else None


def mlflow_url(home: Path) -> str | None:
    record = daemon.read_record(mlflow_file(home))
    return record["url"] if record else None


def local_target(config: Config) -> Target:
    """localcloud serving `config` (its credentials and region), state read from config.home."""
    session = boto3.Session(aws_access_key_id=config.access_key, aws_secret_access_key=config.secret_key,
                            region_name=config.region)
    return Target("local", session, endpoint_url=config.url, home=config.home,
                  bucket=f"sagemaker-{config.region}-{config.account_id}")


def aws_target(region: str | None, bucket: str | None, profile: str | None = None) -> Target:
    """The user's AWS account (boto3's credential chain). The default bucket is the SageMaker
    SDK's, `sagemaker-<region>-<account>`, unless `bucket` names another."""
    session = boto3.Session(profile_name=profile, region_name=region)
    if not bucket:
        try:
            account = session.client("sts").get_caller_identity()["Account"]
            bucket = f"sagemaker-{session.region_name}-{account}"
        except Exception:       # noqa: BLE001 — no credentials yet: pages show AWS's own error
            bucket = None
    return Target("aws", session, bucket=bucket)


def make_server(app, host: str, port: int):
    import uvicorn
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="off")
    return uvicorn.Server(config)


class Background:
    """The studio served from a thread (tests, benchmarks): `.url`, `.stop()`."""

    def __init__(self, backend: Backend, host: str = "127.0.0.1", port: int = 0, mlflow: str | None = None):
        import socket

        from mlgw.studio.app import create_app
        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.app = create_app(backend, mlflow)
        self.server = make_server(self.app, host, port)
        self.url = f"http://{host}:{port}"
        self.thread = threading.Thread(target=self.server.run, name="studio", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"studio did not start on {self.url}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(target: Target, host: str, port: int, mlflow: str | None = None, out=None) -> None:
    """Serve in the foreground until interrupted; record the URL while running (local target)."""
    from mlgw.studio.app import create_app
    home = target.home
    server = make_server(create_app(Backend(target), mlflow), host, port)
    url = f"http://{host}:{port}"
    if home is not None:
        daemon.write_record(studio_file(home), os.getpid(), host, port)
    print(f"mlgw studio ({'localcloud ' + str(target.endpoint_url) if target.name == 'local' else 'AWS ' + str(target.session.region_name)}) "
          f"on {url}  (Ctrl-C stops it)", file=out, flush=True)
    try:
        server.run()
    finally:
        if home is not None:
            studio_file(home).unlink(missing_ok=True)
