"""The ML Gateway end to end against a real localcloud: a small xgboost endpoint (two variants)
and the two feature groups are built once per module without the pipeline; then the Lambda
handler is called directly (as Lambda would) and through the local API Gateway over HTTP."""

from __future__ import annotations

import http.client
import json
import socket
import uuid

import pytest

from benchmarks import gateway_stack as stack_helper
from localcloud.apigateway.models import KeyStore, default_path
from localcloud.apigateway.server import MAX_PAYLOAD, GatewayConfig, GatewayServer
from mlgw import lambda_package
from tests.conftest import start_server

ENDPOINT = "gw-fraud"
UNKNOWN = 990_001

RAW_CLAIM = {
    "driver_relationship": "Self",
    "incident_type": "Collision",
    "collision_type": "Front",
    "incident_severity": "Major",
    "authorities_contacted": "Police",
    "num_vehicles_involved": 2,
    "num_injuries": 1,
    "num_witnesses": 0,
    "police_report_available": "No",
    "injury_claim": 12000.0,
    "vehicle_claim": 30000.0,
    "total_claim_amount": 42000.0,
    "incident_month": 3,
    "incident_day": 14,
    "incident_dow": 2,
    "incident_hour": 23,
}
RAW_CUSTOMER = {
    "customer_age": 24,
    "months_as_customer": 3,
    "num_claims_past_year": 2,
    "num_insurers_past_5_years": 4,
    "policy_state": "CA",
    "policy_deductable": 750,
    "policy_annual_premium": 2100.0,
    "policy_liability": "25/50",
    "customer_zip": 94105,
    "customer_gender": "Male",
    "customer_education": "High School",
    "auto_year": 2009,
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """localcloud with endpoint `gw-fraud` (variants A, B) and populated claims/customers groups;
    the environment points boto3 (and the handler) at it."""
    home = tmp_path_factory.mktemp("gateway") / "mlgw"
    server = start_server(home)
    env = pytest.MonkeyPatch()
    for name, value in {
        "AWS_ENDPOINT_URL": server.url,
        "MLGW_HOME": str(home),
        "ENDPOINT_NAME": ENDPOINT,
        "CLAIMS_FEATURE_GROUP": "claims",
        "CUSTOMERS_FEATURE_GROUP": "customers",
    }.items():
        env.setenv(name, value)
    make = lambda service: stack_helper.boto_client(service, server.url)  # noqa: E731
    sm = make("sagemaker")
    claims, customers = stack_helper.encoded_frames(600, seed=1)
    s3 = make("s3")
    stack_helper.deploy_endpoint(sm, s3, stack_helper.model_tar(claims, customers), ENDPOINT, ("A", "B"))
    stack_helper.populate_groups(sm, s3, claims, customers, {})
    stack_helper.wait_in_service(sm, ENDPOINT)
    yield {"server": server, "home": home, "featurestore": make("sagemaker-featurestore-runtime")}
    env.undo()
    server.stop()


def _event(body, request_id: str = "req-1") -> dict:
    return {
        "httpMethod": "POST",
        "path": "/predict",
        "resource": "/predict",
        "headers": {"Content-Type": "application/json"},
        "body": body if isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {"requestId": request_id, "stage": "v1"},
    }


def _call(body) -> tuple[int, dict]:
    from inference.gateway_handler import handler

    result = handler(_event(body), None)
    assert set(result) >= {"statusCode", "headers", "body"}
    return result["statusCode"], json.loads(result["body"])


# -- the Lambda handler, called as Lambda calls it --------------------------------------------


def test_handler_scores_a_known_policy(stack):
    status, body = _call({"policy_id": 7})
    assert status == 200, body
    assert 0.0 <= body["fraud_probability"] <= 1.0
    assert body["predicted_label"] in (0, 1)
    assert body["variant"] in ("A", "B")
    assert body["model"]["endpoint"] == ENDPOINT
    assert body["model"]["endpoint_config"] == "gw-config"
    assert body["model"]["model_name"] == "gw-model"
    assert set(body["timing_ms"]) == {"features", "predict", "total"}


def test_handler_unknown_policy_is_404_then_raw_records_add_it(stack):
    status, body = _call({"policy_id": UNKNOWN})
    assert status == 404 and str(UNKNOWN) in body["message"]

    status, body = _call({"policy_id": UNKNOWN, "claim": RAW_CLAIM, "customer": RAW_CUSTOMER})
    assert status == 200, body
    for group in ("claims", "customers"):
        stored = stack["featurestore"].get_record(FeatureGroupName=group, RecordIdentifierValueAsString=str(UNKNOWN))
        names = {f["FeatureName"] for f in stored["Record"]}
        assert {"policy_id", "event_time"} < names
    # Now known: scored from the store alone.
    status, again = _call({"policy_id": UNKNOWN})
    assert status == 200 and again["fraud_probability"] == pytest.approx(body["fraud_probability"])


@pytest.mark.parametrize(
    "body, field",
    [
        ("{not json", "JSON"),
        ({}, "policy_id"),
        ({"policy_id": "seven"}, "policy_id"),
        ({"policy_id": 1, "claim": []}, "claim"),
        ({"policy_id": 1, "colour": "red"}, "colour"),
        ({"policy_id": 990_002, "claim": {**RAW_CLAIM, "num_injuries": 9}, "customer": RAW_CUSTOMER}, "num_injuries"),
        ({"policy_id": 990_002, "claim": {**RAW_CLAIM, "incident_type": 3}, "customer": RAW_CUSTOMER}, "incident_type"),
        ({"policy_id": 990_003, "claim": {**RAW_CLAIM, "shoe_size": 9}, "customer": RAW_CUSTOMER}, "shoe_size"),
    ],
)
def test_handler_bad_request_is_400_naming_the_field(stack, body, field):
    status, out = _call(body)
    assert status == 400 and field in out["message"]


def test_unknown_category_is_answered_as_no_category_and_counted(gateway):
    """A new category (a state, an incident type) is scored as no category, reported in the
    answer and counted per field in the gateway's metrics; it is not a 400."""
    body = {
        "policy_id": 990_010,
        "claim": {**RAW_CLAIM, "incident_type": "Flood"},
        "customer": {**RAW_CUSTOMER, "policy_state": "UT"},
    }
    status, _, out = _http(gateway, "POST", "/v1/predict", body, key=gateway["key"])
    assert status == 200, out
    answer = json.loads(out)
    assert answer["unknown_categories"] == [
        {"field": "claim.incident_type", "value": "Flood"},
        {"field": "customer.policy_state", "value": "UT"},
    ]
    known = {
        **body,
        "policy_id": 990_011,
        "claim": {**RAW_CLAIM, "incident_type": ""},
        "customer": {**RAW_CUSTOMER, "policy_state": ""},
    }
    status, _, out = _http(gateway, "POST", "/v1/predict", known, key=gateway["key"])
    assert status == 200 and "unknown_categories" not in json.loads(out)
    # Encoded exactly as a missing category is.
    assert json.loads(out)["fraud_probability"] == pytest.approx(answer["fraud_probability"])
    text = _http(gateway, "GET", "/metrics")[2].decode()
    assert 'mlgw_gateway_unknown_categories_total{feature="policy_state"} 1.0' in text
    assert 'mlgw_gateway_unknown_categories_total{feature="incident_type"} 1.0' in text


def test_handler_variants(stack):
    status, body = _call({"policy_id": 3, "variant": "B"})
    assert status == 200 and body["variant"] == "B"
    status, body = _call({"policy_id": 3, "variant": "Nope"})
    assert status == 400 and "Nope" in body["message"]


def test_handler_missing_endpoint_is_503(stack, monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "no-such-endpoint")
    status, body = _call({"policy_id": 3})
    assert status == 503 and "no-such-endpoint" in body["message"]


def test_handler_unreachable_cloud_is_503(stack, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{dead}")
    status, body = _call({"policy_id": 3})
    assert status == 503


# -- through the local API Gateway over HTTP --------------------------------------------------


def _function(stack):
    """The gateway function's document, its zip built by `mlgw build lambda`'s builder."""
    config = stack["server"].cloud.config
    return lambda_package.publish(stack["home"], ENDPOINT, config.account_id, config.region)


@pytest.fixture(scope="module")
def gateway(stack):
    server = GatewayServer(GatewayConfig(home=stack["home"], function=_function(stack), port=0, endpoint_name=ENDPOINT))
    server.start_background()
    keys = KeyStore(default_path(stack["home"]))
    _, open_key = keys.create("tests")
    _, slow_key = keys.create("slow", rate=0.01, burst=2)
    yield {"server": server, "key": open_key, "slow": slow_key, "keys": keys}
    keys.close()
    server.stop()


def _http(
    gateway, method: str, path: str, body=None, key: str | None = None, headers: dict | None = None
) -> tuple[int, dict, bytes]:
    host, port = gateway["server"].server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    sent = dict(headers or {})
    if key:
        sent["x-api-key"] = key
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    conn.request(method, path, body=data, headers=sent)
    response = conn.getresponse()
    out = response.read()
    conn.close()
    return response.status, response.headers, out  # headers: case-insensitive, as in HTTP


def test_http_predict_needs_a_valid_key(gateway):
    status, headers, body = _http(gateway, "POST", "/v1/predict", {"policy_id": 5})
    assert status == 403 and json.loads(body) == {"message": "Forbidden"}
    assert headers["x-amzn-RequestId"]
    status, _, _ = _http(gateway, "POST", "/v1/predict", {"policy_id": 5}, key="wrong")
    assert status == 403
    status, headers, body = _http(gateway, "POST", "/v1/predict", {"policy_id": 5}, key=gateway["key"])
    assert status == 200, body
    assert 0.0 <= json.loads(body)["fraud_probability"] <= 1.0
    assert "Access-Control-Allow-Origin" not in headers  # no CORS origin configured
    uuid.UUID(headers["x-amzn-RequestId"])


def test_http_revoked_key_is_forbidden(gateway):
    key, secret = gateway["keys"].create("short-lived")
    assert _http(gateway, "POST", "/v1/predict", {"policy_id": 5}, key=secret)[0] == 200
    gateway["keys"].revoke(key.id)
    gateway["server"].keys._cache.clear()  # the server's 1 s key cache, skipped for the test
    assert _http(gateway, "POST", "/v1/predict", {"policy_id": 5}, key=secret)[0] == 403


def test_http_rate_limit_is_429_with_retry_after(gateway):
    statuses = [_http(gateway, "POST", "/v1/predict", {"policy_id": 6}, key=gateway["slow"]) for _ in range(3)]
    assert [s for s, _, _ in statuses] == [200, 200, 429]
    assert int(statuses[2][1]["Retry-After"]) >= 1


def test_http_daily_quota(gateway):
    _, secret = gateway["keys"].create("quota", quota=1)
    assert _http(gateway, "POST", "/v1/predict", {"policy_id": 6}, key=secret)[0] == 200
    status, headers, body = _http(gateway, "POST", "/v1/predict", {"policy_id": 6}, key=secret)
    assert status == 429 and json.loads(body)["message"] == "Limit Exceeded"
    assert 1 <= int(headers["Retry-After"]) <= 86400


def test_http_oversize_is_413(gateway):
    # Only the headers are sent: the gateway must refuse on Content-Length without reading.
    host, port = gateway["server"].server_address[:2]
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: {gateway['key']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {MAX_PAYLOAD + 1}\r\n\r\n".encode()
        )
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 413")
    assert "x-amzn-requestid" in reply.lower()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"policy_id": "x"}, "policy_id"),
        ({"policy_id": 1, "extra": 1}, "extra"),
        ({}, "policy_id"),
        ("{oops", "JSON"),
    ],
)
def test_http_schema_violation_is_400_naming_the_field(gateway, body, field):
    status, _, out = _http(gateway, "POST", "/v1/predict", body, key=gateway["key"])
    assert status == 400 and field in json.loads(out)["message"]


