"""mlgw studio over HTTP, without a browser: the same pages against moto-backed AWS APIs (the
`--target aws` code path), 404 pages that name what was not found, AWS's own error message on
the page, and state-changing POSTs refused without the studio's token or from another origin.

AWS error shapes: https://docs.aws.amazon.com/sagemaker/latest/APIReference/CommonErrors.html
"""

from __future__ import annotations

import html
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from mlgw.cli import build_parser
from mlgw.studio.backend import Backend
from mlgw.studio.server import Background
from mlgw.target import Target

ROLE = "arn:aws:iam::123456789012:role/PipelineRole"
DEFINITION = {
    "Version": "2020-12-01",
    "Metadata": {},
    "Parameters": [{"Name": "Auc", "Type": "Float", "DefaultValue": 0.9}],
    "Steps": [
        {"Name": "Evaluate", "Type": "Processing", "Arguments": {}},
        {
            "Name": "CheckAuc",
            "Type": "Condition",
            "Arguments": {
                "Conditions": [
                    {
                        "Type": "GreaterThanOrEqualTo",
                        "LeftValue": {"Get": "Steps.Evaluate.ProcessingJobStatus"},
                        "RightValue": "Completed",
                    }
                ],
                "IfSteps": [{"Name": "Register", "Type": "RegisterModel", "Arguments": {}}],
                "ElseSteps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "no"}}],
            },
        },
    ],
}


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, html.unescape(reply.read().decode())
    except urllib.error.HTTPError as exc:
        return exc.code, html.unescape(exc.read().decode())


def post(url: str, fields: dict, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(fields).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, html.unescape(reply.read().decode())
    except urllib.error.HTTPError as exc:
        return exc.code, html.unescape(exc.read().decode())


@pytest.fixture
def aws(monkeypatch):
    """moto's AWS: a pipeline with an execution, a registered model, an endpoint, a feature group."""
    moto = pytest.importorskip("moto")
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)  # boto3 would send "AWS" calls to a local endpoint
    with moto.mock_aws():
        session = boto3.Session(region_name="us-east-1")
        sm = session.client("sagemaker")
        sm.create_pipeline(
            PipelineName="Fraud",
            PipelineDefinition=json.dumps(DEFINITION),
            RoleArn=ROLE,
            ClientRequestToken=uuid.uuid4().hex,
        )
        execution = sm.start_pipeline_execution(PipelineName="Fraud", ClientRequestToken=uuid.uuid4().hex)
        sm.create_model_package_group(ModelPackageGroupName="FraudModels")
        s3 = session.client("s3")
        s3.create_bucket(Bucket="fraud-runs")
        s3.put_object(
            Bucket="fraud-runs",
            Key="evaluation.json",
            Body=json.dumps(
                {
                    "binary_classification_metrics": {
                        "auc": {"value": 0.91},
                        "pr_auc": {"value": 0.55},
                        "confusion_matrix": {"0": {"0": 90, "1": 2}, "1": {"0": 3, "1": 5}},
                    },
                    "mlflow": {
                        "tracking_uri": "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/fraud",
                        "experiment_id": "7",
                        "run_id": "0a1b2c3d4e5f",
                    },
                }
            ).encode(),
        )
        package = sm.create_model_package(
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": "s3://fraud-runs/evaluation.json"}
                }
            },
            ModelPackageGroupName="FraudModels",
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1",
                        "ModelDataUrl": "s3://bucket/model.tar.gz",
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )
        sm.create_model(
            ModelName="fraud-v1",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1"},
        )
        sm.create_endpoint_config(
            EndpointConfigName="fraud-config-1",
            ProductionVariants=[
                {
                    "VariantName": "v1",
                    "ModelName": "fraud-v1",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0,
                }
            ],
        )
        sm.create_endpoint(EndpointName="fraud", EndpointConfigName="fraud-config-1")
        sm.create_feature_group(
            FeatureGroupName="claims",
            RecordIdentifierFeatureName="policy_id",
            EventTimeFeatureName="event_time",
            FeatureDefinitions=[
                {"FeatureName": "policy_id", "FeatureType": "Integral"},
                {"FeatureName": "event_time", "FeatureType": "String"},
            ],
            OnlineStoreConfig={"EnableOnlineStore": True},
            OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://fraud-offline/store"}},
            RoleArn=ROLE,
        )
        target = Target.aws("us-east-1", None)
        server = Background(Backend(target))
        try:
            yield server, sm, execution["PipelineExecutionArn"], package["ModelPackageArn"]
        finally:
            server.stop()


