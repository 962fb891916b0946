"""The gateway function run as Lambda runs it (localcloud/apigateway/function.py): from its zip,
in execution environments of its own, with the template's Timeout, MemorySize and environment.

A zip that cannot import answers /predict as API Gateway does for a failed function: 502
"Internal server error" (https://docs.aws.amazon.com/apigateway/latest/developerguide/handle-errors-in-lambda-integration.html);
so does a crash and the function's own Timeout (Lambda's "Task timed out", shorter than the
integration's 29 s); an integration that does not answer within the integration timeout is 504
"Endpoint request timed out" (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
import zipfile
from pathlib import Path

import pytest

from localcloud.apigateway import responses
from localcloud.apigateway.function import FunctionDocumentError, LambdaFunction
from localcloud.apigateway.models import KeyStore, default_path
from localcloud.apigateway.server import GatewayConfig, GatewayServer
from mlgw import lambda_package

ACCOUNT, REGION = "000000000000", "us-east-1"

# A handler for the runtime tests: what it does is chosen by the event's body.
PROBE = """
import json, os, time

def handler(event, context):
    action = event.get("action")
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "crash":
        os._exit(3)
    if action == "raise":
        raise ValueError("the probe failed")
    if action == "unserializable":
        return {"statusCode": 200, "body": object()}
    if action == "allocate":
        return {"allocated": len(bytearray(event["mb"] * 1024 * 1024))}
    return {"pid": os.getpid(), "env": dict(os.environ), "remaining": context.get_remaining_time_in_millis()}