def test_http_direct_integration(gateway):
    features = {"total_claim_amount": 42000.0, "customer_age": 24.0, "incident_severity": 1.0}
    status, _, body = _http(gateway, "POST", "/v1/predict/direct", {"features": features}, key=gateway["key"])
    assert status == 200, body
    out = json.loads(body)
    assert len(out["predictions"]) == 1 and 0 <= out["predictions"][0]["score"] <= 1
    # The template's DirectPredictRequest model takes {"features": {...}} only: so does local.
    status, _, body = _http(
        gateway, "POST", "/v1/predict/direct", {"instances": [features, {}], "variant": "A"}, key=gateway["key"]
    )
    assert status == 400, body
    status, _, body = _http(gateway, "POST", "/v1/predict/direct", {"features": {"bogus": 1}}, key=gateway["key"])
    assert status == 400 and "bogus" in json.loads(body)["message"]


def test_http_metrics_health_openapi_cors(gateway):
    _http(gateway, "POST", "/v1/predict", {"policy_id": 8}, key=gateway["key"])
    _http(gateway, "POST", "/v1/predict", {"policy_id": 8})  # no key: 403
    status, _, body = _http(gateway, "GET", "/metrics")
    assert status == 200
    text = body.decode()
    assert 'mlgw_gateway_requests_total{route="predict",status="200"' in text
    assert 'mlgw_gateway_requests_total{route="predict",status="403",variant="none"}' in text
    assert "mlgw_gateway_request_duration_seconds_bucket" in text

    status, _, body = _http(gateway, "GET", "/v1/health")
    assert status == 200 and json.loads(body)["endpoint"]["status"] == "InService"

    status, _, body = _http(gateway, "GET", "/v1/openapi.json")
    document = json.loads(body)
    assert document["openapi"].startswith("3.") and "/v1/predict" in document["paths"]

    status, headers, _ = _http(
        gateway,
        "OPTIONS",
        "/v1/predict",
        headers={"Origin": "http://example.test", "Access-Control-Request-Method": "POST"},
    )
    assert status == 204 and "POST" in headers["Access-Control-Allow-Methods"]
    assert "X-Api-Key" in headers["Access-Control-Allow-Headers"]
    assert _http(gateway, "GET", "/v1/nowhere")[0] == 404