def test_the_same_views_render_against_aws_apis(aws):
    server, sm, execution_arn, package_arn = aws
    status, page = get(f"{server.url}/pipelines")
    assert status == 200 and "Fraud" in page and ">AWS<" in page
    status, page = get(f"{server.url}/pipelines/Fraud")
    assert status == 200
    for step in ("Evaluate", "CheckAuc", "Register", "Stop"):  # condition branches drawn
        assert f'data-step="{step}"' in page
    execution_id = execution_arn.rsplit("/", 1)[1]
    assert f"/executions/{execution_id}" in page
    status, page = get(f"{server.url}/pipelines/Fraud/executions/{execution_id}")
    assert status == 200 and 'id="pipeline-graph"' in page
    status, page = get(f"{server.url}/models/FraudModels")
    assert status == 200 and "PendingManualApproval" in page
    status, page = get(f"{server.url}/models/FraudModels/1")
    assert status == 200 and package_arn in page and 'id="approve"' in page
    # the metrics the package carries, and the MLflow run Evaluate logged them to
    assert "0.9100" in page and 'id="mlflow-run"' in page and "0a1b2c3d4e5f" in page
    status, page = get(f"{server.url}/models/FraudModels")
    assert "0.9100" in page and "0.5500" in page
    status, page = get(f"{server.url}/endpoints/fraud")
    assert status == 200 and 'data-variant="v1"' in page and "fraud-config-1" in page
    status, page = get(f"{server.url}/features/claims")
    assert status == 200 and "policy_id" in page
    for path in ("/endpoints", "/features", "/monitoring", "/models"):
        assert get(f"{server.url}{path}")[0] == 200, path


def test_executions_list_duration_and_the_parameters_that_differ_from_defaults(aws):
    """The executions table answers "how long, and with what": a duration per execution (to
    now while it runs) and only the parameters whose value is not the definition's default
    (ListPipelineParametersForExecution)."""
    server, sm, *_ = aws
    sm.start_pipeline_execution(
        PipelineName="Fraud", ClientRequestToken=uuid.uuid4().hex, PipelineParameters=[{"Name": "Auc", "Value": "0.95"}]
    )
    status, page = get(f"{server.url}/pipelines/Fraud")
    # The page comes at once; the facts that take calls per execution follow in its table
    # fragment (studio.js fetches it), which is all a repeat visit needs for finished ones.
    assert status == 200 and "<th>duration</th>" in page
    assert 'data-live="/pipelines/Fraud/executions-table"' in page
    status, page = get(f"{server.url}/pipelines/Fraud/executions-table")
    assert status == 200 and "<code>Auc=0.95</code>" in page
    assert page.count("<code>Auc=") == 1  # the default run lists no override
    durations = [cell.split("<", 1)[0] for cell in page.split('class="duration">')[1:]]
    assert len(durations) == 2 and all(d.endswith((" s", " s so far", " min", " min so far")) for d in durations), (
        durations
    )


def test_approving_against_aws_changes_what_boto3_reads(aws):
    server, sm, _, package_arn = aws
    _, page = get(f"{server.url}/models/FraudModels/1")
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    status, page = post(f"{server.url}/models/FraudModels/1/approval", {"csrf_token": token, "status": "Approved"})
    assert status == 200 and "version 1 is now Approved" in page
    assert sm.describe_model_package(ModelPackageName=package_arn)["ModelApprovalStatus"] == "Approved"


def test_unknown_names_get_a_404_page_naming_them(aws):
    server, *_ = aws
    for path, named in (
        ("/pipelines/NoSuchPipeline", "pipeline 'NoSuchPipeline'"),
        ("/models/NoSuchGroup", "model package group 'NoSuchGroup'"),
        ("/endpoints/no-such-endpoint", "endpoint 'no-such-endpoint'"),
        ("/no/such/page", "no page at '/no/such/page'"),
    ):
        status, page = get(f"{server.url}{path}")
        assert status == 404, path
        assert named in page, (path, page[-400:])
        assert "Traceback" not in page


