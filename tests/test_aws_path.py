"""The AWS path of `mlgw pipeline … --target aws`, without AWS: moto (in-process, no sockets)
stands in for SageMaker/S3/IAM/STS, botocore's Stubber covers what moto does not implement
(ListPipelineExecutionSteps, RetryPipelineExecution, Feature Store PutRecord), and the
buildspec is checked against the CLI's own parser."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import ANY, Stubber
from moto import mock_aws

from mlgw import aws_run
from mlgw.cli import build_parser, main
from mlgw.target import Target

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "000000000000"  # localcloud's account; moto is told to use it too
REGION = "us-east-1"
ROLE_NAME = "ml-gateway-sagemaker-execution"  # infra/ml-gateway.yaml SageMakerExecutionRole
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"
PIPELINE = "MLGatewayPipeline"
EXECUTION = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{PIPELINE}/execution/abc123"


@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials for moto; nothing left over that would point boto3 at localcloud."""
    for name in ("AWS_ENDPOINT_URL", "AWS_REGION", "MLGW_HOME", "MLGW_PORT", "MLGW_REGION", "MLGW_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)


@pytest.fixture
def moto_aws(aws_env, monkeypatch):
    # moto 5.2.5 does not implement iam:SimulatePrincipalPolicy, which the SDK calls to check the
    # role while building; skip that check here (the localcloud build below runs it).
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    with mock_aws():
        seed_moto(monkeypatch)
        yield


def seed_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """The role and bucket the pipeline names exist, as they would in the account."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    boto3.client("iam").create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    create_stack(monkeypatch)


_TARGET_CLIENT = Target.client
STACK_ENDPOINT = "fraud-from-stack"
STACK_EVENTS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/events-from-stack"


def local_stack_outputs() -> dict[str, str]:
    """The stack's Outputs upsert reads, as the template resolves them in the local account."""
    from localcloud.iam.template import Resolver, load, local_physical_ids

    template = load()
    resolver = Resolver(template, ACCOUNT, REGION, physical_ids=local_physical_ids(ACCOUNT, REGION))
    return {key: str(resolver.resolve(template["Outputs"][key]["Value"])) for key in aws_run.STACK_OUTPUTS}


def create_stack(monkeypatch: pytest.MonkeyPatch, region: str = REGION, outputs: dict[str, str] | None = None) -> None:
    """The deployed stack whose Outputs upsert reads (infra/ml-gateway.yaml's RetrainRoleArn and
    EndpointName). moto's CloudFormation needs openapi-spec-validator, which the venv lacks, so
    DescribeStacks is answered by botocore's Stubber (botocore validates the request and the
    response against the cloudformation model); every other service stays moto's."""
    from botocore.stub import Stubber

    from mlgw.target import Target

    real = _TARGET_CLIENT  # not an earlier stack's stubbed one
    stack_id = f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{aws_run.DEFAULT_STACK}/1"
    values = outputs or local_stack_outputs()  # the template deployed with its defaults

    def client(self, service, config=None):
        made = real(self, service, config)
        if service == "cloudformation":
            stubber = Stubber(made)
            for _ in range(3):
                stubber.add_response(
                    "describe_stacks",
                    {
                        "Stacks": [
                            {
                                "StackId": stack_id,
                                "StackName": aws_run.DEFAULT_STACK,
                                "CreationTime": dt.datetime(2026, 1, 1),
                                "StackStatus": "CREATE_COMPLETE",
                                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in values.items()],
                            }
                        ]
                    },
                    {"StackName": aws_run.DEFAULT_STACK},
                )
            stubber.activate()
        return made

    monkeypatch.setattr(Target, "client", client)


def aws(*argv: str) -> list[str]:
    return ["pipeline", *argv, "--target", "aws"]


def upsert_args() -> list[str]:
    return aws("upsert", "--role-arn", ROLE, "--default-bucket", BUCKET, "--tag", "team=fraud")


# -- moto: upsert, start, executions -------------------------------------------------------


