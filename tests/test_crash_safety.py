"""Crash safety of the HTTP layer's state: kill -9 at the named points, restart, retry, and
check what a user sees.

- A used-up daily quota stays used up after the gateway is killed (API Gateway's usage plans
  count every admitted request: "Usage plans and API keys for REST APIs", API Gateway
  Developer Guide).
- A CompleteMultipartUpload killed mid-write leaves no temporary file after restart, and the
  retried completion gives the whole object (S3: "Uploading and copying objects using
  multipart upload" — parts stay until completed or aborted).
- A second `mlgw run` on a state directory another run holds is refused, with a message
  saying why and what to do; the hold ends when its holder is killed.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config as BotoConfig

from localcloud.apigateway.models import KeyStore, default_path
from mlgw import lambda_package

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on {port}")


def _spawn(args: list[str], port: int, env: dict | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    _wait_listening(port, proc)
    return proc


def _kill9(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def _predict(port: int, key: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "POST",
        "/v1/predict",
        body=json.dumps({"policy_id": 1}),
        headers={"x-api-key": key, "Content-Type": "application/json"},
    )
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.mark.slow
def test_used_up_quota_stays_used_up_after_kill_9(tmp_path):
    home = tmp_path / "mlgw"
    store = KeyStore(default_path(home))
    _, key = store.create("quota", quota=3)
    store.close()
    lambda_package.publish(home, "none", "000000000000", "us-east-1")  # the function's zip and document
    port = _free_port()
    # No localcloud behind it: admitted requests fail at the integration (5xx), and count.
    args = ["-m", "localcloud.apigateway", "--port", str(port), "--home", str(home), "--endpoint-name", "none"]
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}"}
    gateway = _spawn(args, port, env)
    try:
        assert [_predict(port, key) != 429 for _ in range(3)] == [True] * 3
        assert _predict(port, key) == 429
    finally:
        _kill9(gateway)
    gateway = _spawn(args, port, env)
    try:
        assert _predict(port, key) == 429  # the day's quota is still used up
    finally:
        _kill9(gateway)


@pytest.mark.slow
def test_killed_multipart_completion_leaves_no_temporary_file(tmp_path):
    home = tmp_path / "mlgw"
    port = _free_port()
    args = ["-m", "localcloud", "--port", str(port), "--home", str(home)]
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=BotoConfig(retries={"max_attempts": 1}, read_timeout=60),
    )
    server = _spawn(args, port)
    part = os.urandom(1 << 20) * 16  # 16 MiB
    bucket_dir = home / "s3" / "big"
    try:
        s3.create_bucket(Bucket="big")
        upload = s3.create_multipart_upload(Bucket="big", Key="blob")["UploadId"]
        parts = [
            {
                "PartNumber": n,
                "ETag": s3.upload_part(Bucket="big", Key="blob", PartNumber=n, UploadId=upload, Body=part)["ETag"],
            }
            for n in range(1, 9)
        ]

        def complete() -> None:
            try:
                s3.complete_multipart_upload(
                    Bucket="big", Key="blob", UploadId=upload, MultipartUpload={"Parts": parts}
                )
            except Exception:
                pass  # the server is killed under it

        threading.Thread(target=complete, daemon=True).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(n.startswith(".mlgw-tmp-") for n in os.listdir(bucket_dir)):
                break
        else:
            pytest.fail("the completion never started writing")
    finally:
        _kill9(server)  # mid-write: the temporary file is there now
    assert any(n.startswith(".mlgw-tmp-") for n in os.listdir(bucket_dir))

    server = _spawn(args, port)
    try:
        left = [p for p in (home / "s3").rglob(".mlgw-tmp-*")]
        assert left == []
        s3.complete_multipart_upload(Bucket="big", Key="blob", UploadId=upload, MultipartUpload={"Parts": parts})
        assert s3.head_object(Bucket="big", Key="blob")["ContentLength"] == 8 * len(part)
    finally:
        _kill9(server)


def test_second_run_on_one_state_directory_is_refused(tmp_path, capsys):
    from mlgw.cli import main

    home = tmp_path / "mlgw"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\n"
            "from mlgw.local_run import exclusive_run\n"
            "with exclusive_run(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(60)\n",
            str(home),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["run", "--home", str(home), "--policies", "100"]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and "--home" in err
        assert not (home / "localcloud.json").exists()  # nothing was started
        # `mlgw pipeline start` follows a run on the same dataset: refused the same way
        from localcloud import daemon
        from localcloud.config import Config
        from tests.conftest import start_server

        server = start_server(home)
        try:
            config = Config(home=home, port=int(server.url.rsplit(":", 1)[1]))
            daemon.write_record(daemon.run_file(config), os.getpid(), "127.0.0.1", config.port)
            assert main(["pipeline", "start", "--home", str(home)]) == 2
            assert f"pid {holder.pid}" in capsys.readouterr().err
        finally:
            server.stop()
    finally:
        _kill9(holder)
    from mlgw.local_run import exclusive_run

    with exclusive_run(home):  # a killed holder holds nothing
        pass