def _template_model(name: str) -> dict:
    from pathlib import Path

    from cfnlint.decode import decode

    template, _ = decode(str(Path(__file__).resolve().parents[1] / "infra" / "ml-gateway.yaml"))
    return template["Resources"][name]["Properties"]["Schema"]


DIRECT_BODIES = [
    {"features": {"total_claim_amount": 42000.0, "customer_age": 24.0}},
    {"features": {"incident_severity": None, "policy_state_ca": 1.0}},
    {"features": {}},
    {"features": {"bogus": 1.0}},
    {"features": {"customer_age": "old"}},
    {"instances": [{"customer_age": 24.0}]},
    {"features": {"customer_age": 24.0}, "variant": "A"},
    {"features": [1.0, 2.0]},
    {},
    [],
]


@pytest.mark.parametrize("body", DIRECT_BODIES, ids=range(len(DIRECT_BODIES)))
def test_direct_route_accepts_exactly_what_the_template_model_accepts(gateway, body):
    """Local must never be more lenient than AWS: the local /v1/predict/direct refuses (400) a
    body exactly when API Gateway's request validator would, per the DirectPredictRequest
    model in infra/ml-gateway.yaml (models are JSON Schema draft 4: "Create a model in API
    Gateway", https://docs.aws.amazon.com/apigateway/latest/developerguide/models-mappings-models.html)."""
    from jsonschema import Draft4Validator

    aws_accepts = Draft4Validator(_template_model("DirectRequestModel")).is_valid(body)
    status, _, out = _http(gateway, "POST", "/v1/predict/direct", body, key=gateway["key"])
    assert (status != 400) == aws_accepts, (status, out)
    if aws_accepts:
        assert status == 200, out