def test_upsert_start_and_list_on_moto(moto_aws, capsys):
    assert main(upsert_args()) == 0
    pipeline_arn = capsys.readouterr().out.strip()
    assert pipeline_arn == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{PIPELINE}"

    sm = boto3.client("sagemaker")
    assert sm.list_tags(ResourceArn=pipeline_arn)["Tags"] == [{"Key": "team", "Value": "fraud"}]
    stored = json.loads(sm.describe_pipeline(PipelineName=PIPELINE)["PipelineDefinition"])

    # Names and enum values are checked against the stored definition before anything starts.
    assert main(aws("start", "--param", "AucTreshold=0.9")) == 2
    assert "unknown pipeline parameter(s) AucTreshold" in capsys.readouterr().err
    assert main(aws("start", "--param", "DeployStrategy=yolo")) == 2
    assert "DeployStrategy='yolo' is not one of replace, canary, ab" in capsys.readouterr().err
    assert sm.list_pipeline_executions(PipelineName=PIPELINE)["PipelineExecutionSummaries"] == []

    assert main(aws("start", "--param", "DeployStrategy=canary", "--print-arn")) == 0
    arn = capsys.readouterr().out.strip()
    assert re.fullmatch(rf"{re.escape(pipeline_arn)}/execution/\w+", arn), "--print-arn: only the ARN"
    params = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    assert params["PipelineParameters"] == [{"Name": "DeployStrategy", "Value": "canary"}]
    # start did not touch the definition
    assert json.loads(sm.describe_pipeline(PipelineName=PIPELINE)["PipelineDefinition"]) == stored

    assert main(aws("start")) == 0
    second = capsys.readouterr().out.strip()
    assert main(aws("executions")) == 0
    listed = capsys.readouterr().out
    assert arn in listed and second in listed

    # The run configuration stored in the workflow bucket (`mlgw config --target aws`) is what
    # start runs; --param overrides it for that execution.
    assert main(["config", "set", "--target", "aws", "--default-bucket", BUCKET, "NumRound=80", "Eta=0.1"]) == 0
    capsys.readouterr()
    assert main(aws("start", "--param", "Eta=0.3")) == 0
    third = capsys.readouterr().out.strip()
    params = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=third)["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in params} == {"NumRound": "80", "Eta": "0.3"}


def test_start_before_upsert_says_what_to_do(moto_aws, capsys):
    assert main(aws("start")) == 2
    assert "does not exist on AWS; run `mlgw pipeline upsert --target aws` first" in capsys.readouterr().err


# -- settings --------------------------------------------------------------------------------


def test_missing_role_and_region_are_named(aws_env, monkeypatch, capsys):
    assert main(aws("upsert")) == 2
    assert "--role-arn is required for upsert on AWS" in capsys.readouterr().err
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert main(aws("executions")) == 2
    assert "--region is required" in capsys.readouterr().err


def test_config_file_then_flags(aws_env, tmp_path):
    config = tmp_path / "aws.json"
    config.write_text(
        json.dumps(
            {"role_arn": ROLE, "region": "eu-west-1", "tags": {"a": "1"}, "parameters": {"MaxDepth": 6, "Eta": 0.3}}
        )
    )
    args = build_parser().parse_args(
        aws("start", "--config", str(config), "--region", "us-west-2", "--param", "Eta=0.1", "--tag", "b=2")
    )
    settings = aws_run.resolve(args)
    assert settings.region == "us-west-2" and settings.role_arn == ROLE
    assert settings.parameters == {"MaxDepth": "6", "Eta": "0.1"}
    assert settings.tags == {"a": "1", "b": "2"}
    assert settings.model_package_group_name == "MLGatewayFraud"


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        ("{not json", "is not valid JSON"),
        ('{"role": "x"}', "unknown key(s) role"),
        ('{"tags": ["a"]}', "tags must be an object"),
    ],
)
def test_bad_config_file_is_named(aws_env, tmp_path, capsys, content, message):
    path = tmp_path / "aws.json"
    if content is not None:
        path.write_text(content)
    assert main(aws("executions", "--config", str(path))) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err