def test_an_aws_refusal_is_shown_with_aws_code_and_message(aws):
    server, *_ = aws
    message = (
        "User: arn:aws:sts::123456789012:assumed-role/Reader/me is not authorized to perform: "
        "sagemaker:ListModelPackageGroups because no identity-based policy allows the action"
    )

    def access_denied(**kwargs):
        return AWSResponse("https://sagemaker.us-east-1.amazonaws.com", 400, {}, None), {
            "Error": {"Code": "AccessDeniedException", "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    server.app.state.backend.sm.meta.events.register("before-call.sagemaker.ListModelPackageGroups", access_denied)
    status, page = get(f"{server.url}/models")
    assert status == 400
    assert "AccessDeniedException" in page and "is not authorized to perform: sagemaker:ListModelPackageGroups" in page
    assert "Traceback" not in page


def test_state_changing_posts_need_the_studio_token_and_its_origin(aws):
    server, sm, *_ = aws
    before = len(sm.list_pipeline_executions(PipelineName="Fraud")["PipelineExecutionSummaries"])
    _, page = get(f"{server.url}/pipelines/Fraud")
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    status, page = post(f"{server.url}/pipelines/Fraud/start", {"param:Auc": "0.8"})
    assert status == 403 and "token" in page
    status, page = post(f"{server.url}/pipelines/Fraud/start", {"csrf_token": "forged", "param:Auc": "0.8"})
    assert status == 403
    status, page = post(
        f"{server.url}/pipelines/Fraud/start", {"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert status == 403 and "evil.example" in page
    assert len(sm.list_pipeline_executions(PipelineName="Fraud")["PipelineExecutionSummaries"]) == before
    status, page = post(f"{server.url}/pipelines/Fraud/start", {"csrf_token": token, "param:Auc": "0.8"})
    assert status == 200 and "execution started" in page
    assert len(sm.list_pipeline_executions(PipelineName="Fraud")["PipelineExecutionSummaries"]) == before + 1


def test_studio_binds_loopback_by_default():
    args = build_parser().parse_args(["studio"])
    assert args.host == "127.0.0.1" and args.target == "local"


def test_local_target_reads_localcloud(localcloud, client):
    """The default target: boto3 pointed at localcloud with its credentials."""
    client("sagemaker").create_pipeline(
        PipelineName="Local",
        PipelineDefinition=json.dumps(DEFINITION),
        RoleArn=ROLE,
        ClientRequestToken=uuid.uuid4().hex,
    )
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    server = Background(
        Backend(Target("local", session, endpoint_url=localcloud.url, home=localcloud.cloud.config.home))
    )
    try:
        status, page = get(f"{server.url}/pipelines/Local")
        assert status == 200 and 'data-step="CheckAuc"' in page and ">localcloud<" in page
        assert get(f"{server.url}/pipelines/Nope")[0] == 404
        # The object browser: a prefix given without its slash lists it; an object shows its text.
        s3 = client("s3")
        s3.create_bucket(Bucket="runs")
        s3.put_object(Bucket="runs", Key="exec-1/evaluation/evaluation.json", Body=b'{"auc": 0.91}')
        status, page = get(f"{server.url}/s3/runs/exec-1/evaluation")
        assert status == 200 and "evaluation.json" in page
        status, page = get(f"{server.url}/s3/runs/exec-1/evaluation/evaluation.json")
        assert status == 200 and '"auc": 0.91' in page
        status, page = get(f"{server.url}/s3/runs/exec-1/nothing.json")
        assert status == 404 and "object 's3://runs/exec-1/nothing.json' was not found" in page
        # A feature group's size: the offline store's rows summed from its Parquet footers.
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        sm = client("sagemaker")
        sm.create_feature_group(
            FeatureGroupName="claims",
            RecordIdentifierFeatureName="policy_id",
            EventTimeFeatureName="event_time",
            RoleArn=ROLE,
            FeatureDefinitions=[
                {"FeatureName": "policy_id", "FeatureType": "Integral"},
                {"FeatureName": "event_time", "FeatureType": "Fractional"},
            ],
            OnlineStoreConfig={"EnableOnlineStore": True},
            OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://runs/offline"}},
        )
        uri = sm.describe_feature_group(FeatureGroupName="claims")["OfflineStoreConfig"]["S3StorageConfig"][
            "ResolvedOutputS3Uri"
        ]
        for i, n in enumerate((1200, 34)):
            body = io.BytesIO()
            pq.write_table(pa.table({"policy_id": list(range(n)), "event_time": [1.0] * n}), body)
            s3.put_object(Bucket="runs", Key=f"{uri.split('/', 3)[3]}/year=2026/part-{i}.parquet", Body=body.getvalue())
        status, page = get(f"{server.url}/features/claims")
        assert status == 200 and "offline store: 1,234 rows" in page and "in 2 Parquet files" in page
        # (moto answers an unknown feature group with a KeyError, so this one is checked here)
        status, page = get(f"{server.url}/features/no-such-group")
        assert status == 404 and "feature group 'no-such-group' was not found" in page
    finally:
        server.stop()


def test_mlgw_run_prints_the_studio_url_when_studio_is_running(tmp_path, monkeypatch, capsys, aws):
    """`mlgw studio` records itself in <home>/studio.json while it serves; `mlgw run` links the
    execution it just ran. (The pipeline run itself is replaced here: only the printing is tested.)"""
    from localcloud import daemon
    from mlgw import local_run
    from mlgw.cli import main
    from mlgw.progress import ExecutionResult
    from mlgw.studio.server import running_url, studio_file

    server, *_ = aws
    home = tmp_path / "mlgw"
    home.mkdir()
    arn = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/mlgatewaypipeline/execution/abc123"
    monkeypatch.setattr(local_run, "run", lambda *a, **k: ExecutionResult(arn, "Succeeded", None))
    assert running_url(home) is None
    main(["run", "--home", str(home)])
    assert "studio" not in capsys.readouterr().out

    host, port = server.url.removeprefix("http://").split(":")
    daemon.write_record(studio_file(home), os.getpid(), host, int(port))  # as serve() does
    assert running_url(home) == server.url
    main(["run", "--home", str(home)])
    assert f"{server.url}/pipelines/MLGatewayPipeline/executions/abc123" in capsys.readouterr().out


def test_a_large_model_group_is_shown_a_page_at_a_time_newest_first(localcloud, client):
    """26 versions: the first page lists the 25 newest, and its "older versions" link (the
    ListModelPackages NextToken) shows version 1; each page answers without reading the rest."""
    from mlgw.studio.backend import VERSIONS_PER_PAGE

    sm = client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="Many")
    for _ in range(VERSIONS_PER_PAGE + 1):
        sm.create_model_package(
            ModelPackageGroupName="Many",
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/xgb:1",
                        "ModelDataUrl": "s3://bucket/model.tar.gz",
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    server = Background(
        Backend(Target("local", session, endpoint_url=localcloud.url, home=localcloud.cloud.config.home))
    )
    try:
        status, page = get(f"{server.url}/models/Many")
        shown = [int(v) for v in re.findall(r'<tr data-version="(\d+)"', page)]
        assert status == 200 and shown == list(range(VERSIONS_PER_PAGE + 1, 1, -1))
        older = page.split('<a href="?token=', 1)[1].split('"', 1)[0]
        status, page = get(f"{server.url}/models/Many?token={older}")
        assert status == 200 and re.findall(r'<tr data-version="(\d+)"', page) == ["1"]
        assert "older versions" not in page
        status, page = get(f"{server.url}/models/Many?token=not-a-token")
        assert status == 400 and "ValidationException" in page  # AWS's refusal, on the page
    finally:
        server.stop()


def test_a_pipeline_that_never_ran_is_listed_with_a_dash(localcloud, client):
    """Issue 16: after a fresh `mlgw run` the DriftCheck pipeline has never run, and ListPipelines
    leaves LastExecutionTime out of its summary (an optional member of PipelineSummary in the
    SageMaker API reference: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_PipelineSummary.html;
    AWS omits absent optional members). The page lists it with a dash, not a 500."""
    sm = client("sagemaker")
    for name in ("Ran", "NeverRan"):
        sm.create_pipeline(
            PipelineName=name,
            PipelineDefinition=json.dumps(DEFINITION),
            RoleArn=ROLE,
            ClientRequestToken=uuid.uuid4().hex,
        )
    sm.start_pipeline_execution(PipelineName="Ran", ClientRequestToken=uuid.uuid4().hex)
    summaries = {p["PipelineName"]: p for p in sm.list_pipelines()["PipelineSummaries"]}
    assert "LastExecutionTime" not in summaries["NeverRan"]
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    server = Background(
        Backend(Target("local", session, endpoint_url=localcloud.url, home=localcloud.cloud.config.home))
    )
    try:
        status, page = get(f"{server.url}/")
        assert status == 200, page
        row = re.search(r"<tr><td><a href=\"/pipelines/NeverRan\">NeverRan</a></td>.*?</tr>", page).group(0)
        assert row.endswith("<td>—</td></tr>")
        assert get(f"{server.url}/pipelines/NeverRan")[0] == 200
    finally:
        server.stop()


def test_the_filters_show_a_dash_for_members_aws_left_out():
    """Every optional member the pages show (LastModifiedTime, FailureReason, CurrentWeight,
    ModelPackageVersion...) may be absent from AWS's answer; rendering one never fails."""
    from mlgw.studio.app import templates

    env = templates().env
    page = env.from_string(
        "{{ x.LastExecutionTime|when }}|{{ x.Auc|number }}|{{ x.Seconds|duration }}|"
        "{{ seconds(x.StartTime, x.EndTime) }}|{{ x.FailureReason }}|{{ x.A.B }}|"
        "{{ x.FailureReason or '' }}|{{ x.Weight|default('') }}|{{ none|when }}"
    )
    assert page.render(x={}) == "—|—|—|—|—|—|||—"


def test_executions_are_shown_by_id_and_a_chosen_display_name_beside_it(aws):
    """The CLI (`mlgw pipeline executions`) and every link name an execution by its ID; SageMaker
    names one `execution-<epoch ms>` when StartPipelineExecution gets no
    PipelineExecutionDisplayName (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StartPipelineExecution.html),
    which the studio leaves out; a name the user chose is shown next to the ID."""
    server, sm, execution_arn, _ = aws
    default_id = execution_arn.rsplit("/", 1)[1]
    named = sm.start_pipeline_execution(
        PipelineName="Fraud", PipelineExecutionDisplayName="nightly-retrain", ClientRequestToken=uuid.uuid4().hex
    )["PipelineExecutionArn"]
    named_id = named.rsplit("/", 1)[1]
    defaulted = sm.start_pipeline_execution(
        PipelineName="Fraud",
        PipelineExecutionDisplayName="execution-1796018625822",
        ClientRequestToken=uuid.uuid4().hex,
    )["PipelineExecutionArn"]
    status, page = get(f"{server.url}/pipelines/Fraud")
    assert status == 200
    assert f">{default_id}</a>" in page and f">{named_id}</a>" in page and "nightly-retrain" in page
    assert f">{defaulted.rsplit('/', 1)[1]}</a>" in page
    assert "execution-1796018625822" not in page
    status, page = get(f"{server.url}/pipelines/Fraud/executions/{named_id}")
    assert status == 200 and re.search(rf"/ {named_id} <small[^>]*>nightly-retrain</small></h1>", page)


def test_a_second_studio_is_refused_and_the_first_keeps_its_run_file(tmp_path, monkeypatch, capsys):
    """Issue 16: a second `mlgw studio` on the same state directory used to print its banner,
    fail in uvicorn with "address already in use" and delete the running studio's studio.json.
    Now it is refused before anything (one `mlgw: error:` line naming the running studio), as
    `mlgw gateway start` refuses; a port another program holds and an address not of this
    machine are one error line too; the run file is written after the bind, removed by its owner."""
    import threading
    import time

    from mlgw.cli import main
    from mlgw.studio import server as studio_server
    from mlgw.studio.server import running_url, studio_file

    home = tmp_path / "mlgw"
    home.mkdir()
    servers = []
    real_make_server = studio_server.make_server
    monkeypatch.setattr(
        studio_server, "make_server", lambda *a, **k: servers.append(real_make_server(*a, **k)) or servers[-1]
    )
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    target = Target("local", session, endpoint_url="http://127.0.0.1:9", home=home)
    probe = studio_server.bind("127.0.0.1", 0)
    port = probe.getsockname()[1]
    probe.close()
    first = threading.Thread(target=studio_server.serve, args=(target, "127.0.0.1", port), daemon=True)
    first.start()
    deadline = time.monotonic() + 15
    while running_url(home) is None:
        assert time.monotonic() < deadline and first.is_alive(), "the first studio did not start"
        time.sleep(0.05)
    record = studio_file(home).read_text()
    capsys.readouterr()
    try:
        assert main(["studio", "--home", str(home), "--studio-port", str(port)]) == 2
        out, err = capsys.readouterr()
        assert (
            err.strip() == f"mlgw: error: studio already running at http://127.0.0.1:{port} "
            f"(pid {os.getpid()}); stop it first (Ctrl-C in its terminal, or `mlgw stop`)"
        )
        assert "Ctrl-C stops it" not in out
        assert studio_file(home).read_text() == record and running_url(home) == f"http://127.0.0.1:{port}"

        other = tmp_path / "other"
        other.mkdir()
        assert main(["studio", "--home", str(other), "--studio-port", str(port)]) == 2
        out, err = capsys.readouterr()
        assert err.startswith(f"mlgw: error: port {port} is taken by pid {os.getpid()} ") and err.count("\n") == 1
        assert "Ctrl-C" not in out and not studio_file(other).exists()
        assert main(["studio", "--home", str(other), "--host", "8.8.8.8", "--studio-port", str(port)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"mlgw: error: cannot serve on 8.8.8.8:{port}: ") and err.count("\n") == 1
        assert studio_file(home).read_text() == record
    finally:
        servers[0].should_exit = True
        first.join(timeout=10)
    assert not studio_file(home).exists()  # its owner removes it on the way out


def test_a_pipeline_that_never_ran_against_aws_apis(aws):
    """The same list against moto's ListPipelines: a pipeline created and never started."""
    server, sm, *_ = aws
    sm.create_pipeline(
        PipelineName="Idle",
        PipelineDefinition=json.dumps(DEFINITION),
        RoleArn=ROLE,
        ClientRequestToken=uuid.uuid4().hex,
    )
    status, page = get(f"{server.url}/pipelines")
    assert status == 200 and '<a href="/pipelines/Idle">Idle</a>' in page
    assert get(f"{server.url}/pipelines/Idle")[0] == 200


# -- issue 24: DNS rebinding, framing, plain-text charts, client errors ---------------------------


def exchange(url: str, path: str, host: str | None = None, method: str = "GET", fields: dict | None = None):
    """(status, lower-cased headers, body) of one request with the Host header given verbatim
    (a rebound page's requests carry its own name), or the server's own host:port."""
    import http.client

    address = url.removeprefix("http://")
    connection = http.client.HTTPConnection(*address.rsplit(":", 1), timeout=30)
    body = urllib.parse.urlencode(fields).encode() if fields is not None else None
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    connection.putheader("Host", address if host is None else host)
    if body is not None:
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    reply = connection.getresponse()
    try:
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read().decode()
    finally:
        connection.close()


def test_a_rebound_host_name_gets_400_and_no_page_token_or_object(aws, monkeypatch):
    """Issue 24 class 4: a hostile page that rebinds its own DNS name to 127.0.0.1 reaches the
    studio with `Host: rebind.evil.example`; it used to get every page (the CSRF token with them,
    so its POST approved a model package) and the S3 browser's objects. Only loopback names, the
    bound address and MLGW_ALLOWED_HOSTS are served, as localcloud and the gateway do."""
    server, sm, _, package_arn = aws
    port = server.url.rsplit(":", 1)[1]
    _, _, page = exchange(server.url, "/models/FraudModels/1")
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    for path in ("/pipelines", "/models/FraudModels/1", "/s3/fraud-runs/evaluation.json", "/static/studio.js"):
        status, headers, body = exchange(server.url, path, host=f"rebind.evil.example:{port}")
        assert status == 400, path
        assert headers["content-type"].startswith("text/plain") and "<html" not in body, path
        assert "'rebind.evil.example:" in body and "loopback host names only" in body and "MLGW_ALLOWED_HOSTS" in body
        assert token not in body and "0.91" not in body
    status, _, body = exchange(
        server.url,
        "/models/FraudModels/1/approval",
        host="rebind.evil.example",
        method="POST",
        fields={"csrf_token": token, "status": "Approved"},
    )
    assert status == 400 and "not served here" in body
    assert sm.describe_model_package(ModelPackageName=package_arn)["ModelApprovalStatus"] == "PendingManualApproval"
    for host in ("", "127.0.0.1.nip.io", "localhost.evil.example", "evil.example:80@127.0.0.1"):
        assert exchange(server.url, "/pipelines", host=host)[0] == 400, host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}", "127.0.0.1"):
        assert exchange(server.url, "/pipelines", host=host)[0] == 200, host

    monkeypatch.setenv("MLGW_ALLOWED_HOSTS", "studio.example, other.example")
    named = Background(server.app.state.backend)
    try:
        assert exchange(named.url, "/pipelines", host="studio.example:8080")[0] == 200
        assert exchange(named.url, "/pipelines", host="rebind.evil.example")[0] == 400
    finally:
        named.stop()


def test_every_response_forbids_framing_and_the_pages_need_nothing_the_csp_blocks(aws):
    """Issue 24 class 4: pages with Approve/Reject and Promote buttons had no X-Frame-Options
    or CSP frame-ancestors, so another site could frame them (clickjacking). Every response now
    carries both and a CSP that allows only the studio's own script, stylesheet and forms. The
    pages themselves must need nothing it blocks: no inline script, event handler or
    `javascript:` URL (studio.js attaches behaviour), no inline CSS (charts.py writes SVG
    presentation attributes instead of matplotlib's style attributes)."""
    server, *_ = aws
    execution_id = server.app.state.backend.sm.list_pipeline_executions(PipelineName="Fraud")[
        "PipelineExecutionSummaries"
    ][0]["PipelineExecutionArn"].rsplit("/", 1)[1]
    pages = [
        "/pipelines",
        "/pipelines/Fraud",
        f"/pipelines/Fraud/executions/{execution_id}",
        "/models",
        "/models/FraudModels",
        "/models/FraudModels/1",  # Approve / Reject, and the confusion matrix chart
        "/endpoints/fraud",  # Promote / Roll back
        "/monitoring",
        "/features/claims",
        "/s3/fraud-runs/evaluation.json",
        "/no/such/page",
        "/models/NoSuchGroup",
    ]
    checked = {}
    for path in [*pages, "/", "/static/studio.js", "/static/studio.css"]:
        status, headers, body = exchange(server.url, path)
        checked[path] = (status, headers, body)
    checked["POST without token"] = exchange(server.url, "/pipelines/Fraud/start", method="POST", fields={})
    assert checked["/models/FraudModels/1"][0] == 200 and 'id="approve"' in checked["/models/FraudModels/1"][2]
    assert checked["/no/such/page"][0] == 404 and checked["POST without token"][0] == 403
    assert "<svg" in checked["/models/FraudModels/1"][2]  # a matplotlib chart is among the pages checked
    for what, (status, headers, body) in checked.items():
        assert headers.get("x-frame-options") == "DENY", what
        policy = {
            d.split()[0]: d.split()[1:] for d in headers.get("content-security-policy", "").split(";") if d.strip()
        }
        assert policy.get("frame-ancestors") == ["'none'"], (what, policy)
        assert policy.get("default-src") == ["'self'"] and policy.get("script-src") == ["'self'"], (what, policy)
        assert policy.get("style-src") == ["'self'"] and policy.get("form-action") == ["'self'"], (what, policy)
        assert "'unsafe-inline'" not in headers["content-security-policy"], what
        assert headers.get("x-content-type-options") == "nosniff", what
    for path in pages:
        body = checked[path][2]
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", body) == [], path  # inline script
        assert re.findall(r"<[^>]*\son[a-z]+\s*=", body) == [], path  # event handler attributes
        assert "javascript:" not in body, path
        assert re.findall(r"<[^>]*\sstyle\s*=", body) == [] and "<style" not in body, path  # inline CSS
        for url in re.findall(r'<(?:script|link|img|iframe)[^>]*\s(?:src|href)="([^"]+)"', body):
            assert url.startswith("/static/"), (path, url)  # nothing from another origin


def _drift_report(sm, values: list[str]) -> None:
    """A Model Monitor run for endpoint `fraud` whose categorical feature has `values`, in the
    layout monitoring_view reads (baseline/ and monitoring-reports/<endpoint>/yyyy/mm/dd/hh/)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = "sagemaker-us-east-1-123456789012"  # the SDK's default bucket of moto's account
    s3.create_bucket(Bucket=bucket)

    def statistics(categories: list[str]) -> bytes:
        buckets = [{"value": v, "count": i + 1} for i, v in enumerate(categories)]
        feature = {"name": "policy_state", "string_statistics": {"distribution": {"categorical": {"buckets": buckets}}}}
        return json.dumps({"features": [feature]}).encode()

    s3.put_object(Bucket=bucket, Key="ml-gateway/baseline/statistics.json", Body=statistics(["CA", "WA"]))
    s3.put_object(
        Bucket=bucket, Key="ml-gateway/monitoring-reports/fraud/2026/12/07/15/statistics.json", Body=statistics(values)
    )


def test_a_category_value_with_dollar_signs_is_drawn_as_plain_text(aws):
    """Issue 24 class 6: the monitoring page drew category values with matplotlib's math text,
    so a value a gateway client sent, `$\\frac{$`, answered 500 (and `$x^2$` was typeset).
    Every label is plain text now."""
    server, sm, *_ = aws
    values = ["CA", "$\\frac{$", "$x^2$", "a$b$c", "\\$"]
    _drift_report(sm, values)
    status, headers, page = exchange(server.url, "/monitoring?endpoint=fraud")
    assert status == 200, page[-600:]
    assert page.count("<svg") == 1 and "policy_state" in page and "Traceback" not in page
    assert not re.findall(r"<[^>]*\sstyle\s*=", page) and "<style" not in page


def test_chart_labels_are_plain_text_whatever_matplotlib_is_configured_with(monkeypatch):
    """Tick labels, titles and legends: every Text has parse_math and usetex off when drawn,
    including under `text.usetex` (a user's matplotlibrc), and shows the value as given."""
    import matplotlib
    from matplotlib.text import Text

    from mlgw.studio import charts

    drawn = []
    real_svg = charts._svg
    monkeypatch.setattr(charts, "_svg", lambda fig: drawn.append(fig) or real_svg(fig))

    def categorical(values):
        buckets = [{"value": v, "count": 1} for v in values]
        return {"name": "$f$", "string_statistics": {"distribution": {"categorical": {"buckets": buckets}}}}

    values = ["$\\frac{$", "$x^2$", "100$", "\\$"]
    with matplotlib.rc_context({"text.usetex": True, "text.parse_math": True}):
        svg = charts.distribution("$\\frac{$ feature", categorical(values[:2]), categorical(values[2:]))
    assert svg.startswith("<svg") and "style=" not in svg and "<style" not in svg
    (fig,) = drawn
    texts = fig.findobj(Text)
    assert all(not t.get_parse_math() and not t.get_usetex() for t in texts)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == sorted(values)
    assert fig.axes[0].get_title() == "$\\frac{$ feature"


def test_charts_carry_no_inline_css(monkeypatch):
    """The CSP's `style-src 'self'` blocks style attributes and <style> elements, which
    matplotlib writes into every SVG; the studio's charts carry presentation attributes instead
    (CSP does not govern those), one well-formed SVG element each."""
    import datetime as dt
    import xml.etree.ElementTree as ET

    from mlgw.studio import charts

    kll = {
        "name": "amount",
        "numerical_statistics": {
            "distribution": {"kll": {"buckets": [{"lower_bound": i * 1.5, "count": i % 4 + 1} for i in range(12)]}}
        },
    }
    times = [dt.datetime(2026, 12, 7, h, tzinfo=dt.timezone.utc) for h in range(6)]
    for svg in (
        charts.distribution("amount", kll, kll),
        charts.series("violations", times, [0, 1, 3, 2, 0, 1], threshold=2.0),
        charts.confusion(90, 2, 3, 5),
    ):
        root = ET.fromstring(svg)  # well-formed: no attribute written twice
        assert root.get("stroke-linejoin") == "round" and root.get("stroke-linecap") == "butt"
        assert not [e for e in root.iter() if "style" in e.attrib or e.tag.endswith("}style")]
        assert any(e.get("fill") for e in root.iter())  # the colours are still there


def test_the_s3_browser_answers_400_for_an_invalid_bucket_name(aws):
    """Issue 24 class 6: a bucket name botocore refuses to send (`a b`, too long, an access
    point ARN that would send the request to another host) answered 502 as if S3 were down; it
    is the client's mistake: 400, naming the bucket. Names S3 itself refuses stay S3's answer.
    Bucket naming rules: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"""
    server, *_ = aws
    for bucket in ("a%20b", "x" * 300, "arn:aws:s3:us-east-1:123456789012:accesspoint:ap", "%E2%82%AC", "%00"):
        for suffix in ("/", "/key", "/prefix/"):
            status, _, page = exchange(server.url, f"/s3/{bucket}{suffix}")
            assert status == 400, (bucket, suffix, page[-400:])
            assert "invalid bucket name" in page and "Traceback" not in page
    assert exchange(server.url, "/s3/fraud-runs/evaluation.json")[0] == 200