def test_template_models_are_the_contracts():
    """infra/ml-gateway.yaml's request models are what the data contract derives (regenerate
    with `mlgw schema models` after editing processing/schema.json)."""
    from processing import contract

    c = contract.load()
    assert _template_model("DirectRequestModel") == c.direct_request_model()
    assert _template_model("PredictRequestModel") == c.predict_request_model()


# -- hardening: input the gateway must refuse with a 400, CORS and Host from configuration -------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"features": {"total_claim_amount": Infinity}}',
        b'{"features": {"total_claim_amount": 1e400}}',
        b'{"features": {"total_claim_amount": NaN}}',
        json.dumps({"features": {"customer_age": 30.0}}).encode("utf-16"),
        b'{"features": ' * 3000 + b"{}" + b"}" * 3000,
    ],
)
@pytest.mark.parametrize("path", ["/v1/predict/direct", "/v1/predict"])
def test_http_numbers_json_cannot_carry_are_400(gateway, raw, path):
    """RFC 8259 section 6: Infinity and NaN are not JSON numbers, and 1e400 has no finite
    value; JSON text is UTF-8 (section 8.1). Both routes refuse alike, before the endpoint."""
    status, _, out = _http(gateway, "POST", path, raw, key=gateway["key"], headers={"Content-Type": "application/json"})
    assert status == 400, out
    assert "not JSON" in json.loads(out)["message"]


