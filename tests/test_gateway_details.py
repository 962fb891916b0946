"""The gateway against a frozen localcloud (issue 24, class 10): one attempt per call, so a
request fails fast (5 s, not 10); 503 bodies that do not name localcloud's internal URL; and
request heads that drip in are cut off at a deadline (localcloud.asgi_server.HEAD_TIMEOUT_S).

A frozen localcloud is a socket that accepts connections and never answers."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from botocore.config import Config

import inference.gateway_handler as gh
from localcloud import asgi_server
from localcloud.apigateway.server import GatewayConfig, GatewayServer
from mlgw import lambda_package


class Frozen:
    """A listening socket that accepts every connection, reads what is sent and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def frozen(monkeypatch) -> Iterator[Frozen]:
    server = Frozen()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setattr(gh, "_clients", None)
    yield server
    server.close()


def _event(body: dict) -> dict:
    return {
        "httpMethod": "POST",
        "path": "/predict",
        "resource": "/predict",
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {"requestId": "r-1", "stage": "v1"},
    }


def test_the_handlers_clients_make_one_attempt():
    """botocore's `max_attempts` counts retries (max_attempts=1 is two attempts);
    `total_max_attempts` counts the first one too
    (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html)."""
    assert gh.BOTO_CONFIG.retries is not None
    client = gh.boto3.session.Session().client(
        "sagemaker-runtime", region_name="us-east-1", endpoint_url="http://127.0.0.1:9", config=gh.BOTO_CONFIG
    )
    assert client.meta.config.retries["total_max_attempts"] == 1


def test_frozen_endpoint_fails_fast_once_without_naming_the_url(frozen):
    """With the handler's own configuration (1 s connect, 5 s read): ~5 s, one connection."""
    c = gh.clients()
    started = time.monotonic()
    with pytest.raises(gh.GatewayError) as caught:
        gh.predict(c, "ml-gateway-fraud", {"x": 1.0}, None)
    elapsed = time.monotonic() - started
    assert caught.value.status == 503
    assert caught.value.message == "the model endpoint is unavailable"
    assert len(frozen.accepted) == 1, f"{len(frozen.accepted)} attempts"
    assert 4.5 < elapsed < 7.0, f"{elapsed:.1f} s"


def test_frozen_store_is_one_503_without_the_url(frozen, monkeypatch):
    """The whole handler: the feature store read times out once (read timeout shortened for
    the test; the number of attempts is the handler's own), and the body says what is
    unavailable, not where localcloud listens."""
    monkeypatch.setattr(gh, "BOTO_CONFIG", gh.BOTO_CONFIG.merge(Config(read_timeout=0.5)))
    result = gh.handler(_event({"policy_id": 3}), None)
    assert result["statusCode"] == 503
    body = result["body"]
    assert json.loads(body)["message"] == "the feature store is unavailable"
    assert frozen.url not in body and "127.0.0.1" not in body and "http" not in body
    assert len(frozen.accepted) == 1, f"{len(frozen.accepted)} attempts"


# -- the gateway's HTTP server: a deadline on the request head ---------------------------------


@pytest.fixture
def gateway(tmp_path, monkeypatch) -> Iterator[GatewayServer]:
    monkeypatch.setattr(asgi_server, "HEAD_TIMEOUT_S", 1.0, raising=False)
    function = lambda_package.publish(tmp_path, "ml-gateway-fraud", "000000000000", "us-east-1")
    server = GatewayServer(GatewayConfig(home=tmp_path, function=function, port=0))
    server.start_background()
    yield server
    server.stop()


def _closed_within(sock: socket.socket, seconds: float, drip: bytes) -> float | None:
    """Send `drip` a byte every 0.2 s (the read timeout never fires); when the server closed
    the connection, or None if it did not within `seconds`."""
    started = time.monotonic()
    sock.settimeout(0.2)
    for i in range(int(seconds / 0.2)):
        try:
            sock.sendall(drip[i % len(drip) : i % len(drip) + 1])
            if sock.recv(1024) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except OSError:  # reset: closed
            return time.monotonic() - started
    return None


def test_a_dripping_request_head_is_cut_off_at_the_deadline(gateway):
    host, port = gateway.server_address[:2]
    with socket.create_connection((host, port)) as sock:
        sock.sendall(b"GET /v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        closed = _closed_within(sock, 4.0, b"X-Slow: abcdefghijklmnop\r\n")
    assert closed is not None, "a head dripping in for 4 s was still open (deadline 1 s)"
    assert closed < 2.5


def test_the_deadline_runs_only_while_a_head_comes_in(gateway):
    """An idle keep-alive connection between requests is not a head being sent: it stays open
    past the head deadline (the keep-alive timeout governs it), and its next request is served."""
    host, port = gateway.server_address[:2]
    request = b"GET /v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection((host, port), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(request)
            head = sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
            length = int(head.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
            received = len(head.split(b"\r\n\r\n", 1)[1])
            while received < length:
                received += len(sock.recv(65536))
            time.sleep(1.5)