def test_endpoint_override_is_warned_about(aws_env, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4777")
    aws_run.warn_endpoint_overrides()
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:4777 redirects AWS calls" in capsys.readouterr().err


# -- the definition sent to AWS is the one the local executor runs -----------------------

# ModelTrainer names the training code channel after the time the step was built
# (".../mlgw-train-20261125123638/..."): two builds seconds apart differ there and nowhere else.
TIMESTAMPED = re.compile(r"(mlgw-train)-\d{14}")


def normalised(definition: str) -> dict:
    return json.loads(TIMESTAMPED.sub(r"\1-<timestamp>", definition))


def test_aws_and_local_definitions_are_the_same_json(aws_env, localcloud, monkeypatch, capsys):
    from pipelines.ml_gateway import run_pipeline

    # Capture the CreatePipeline request itself, as botocore is about to send it.
    sent = []
    real_session = aws_run.session

    def session(settings):
        boto_session = real_session(settings)
        boto_session.events.register(
            "provide-client-params.sagemaker.CreatePipeline",
            lambda params, **_: sent.append(params["PipelineDefinition"]),
        )
        return boto_session

    monkeypatch.setattr(aws_run, "session", session)
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")  # see moto_aws
    with mock_aws():
        seed_moto(monkeypatch)  # the deployed stack's outputs are the local stack's (one template)
        assert main(upsert_args()) == 0
        stored = boto3.client("sagemaker").describe_pipeline(PipelineName=PIPELINE)["PipelineDefinition"]
    # What SageMaker keeps is what the SDK built (moto stores the request's definition verbatim).
    assert normalised(stored) == normalised(sent[0])
    assert TIMESTAMPED.search(sent[0]), "the normalisation below must have something to do"

    # The same build against localcloud (moto no longer active), as `mlgw run` does it —
    # the SDK's role check included, which localcloud implements.
    monkeypatch.delenv("SAGEMAKER_VALIDATE_ROLE")
    monkeypatch.setenv("AWS_ENDPOINT_URL", localcloud.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    local = run_pipeline.build(REGION, ROLE, BUCKET, PIPELINE).definition()
    assert normalised(local) == normalised(sent[0])
    # ...and it really went to localcloud: the code the SDK staged is in its bucket.
    s3 = boto3.client("s3", endpoint_url=localcloud.url, region_name=REGION)
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) > 0


# -- Stubber: what moto does not implement ------------------------------------------------


def stubbed_sagemaker(monkeypatch):
    client = boto3.client("sagemaker", region_name=REGION)
    monkeypatch.setattr(aws_run, "sagemaker_client", lambda settings: client)
    return client, Stubber(client)


NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)


def step(name: str, status: str, **extra) -> dict:
    return {
        "StepName": name,
        "StepStatus": status,
        "StartTime": NOW,
        "EndTime": NOW + dt.timedelta(seconds=42),
        **extra,
    }


def execution(status: str, reason: str | None = None) -> dict:
    return {
        "PipelineExecutionArn": EXECUTION,
        "PipelineExecutionStatus": status,
        **({"FailureReason": reason} if reason else {}),
    }


def steps(*items: dict) -> dict:
    return {"PipelineExecutionSteps": list(items)}


def test_describe_latest_shows_steps_and_failure_reasons(aws_env, monkeypatch, capsys):
    client, stub = stubbed_sagemaker(monkeypatch)
    stub.add_response(
        "list_pipeline_executions",
        {
            "PipelineExecutionSummaries": [
                {"PipelineExecutionArn": EXECUTION, "StartTime": NOW, "PipelineExecutionStatus": "Failed"},
                {
                    "PipelineExecutionArn": EXECUTION + "old",
                    "StartTime": NOW - dt.timedelta(days=1),
                    "PipelineExecutionStatus": "Succeeded",
                },
            ]
        },
        {"PipelineName": PIPELINE, "SortBy": "CreationTime", "SortOrder": "Descending"},
    )
    stub.add_response(
        "describe_pipeline_execution", execution("Failed", "Step Train failed"), {"PipelineExecutionArn": EXECUTION}
    )
    stub.add_response(
        "list_pipeline_execution_steps",
        steps(step("Ingest", "Succeeded"), step("Train", "Failed", FailureReason="AlgorithmError: bad data")),
        {"PipelineExecutionArn": EXECUTION, "SortOrder": "Ascending"},
    )
    with stub:
        assert main(aws("describe")) == 0
    stub.assert_no_pending_responses()
    out = capsys.readouterr().out
    assert out.startswith(f"{EXECUTION}\nstatus Failed: Step Train failed\n")
    assert re.search(r"Train\s+Failed\s+42.0 s  AlgorithmError: bad data", out)