"""


def _function(tmp_path: Path, files: dict[str, bytes], handler: str, timeout: int = 10, memory: int = 512) -> Path:
    """A function document for a zip holding `files`."""
    zip_path = tmp_path / "function.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    document = {
        "Configuration": {
            "FunctionName": "probe",
            "Runtime": "python3.11",
            "Handler": handler,
            "Timeout": timeout,
            "MemorySize": memory,
            "Environment": {"Variables": {"FROM_TEMPLATE": "yes", "ENDPOINT_NAME": "template-endpoint"}},
        },
        "Code": {"Location": str(zip_path), "CodeSha256": hashlib.sha256(zip_path.read_bytes()).hexdigest()},
    }
    path = tmp_path / "function.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def probe(tmp_path):
    function = LambdaFunction(
        _function(tmp_path, {"probe.py": PROBE.encode()}, "probe.handler", timeout=2), tmp_path / "state"
    )
    yield function
    function.close()


def test_environment_is_lambdas_not_the_gateways(probe, monkeypatch):
    monkeypatch.setenv("MLGW_SOMETHING", "of the gateway process")
    out = probe.invoke({}, "req-1")
    assert out.error is None, out.error
    env = out.result["env"]
    assert env["FROM_TEMPLATE"] == "yes" and env["ENDPOINT_NAME"] == "template-endpoint"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "probe" and env["_HANDLER"] == "probe.handler"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == REGION
    assert "MLGW_SOMETHING" not in env and "PYTHONPATH" not in env
    assert 0 < out.result["remaining"] <= 2000
    # The run configuration's function environment wins over the template's, in a new environment.
    probe.reconfigure({"ENDPOINT_NAME": "configured"})
    again = probe.invoke({}, "req-2")
    assert again.result["env"]["ENDPOINT_NAME"] == "configured"
    assert again.result["pid"] != out.result["pid"]


def test_warm_environment_is_reused(probe):
    first = probe.invoke({}, "a").result["pid"]
    assert probe.invoke({}, "b").result["pid"] == first


def test_timeout_kills_and_replaces_the_environment(probe):
    first = probe.invoke({}, "a").result["pid"]
    started = time.monotonic()
    out = probe.invoke({"action": "sleep", "seconds": 30}, "slow")
    assert time.monotonic() - started < 5
    assert out.timed_out and not out.abandoned
    assert out.error == {"errorType": "Sandbox.Timedout", "errorMessage": "slow Task timed out after 2.00 seconds"}
    assert probe.invoke({}, "c").result["pid"] != first


def test_crash_and_errors_are_function_errors(probe):
    first = probe.invoke({}, "a").result["pid"]
    crashed = probe.invoke({"action": "crash"}, "boom")
    assert crashed.error["errorType"] == "Runtime.ExitError" and "exit status 3" in crashed.error["errorMessage"]
    raised = probe.invoke({"action": "raise"}, "r")
    assert raised.error["errorType"] == "ValueError" and raised.error["errorMessage"] == "the probe failed"
    assert probe.invoke({"action": "unserializable"}, "u").error["errorType"] == "Runtime.MarshalError"
    assert probe.invoke({}, "b").result["pid"] != first


def test_memory_size_caps_the_environment(tmp_path):
    function = LambdaFunction(
        _function(tmp_path, {"probe.py": PROBE.encode()}, "probe.handler", memory=256), tmp_path / "state"
    )
    try:
        assert function.invoke({"action": "allocate", "mb": 64}, "small").result == {"allocated": 64 * 1024 * 1024}
        assert function.invoke({"action": "allocate", "mb": 300}, "large").error["errorType"] == "MemoryError"
    finally:
        function.close()


def test_a_document_that_is_not_getfunctions_is_named(tmp_path):
    path = tmp_path / "function.json"
    path.write_text(json.dumps({"Configuration": {}}))
    with pytest.raises(FunctionDocumentError, match="function.json: field 'Code' missing"):
        LambdaFunction(path, tmp_path / "state")


# -- through the gateway: the statuses API Gateway answers ---------------------------------------


def _gateway(tmp_path: Path, function: Path):
    server = GatewayServer(GatewayConfig(home=tmp_path / "home", function=function, port=0))
    server.start_background()
    keys = KeyStore(default_path(tmp_path / "home"))
    _, key = keys.create("tests")
    keys.close()
    return server, key


def _predict(server, key: str, body: dict) -> tuple[int, dict]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=20)
    conn.request("POST", "/v1/predict", body=json.dumps(body), headers={"x-api-key": key})
    response = conn.getresponse()
    out = json.loads(response.read())
    conn.close()
    return response.status, out


def test_zip_missing_a_module_is_502_as_on_aws(tmp_path):
    """The zip of issue 23 (processing/contract.py and schema.json left out): every cold start
    fails with Runtime.ImportModuleError, so API Gateway answers 502 for every /predict."""
    package = lambda_package.build(tmp_path / "built")
    files = {}
    with zipfile.ZipFile(package.path) as archive:
        for name in archive.namelist():
            if name not in ("processing/contract.py", "processing/schema.json"):
                files[name] = archive.read(name)
    server, key = _gateway(tmp_path, _function(tmp_path, files, package.handler))
    try:
        status, body = _predict(server, key, {"policy_id": 3})
        assert (status, body) == (502, {"message": "Internal server error"})
        assert server.function.last_init == {}  # never initialized
    finally:
        server.stop()


def test_function_timeout_is_502_integration_timeout_504(tmp_path, monkeypatch):
    handler = b"import time\ndef handler(event, context):\n    time.sleep(30)\n"
    server, key = _gateway(tmp_path, _function(tmp_path, {"slow.py": handler}, "slow.handler", timeout=1))
    try:
        # The function's Timeout (1 s) is shorter than the integration's: Lambda's timeout error.
        assert _predict(server, key, {"policy_id": 3}) == (502, {"message": "Internal server error"})
        # An integration timeout shorter than the function's: API Gateway stops waiting.
        monkeypatch.setattr(responses, "INTEGRATION_TIMEOUT_S", 0.5)
        assert _predict(server, key, {"policy_id": 3}) == (504, {"message": "Endpoint request timed out"})
    finally:
        server.stop()


def test_zip_is_built_once_per_content_and_rebuilt_when_sources_change(tmp_path):
    root = tmp_path / "src"
    for name in lambda_package.package_files(lambda_package.template_handler()):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes((lambda_package.ROOT / name).read_bytes())
    first = lambda_package.cached(tmp_path / "cache", root)
    stamp = first.path.stat().st_mtime_ns
    again = lambda_package.cached(tmp_path / "cache", root)
    assert again == first and again.path.stat().st_mtime_ns == stamp  # not rebuilt
    with (root / "inference" / "gateway_handler.py").open("a") as f:
        f.write("\n# changed\n")
    changed = lambda_package.cached(tmp_path / "cache", root)
    assert changed.path != first.path and changed.sha256 != first.sha256
    with zipfile.ZipFile(changed.path) as archive:
        assert archive.read("inference/gateway_handler.py").endswith(b"# changed\n")
