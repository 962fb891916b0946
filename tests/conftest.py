"""Shared fixtures: a real localcloud server per test (fresh state dir, ephemeral port), and
boto3 clients pointed at it. No test reaches the network: pytest-socket allows loopback only
(pytest.ini), and AWS variables are reset so nothing falls back to real credentials."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config as BotoConfig

from localcloud.config import Config
from localcloud.server import LocalCloudServer

DEAD_PROXY_PORT = 9
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        # Subprocesses are outside pytest-socket: send anything that is not loopback to a dead proxy.
        "HTTP_PROXY": f"http://127.0.0.1:{DEAD_PROXY_PORT}",
        "HTTPS_PROXY": f"http://127.0.0.1:{DEAD_PROXY_PORT}",
        "NO_PROXY": "127.0.0.1,localhost",
    }
)
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_var, None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The suite runs in two processes (pytest-xdist, pytest.ini): each gets its own default state
# directory and default ports, so a command run without --home/--port never meets the other
# process's servers, nor a developer's ./.mlgw or ~/.mlgw.
os.environ["MLGW_HOME"] = os.path.join(tempfile.mkdtemp(prefix="mlgw-tests-"), ".mlgw")
for _var in ("MLGW_PORT", "MLGW_GATEWAY_PORT", "MLGW_STUDIO_PORT", "MLGW_MLFLOW_PORT"):
    os.environ[_var] = str(_free_port())
# Compiled definitions are cached by content (mlgw/definition_cache.py): shared by the test
# processes of this machine, never the developer's own cache.
os.environ.setdefault("MLGW_DEFINITION_CACHE", os.path.join(tempfile.gettempdir(), "mlgw-tests-definition-cache"))


_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "", None}


@pytest.fixture(autouse=True)
def no_remote_lookups(request, monkeypatch):
    """Fail a test that looks up any host but loopback, even if the code under test swallows
    pytest-socket's refusal (the SageMaker SDK's telemetry did exactly that)."""
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in _LOOPBACK:
            looked_up.append(str(name))
        return real(host, *args, **kwargs)

    real_connect = socket.socket.connect

    def connect(sock, address, *args, **kwargs):
        # Anything that is not loopback goes through the dead proxy (port 9): a connection to it
        # is an attempt to reach the network.
        if isinstance(address, tuple) and address[1:2] == (DEAD_PROXY_PORT,):
            looked_up.append(f"a remote host, via the proxy at {address[0]}:{address[1]}")
        return real_connect(sock, address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield
    if "probes_network" not in request.keywords:
        assert not looked_up, f"test tried to reach the network: {sorted(set(looked_up))}"


def start_server(home) -> LocalCloudServer:
    server = LocalCloudServer(Config(home=home, port=0))
    server.start_background()
    return server


@pytest.fixture
def localcloud(tmp_path) -> Iterator[LocalCloudServer]:
    """A running localcloud whose state lives in this test's tmp dir."""
    server = start_server(tmp_path / "mlgw")
    yield server
    server.stop()


@pytest.fixture
def client(localcloud):
    """`client("s3")` → a boto3 client signed with the local credentials, aimed at localcloud."""

    def make(service: str, **kwargs):
        return boto3.client(
            service,
            endpoint_url=localcloud.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=BotoConfig(retries={"max_attempts": 1}),
            **kwargs,
        )

    return make