def test_retry_waits_and_exits_1_when_the_execution_fails_again(aws_env, monkeypatch, capsys):
    """The retry says which steps it reused and which it ran: RetryPipelineExecution keeps
    the steps that succeeded (https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-retry.html)."""
    client, stub = stubbed_sagemaker(monkeypatch)
    ingest = step("Ingest", "Succeeded")
    stub.add_response("list_pipeline_execution_steps", steps(ingest, step("Train", "Failed", FailureReason="OOM")))
    stub.add_response(
        "retry_pipeline_execution",
        {"PipelineExecutionArn": EXECUTION},
        {"PipelineExecutionArn": EXECUTION, "ClientRequestToken": ANY},
    )
    stub.add_response("describe_pipeline_execution", execution("Failed", "Step Train failed"))
    stub.add_response(
        "list_pipeline_execution_steps",
        steps(
            ingest,
            step(
                "Train",
                "Failed",
                FailureReason="OOM",
                StartTime=NOW + dt.timedelta(minutes=5),
                EndTime=NOW + dt.timedelta(minutes=6),
            ),
        ),
    )
    with stub:
        assert main(aws("retry", EXECUTION, "--wait")) == 1
    captured = capsys.readouterr()
    assert EXECUTION in captured.out and "Train" in captured.out and "OOM" in captured.out
    assert "reused from the previous attempt: Ingest\nran in this retry: Train (Failed)" in captured.out
    assert "Failed: Step Train failed" in captured.err


def test_start_wait_print_arn_keeps_stdout_to_the_arn(moto_aws, monkeypatch, capsys):
    client, stub = stubbed_sagemaker(monkeypatch)
    definition = {"Version": "2020-12-01", "Parameters": [{"Name": "EndpointName", "Type": "String"}], "Steps": []}
    stub.add_response("describe_pipeline", {"PipelineDefinition": json.dumps(definition)}, {"PipelineName": PIPELINE})
    stub.add_response(
        "start_pipeline_execution",
        {"PipelineExecutionArn": EXECUTION},
        {
            "PipelineName": PIPELINE,
            "ClientRequestToken": ANY,
            "PipelineParameters": [{"Name": "EndpointName", "Value": "fraud-2"}],
        },
    )
    stub.add_response("describe_pipeline_execution", execution("Succeeded"))
    stub.add_response("list_pipeline_execution_steps", steps(step("Deploy", "Succeeded")))
    with stub:
        assert main(aws("start", "--param", "EndpointName=fraud-2", "--wait", "--print-arn")) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{EXECUTION}\n"
    assert "Deploy" in captured.err and "Succeeded" in captured.err


def test_feature_store_put_records_sends_one_record_per_row_without_nan(monkeypatch):
    import pandas as pd

    from processing import feature_ingest

    client = boto3.client("sagemaker-featurestore-runtime", region_name=REGION)
    monkeypatch.setattr(boto3, "client", lambda *args, **kwargs: client)
    frame = pd.DataFrame({"policy_id": ["p1", "p2"], "amount": [10.5, float("nan")], "event_time": [1.0, 2.0]})
    with Stubber(client) as stub:
        stub.add_response(
            "put_record",
            {},
            {
                "FeatureGroupName": "claims",
                "Record": [
                    {"FeatureName": "policy_id", "ValueAsString": "p1"},
                    {"FeatureName": "amount", "ValueAsString": "10.5"},
                    {"FeatureName": "event_time", "ValueAsString": "1.0"},
                ],
            },
        )
        stub.add_response(
            "put_record",
            {},
            {
                "FeatureGroupName": "claims",
                "Record": [
                    {"FeatureName": "policy_id", "ValueAsString": "p2"},
                    {"FeatureName": "event_time", "ValueAsString": "2.0"},
                ],
            },
        )
        # one worker: the stubbed responses are consumed in row order
        assert feature_ingest._put_records(frame, "claims", max_workers=1) == 2
        stub.assert_no_pending_responses()


# -- buildspec.yml ---------------------------------------------------------------------------

BUILDSPEC = yaml.safe_load((ROOT / "buildspec.yml").read_text())
VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


def buildspec_commands() -> list[str]:
    return [c for phase in BUILDSPEC["phases"].values() for c in phase.get("commands", [])]


def mlgw_commands(values: dict[str, str]) -> list[list[str]]:
    """Every `mlgw …` in the buildspec (bare or inside $(…)), variables substituted, as argv."""
    found = []
    for command in buildspec_commands():
        for match in re.finditer(r"(?:^|\$\()\s*mlgw\s+([^)]*)", command):
            text = VARIABLE.sub(lambda m: values.get(m[1] or m[3], m[2] or f"<{m[1] or m[3]}>"), match[1])
            found.append(shlex.split(text))
    return found