def test_http_cors_origins_come_from_configuration(stack):
    server = GatewayServer(
        GatewayConfig(
            home=stack["home"],
            function=_function(stack),
            port=0,
            endpoint_name=ENDPOINT,
            cors_origins=("http://app.example",),
        )
    )
    server.start_background()
    try:
        probe = {"server": server}
        _, headers, _ = _http(probe, "GET", "/v1/health", headers={"Origin": "http://app.example"})
        assert headers["Access-Control-Allow-Origin"] == "http://app.example"
        _, headers, _ = _http(probe, "GET", "/v1/health", headers={"Origin": "http://evil.example"})
        assert "Access-Control-Allow-Origin" not in headers
    finally:
        server.stop()


def test_http_only_loopback_host_names(gateway):
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    status, _, out = _http(
        gateway, "POST", "/v1/predict", {"policy_id": 5}, key=gateway["key"], headers={"Host": "evil.example"}
    )
    assert status == 400 and "Host" in json.loads(out)["message"]
    assert _http(gateway, "GET", "/v1/health", headers={"Host": "localhost"})[0] == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_servers_do_not_outlive_their_state(tmp_path, monkeypatch, capsys):
    """The gateway and localcloud are found by their state directory even when it was deleted
    under them; a failed `gateway start` leaves no localcloud behind; a second start on another
    port is refused, not ignored; `make clean` stops everything (gateway, studio, localcloud)
    before deleting the state."""
    import shutil
    import subprocess
    import sys
    import time
    from pathlib import Path

    from localcloud import daemon
    from localcloud.config import Config
    from mlgw import cli, servers

    mlgw_script = Path(sys.executable).with_name("mlgw")
    if not mlgw_script.exists() or not shutil.which("make"):
        pytest.skip("needs make and the venv's mlgw script (make install)")
    home, lc_port, gw_port, other = tmp_path / ".mlgw", _free_port(), _free_port(), _free_port()
    monkeypatch.setenv("MLGW_PORT", str(lc_port))
    monkeypatch.chdir(tmp_path)
    gateway = ["gateway", "--home", str(home)]
    config = Config.from_flags(str(home))

    bad = tmp_path / "bad-schema.json"
    bad.write_text("{}")
    assert cli.main(gateway + ["start", "--gateway-port", str(gw_port), "--schema", str(bad)]) == 2
    assert daemon.status(config) is None and not daemon.answers("127.0.0.1", lc_port)

    studio = None
    try:
        assert cli.main(gateway + ["start", "--gateway-port", str(gw_port)]) == 0
        # nothing deployed on this fresh state directory: it says every request will get 503
        assert "does not exist yet, so requests answer 503 until it does" in capsys.readouterr().err
        studio_port = _free_port()
        studio = subprocess.Popen(
            [sys.executable, "-m", "mlgw", "studio", "--home", str(home), "--studio-port", str(studio_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert cli.main(gateway + ["start", "--gateway-port", str(other)]) == 2
        err = capsys.readouterr().err
        assert f"already running at http://127.0.0.1:{gw_port}" in err and "stop it first" in err
        assert not daemon.answers("127.0.0.1", other)
        assert servers.summary(home).startswith(
            f"left running: gateway at http://127.0.0.1:{gw_port}"
        ) and "`mlgw stop`" in servers.summary(home)

        deadline = time.monotonic() + 60
        while not daemon.answers("127.0.0.1", studio_port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert daemon.answers("127.0.0.1", studio_port)
        shutil.rmtree(home)  # the state deleted under the servers: still found, by process
        assert cli.main(gateway + ["status"]) == 0
        assert f"gateway running at http://127.0.0.1:{gw_port}" in capsys.readouterr().out
        home.mkdir()
        makefile = Path(__file__).resolve().parents[1] / "Makefile"
        # make clean's state directory is the one in its working directory ($(CURDIR)/.mlgw)
        env = {
            **{k: v for k, v in __import__("os").environ.items() if k != "MLGW_HOME"},
            "PYTHONPATH": str(makefile.parent),
        }
        done = subprocess.run(
            ["make", "-s", "-f", str(makefile), "clean", f"VENV={mlgw_script.parent.parent}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "stopped gateway" in done.stdout and "stopped localcloud" in done.stdout
        assert f"stopped studio at http://127.0.0.1:{studio_port}" in done.stdout
        assert studio.wait(timeout=10) is not None
        assert not home.exists()
        assert not daemon.answers("127.0.0.1", gw_port)
        assert not daemon.answers("127.0.0.1", lc_port)
        assert cli.main(gateway + ["status"]) == 3  # LSB: not running, as `mlgw localcloud status`
        assert servers.summary(home) == "nothing left running"
    finally:
        servers.stop_all(home)
        if studio is not None and studio.poll() is None:
            studio.kill()
            studio.wait()


def test_status_and_start_name_who_holds_the_port(tmp_path, capsys):
    """`status` of a state directory with no server says when its port is held all the same,
    and by whom; `start` on that port is refused naming the holder."""
    import os

    from mlgw import cli

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        lc = ["localcloud", "--home", str(tmp_path / ".mlgw"), "--port", port]
        assert cli.main(lc + ["status"]) == 3
        assert (
            f"not running (state dir {tmp_path / '.mlgw'}); port {port} is held by pid "
            f"{os.getpid()}" in capsys.readouterr().out
        )
        assert cli.main(lc + ["start"]) == 2
        assert f"port {port} on 127.0.0.1 is taken by pid {os.getpid()}" in capsys.readouterr().err


def test_predict_runs_the_function_from_its_zip_alone(gateway):
    """/predict is answered by the handler imported from the built zip in an execution
    environment of its own (issue 23): its module lies in the unpacked zip and nothing of the
    checkout or the venv's site-packages is on its sys.path (the runtime folder holds boto3 and
    its dependencies only)."""
    from pathlib import Path

    status, _, out = _http(gateway, "POST", "/v1/predict", {"policy_id": 3}, key=gateway["key"])
    assert status == 200, out
    function = gateway["server"].function
    init = function.last_init
    task = Path(function.task_root)
    assert Path(init["handler_file"]).is_relative_to(task)
    checkout = Path(lambda_package.ROOT)
    assert not task.is_relative_to(checkout)
    for entry in init["sys_path"]:
        assert not Path(entry).is_relative_to(checkout), entry
        assert "site-packages" not in entry, entry
    assert sorted(p.name for p in Path(function.runtime_root).iterdir() if not p.name.endswith("-info")) == [
        "boto3",
        "botocore",
        "dateutil",
        "jmespath",
        "s3transfer",
        "six.py",
        "urllib3",
    ]
    assert init["pid"] != __import__("os").getpid()
