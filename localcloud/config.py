"""Where localcloud keeps its state and how clients reach it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 4777
DEFAULT_GATEWAY_PORT = 4780  # the gateway (localcloud/apigateway)
ACCOUNT_ID = "000000000000"
DEFAULT_OFFLINE_STORE_DELAY = 5.0


def make_private_dir(path: Path) -> Path:
    """Create path (and parents) readable by its owner only: the state directory holds the
    API key store, captured requests and models, none of them for other local users."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


STATE_DIR_NAME = ".mlgw"


def find_home(start: Path | None = None) -> Path:
    """The state directory when none is given: $MLGW_HOME; else the nearest `.mlgw` directory
    in `start` (default: the working directory) or one of its parents, as git finds `.git`, so
    every command run anywhere inside a project uses that project's state; else the user-level
    default `~/.mlgw`."""
    if os.environ.get("MLGW_HOME"):
        return Path(os.environ["MLGW_HOME"]).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / STATE_DIR_NAME).is_dir():
            return folder / STATE_DIR_NAME
    return (Path.home() / STATE_DIR_NAME).resolve()


@dataclass(frozen=True)
class Config:
    home: Path = field(default_factory=find_home)
    host: str = "127.0.0.1"
    port: int = field(default_factory=lambda: int(os.environ.get("MLGW_PORT", DEFAULT_PORT)))
    # The convention local AWS emulators use; override for anything shared.
    access_key: str = field(default_factory=lambda: os.environ.get("MLGW_ACCESS_KEY", "test"))
    secret_key: str = field(default_factory=lambda: os.environ.get("MLGW_SECRET_KEY", "test"))
    region: str = field(default_factory=lambda: os.environ.get("MLGW_REGION", "us-east-1"))
    account_id: str = ACCOUNT_ID
    # Seconds before the Feature Store offline store receives an accepted record (AWS: "within
    # 15 minutes"); a few by default so every local run waits for it as an AWS run must.
    offline_store_delay: float = field(
        default_factory=lambda: float(os.environ.get("MLGW_OFFLINE_STORE_DELAY", DEFAULT_OFFLINE_STORE_DELAY))
    )
    # Seconds an endpoint stays Creating/Updating after its models loaded (AWS: minutes, as
    # instances are provisioned); 0 by default so local deploys are quick. A longer one lets
    # a crash test kill localcloud while an update is in flight.
    endpoint_delay: float = field(default_factory=lambda: float(os.environ.get("MLGW_ENDPOINT_DELAY", 0)))

    @classmethod
    def from_flags(cls, home: str | None = None, port: int | None = None) -> "Config":
        """The CLI's --home/--port over the environment's defaults."""
        kwargs: dict = {}
        if home:
            kwargs["home"] = Path(home).resolve()
        if port:
            kwargs["port"] = port
        return cls(**kwargs)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def s3_root(self) -> Path:
        """Buckets are directories here, so the executor and DuckDB read objects directly."""
        return self.home / "s3"

    @property
    def state_db(self) -> Path:
        return self.home / "state.db"

    def client_env(self) -> dict[str, str]:
        """Environment that points any boto3 / SageMaker SDK process at this localcloud, signing
        as the administrator (MLGW_ACCESS_KEY / MLGW_SECRET_KEY): for our own clients only."""
        return {
            **self.location_env(),
            "AWS_DEFAULT_REGION": self.region,  # what botocore reads (configprovider 'region')
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def location_env(self) -> dict[str, str]:
        """Where this localcloud is (endpoint URL, region) and no credentials: what code that
        signs as a role (a job, the gateway's handler) gets, with the role's credentials added
        by whoever runs it (localcloud/iam role_environment)."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            # AWS_REGION only, not AWS_DEFAULT_REGION (the one botocore reads): a job gets no
            # default region from SageMaker, so a client without one fails here as it does
            # there (the pipeline's processors set AWS_DEFAULT_REGION in their Environment).
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "MLGW_HOME": str(self.home),
            "MLGW_PORT": str(self.port),
        }

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"