def test_buildspec_shape():
    assert str(BUILDSPEC["version"]) == "0.2"
    assert {"install", "pre_build", "build"} <= set(BUILDSPEC["phases"])
    assert BUILDSPEC["env"]["exported-variables"] == ["PIPELINE_EXECUTION_ARN"]
    build = BUILDSPEC["phases"]["build"]["commands"]
    assert any(c.startswith("PIPELINE_EXECUTION_ARN=$(mlgw pipeline start") for c in build)
    assert "export PIPELINE_EXECUTION_ARN" in build
    header = (ROOT / "buildspec.yml").read_text().split("version:")[0]
    for name in (
        "SAGEMAKER_PIPELINE_ROLE_ARN",
        "ARTIFACT_BUCKET",
        "CLAIMS_INPUT_URI",
        "CUSTOMERS_INPUT_URI",
        "DEPLOY_STRATEGY",
    ):
        assert name in header, f"{name} is not documented in buildspec.yml's header"


def test_every_mlgw_command_in_the_buildspec_parses():
    commands = mlgw_commands({})
    assert [argv[:2] for argv in commands] == [["pipeline", "upsert"], ["pipeline", "start"]]
    for argv in commands:
        args = build_parser().parse_args(argv)
        assert args.target == "aws"
    assert build_parser().parse_args(commands[1]).print_arn
    # upsert pins the pipeline to the processing image the build step before it pushed
    assert build_parser().parse_args(commands[0]).processing_image_uri == "<PROCESSING_IMAGE_URI>"


def test_buildspec_runs_against_moto(moto_aws, capsys):
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/ml-gateway-processing:0123456789abcdef"
    values = {
        "PIPELINE_NAME": PIPELINE,
        "STACK_NAME": aws_run.DEFAULT_STACK,
        "SAGEMAKER_PIPELINE_ROLE_ARN": ROLE,
        "AWS_REGION": REGION,
        "ARTIFACT_BUCKET": BUCKET,
        "MODEL_PACKAGE_GROUP_NAME": "ml-gateway-fraud",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": "0123abc",
        "CLAIMS_INPUT_URI": "s3://in/claims/",
        "CUSTOMERS_INPUT_URI": "s3://in/customers/",
        "PROCESSING_IMAGE_URI": image,
    }
    upsert, start = mlgw_commands(values)
    assert main(upsert) == 0
    capsys.readouterr()
    stored = json.loads(boto3.client("sagemaker").describe_pipeline(PipelineName=PIPELINE)["PipelineDefinition"])
    images = {
        s["Name"]: s["Arguments"]["AppSpecification"]["ImageUri"] for s in stored["Steps"] if s["Type"] == "Processing"
    }
    assert images and set(images.values()) == {image}, images
    assert main(start) == 0
    arn = capsys.readouterr().out
    assert re.fullmatch(r"arn:aws:sagemaker:\S+/execution/\w+\n", arn)  # $(…) captures just this


def test_buildspec_runs_the_fast_tests_as_make_test_fast_does():
    pytest_commands = [c for c in buildspec_commands() if "pytest" in c]
    assert len(pytest_commands) == 1
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test-fast:.*\n\t(.+)$", makefile, re.M)[1]
    ours = shlex.split(pytest_commands[0].split("pytest", 1)[1])
    theirs = shlex.split(recipe.split("pytest", 1)[1])
    assert [a for a in ours if a != "-q"] == theirs  # same selection; -q only trims output


def test_upsert_of_an_existing_pipeline_compiles_its_definition_once(moto_aws, monkeypatch):
    """Pipeline.upsert compiles the definition in create() and again in update() when the
    pipeline exists; run_pipeline.upsert compiles it once and the service stores that JSON."""
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.pipeline import Pipeline

    from pipelines.ml_gateway.pipeline import get_session
    from pipelines.ml_gateway.run_pipeline import upsert

    pipeline = Pipeline(
        name="Tiny", steps=[FailStep(name="Stop", error_message="x")], sagemaker_session=get_session(REGION, BUCKET)
    )
    compiled = []
    real = Pipeline.definition

    def counting(self):
        compiled.append(self.name)
        return real(self)

    monkeypatch.setattr(Pipeline, "definition", counting)
    upsert(pipeline, ROLE)  # create
    compiled.clear()
    arn = upsert(pipeline, ROLE)  # already exists: update
    assert compiled == ["Tiny"]
    assert arn.endswith(":pipeline/Tiny")
    stored = boto3.client("sagemaker").describe_pipeline(PipelineName="Tiny")["PipelineDefinition"]
    assert json.loads(stored)["Steps"][0]["Name"] == "Stop"
    assert pipeline.definition() and compiled == ["Tiny", "Tiny"]  # the method is back


@pytest.mark.parametrize("how", ["--region", "AWS_REGION"])
def test_upsert_builds_the_definition_for_the_region_given(aws_env, monkeypatch, capsys, how):
    """`--region eu-west-1` (or the infra guide's `export AWS_REGION=eu-west-1`) with no
    AWS_DEFAULT_REGION: the region botocore and the SDK's import-time client read is exported
    (mlgw.target.export_region) and the definition is eu-west-1's: the pipeline's ARN, the
    XGBoost image of that region, and the processors' AWS_DEFAULT_REGION (SageMaker sets none in
    a processing container)."""
    region, bucket = "eu-west-1", f"sagemaker-eu-west-1-{ACCOUNT}"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    flags = ["--region", region] if how == "--region" else []
    if how == "AWS_REGION":
        monkeypatch.setenv("AWS_REGION", region)
    with mock_aws():
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}
        boto3.client("iam", region_name=region).create_role(
            RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust)
        )
        boto3.client("s3", region_name=region).create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
        )
        create_stack(monkeypatch, region)
        assert main(aws("upsert", "--role-arn", ROLE, "--default-bucket", bucket, *flags)) == 0
        assert capsys.readouterr().out.strip() == f"arn:aws:sagemaker:{region}:{ACCOUNT}:pipeline/{PIPELINE}"
        assert os.environ["AWS_DEFAULT_REGION"] == region
        stored = boto3.client("sagemaker", region_name=region).describe_pipeline(PipelineName=PIPELINE)
    definition = json.loads(stored["PipelineDefinition"])
    steps = {s["Name"]: s for s in _all_steps(definition["Steps"])}
    train = steps["Train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"]
    assert f".dkr.ecr.{region}.amazonaws.com/sagemaker-xgboost:" in train
    processing = [s for s in steps.values() if s["Type"] == "Processing"]
    assert processing and all(s["Arguments"]["Environment"]["AWS_DEFAULT_REGION"] == region for s in processing)
    assert region in json.dumps(definition) and "us-east-1" not in json.dumps(definition)


def _all_steps(steps):
    for step in steps:
        yield step
        for branch in ("IfSteps", "ElseSteps"):
            yield from _all_steps(step.get("Arguments", {}).get(branch, []))


def test_upsert_takes_the_events_role_and_endpoint_from_the_stack_outputs(moto_aws, monkeypatch, capsys):
    """Deploy's DriftCheck schedule role and the EndpointName default are the deployed stack's
    RetrainRoleArn and EndpointName outputs, not names derived from a prefix."""
    create_stack(monkeypatch, outputs={"RetrainRoleArn": STACK_EVENTS_ROLE, "EndpointName": STACK_ENDPOINT})
    assert main(upsert_args()) == 0
    capsys.readouterr()
    stored = boto3.client("sagemaker").describe_pipeline(PipelineName=PIPELINE)["PipelineDefinition"]
    definition = json.loads(stored)
    defaults = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    assert defaults["EndpointName"] == STACK_ENDPOINT
    deploy = {s["Name"]: s for s in _all_steps(definition["Steps"])}["Deploy"]
    arguments = deploy["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--drift-check-role-arn") + 1] == STACK_EVENTS_ROLE
    assert "retrain-events" not in stored


def test_upsert_without_the_stack_names_it(aws_env, monkeypatch, capsys):
    """No stack of that name: CloudFormation's own ValidationError, with what to do."""
    from botocore.stub import Stubber

    from mlgw.target import Target

    real = Target.client

    def client(self, service, config=None):
        made = real(self, service, config)
        if service == "cloudformation":
            stubber = Stubber(made)
            stubber.add_client_error(
                "describe_stacks", "ValidationError", "Stack with id other-stack does not exist", 400
            )
            stubber.activate()
        return made

    monkeypatch.setattr(Target, "client", client)
    assert main([*upsert_args(), "--stack-name", "other-stack"]) == 2
    err = capsys.readouterr().err
    assert "stack other-stack:" in err and "deploy infra/ml-gateway.yaml first" in err
