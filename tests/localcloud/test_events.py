"""EventBridge: the pattern language operator by operator, then rules, targets and PutEvents
over the wire with boto3 — matches and their outcomes logged, a SageMaker pipeline target
started with the target's parameters, and rules surviving a restart."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.events.patterns import PatternError, compile_pattern
from tests.conftest import start_server

EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "Model Approved",
    "source": "mlgw.registry",
    "account": "000000000000",
    "time": "2024-05-01T12:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:sagemaker:us-east-1:000000000000:model-package/fraud/3"],
    "detail": {
        "status": "Approved",
        "version": 3,
        "auc": 0.91,
        "flag": True,
        "note": None,
        "tags": ["prod", "fraud"],
        "ip": "10.0.1.7",
        "model": {"name": "FraudModel", "stage": "staging"},
        "runs": [{"step": "train", "ok": True}, {"step": "eval", "ok": False}],
    },
}

# (pattern, matches EVENT?) — each operator with a match and a non-match.
CASES: list[tuple[dict, bool]] = [
    ({"source": ["mlgw.registry"]}, True),
    ({"source": ["other", "mlgw.registry"]}, True),  # array = OR
    ({"source": ["other"]}, False),
    ({"detail": {"version": [3]}}, True),
    ({"detail": {"version": [3.0]}}, True),  # numbers compare as numbers
    ({"detail": {"version": ["3"]}}, False),  # ...not as strings
    ({"detail": {"flag": [True]}}, True),
    ({"detail": {"flag": [1]}}, False),  # true is not 1
    ({"detail": {"note": [None]}}, True),
    ({"detail": {"missing": [None]}}, False),  # null is not absent
    ({"detail": {"model": {"name": ["FraudModel"]}}}, True),  # nested
    ({"detail": {"model": {"name": ["Other"]}}}, False),
    ({"detail": {"tags": ["fraud"]}}, True),  # any array element
    ({"detail": {"tags": ["dev"]}}, False),
    ({"detail": {"runs": {"step": ["eval"]}}}, True),  # array of objects
    ({"detail": {"runs": {"step": ["deploy"]}}}, False),
    ({"detail": {"missing": ["x"]}}, False),  # absent key fails
    ({"source": [{"prefix": "mlgw."}]}, True),
    ({"source": [{"prefix": "aws."}]}, False),
    ({"source": [{"prefix": {"equals-ignore-case": "MLGW."}}]}, True),
    ({"source": [{"suffix": ".registry"}]}, True),
    ({"source": [{"suffix": ".s3"}]}, False),
    ({"source": [{"suffix": {"equals-ignore-case": ".REGISTRY"}}]}, True),
    ({"detail": {"status": [{"anything-but": "Rejected"}]}}, True),
    ({"detail": {"status": [{"anything-but": "Approved"}]}}, False),
    ({"detail": {"status": [{"anything-but": ["Rejected", "Pending"]}]}}, True),
    ({"detail": {"status": [{"anything-but": ["Approved", "Pending"]}]}}, False),
    ({"detail": {"version": [{"anything-but": [1, 2]}]}}, True),
    ({"detail": {"version": [{"anything-but": 3}]}}, False),
    ({"detail": {"status": [{"anything-but": {"prefix": "Rej"}}]}}, True),
    ({"detail": {"status": [{"anything-but": {"prefix": "App"}}]}}, False),
    ({"detail": {"status": [{"anything-but": {"suffix": "ved"}}]}}, False),
    ({"detail": {"missing": [{"anything-but": "x"}]}}, False),  # still needs the key
    ({"detail": {"version": [{"numeric": [">", 0, "<=", 5]}]}}, True),
    ({"detail": {"version": [{"numeric": [">", 3]}]}}, False),
    ({"detail": {"version": [{"numeric": ["=", 3]}]}}, True),
    ({"detail": {"auc": [{"numeric": [">=", 0.9, "<", 1]}]}}, True),
    ({"detail": {"auc": [{"numeric": ["<", 0.5]}]}}, False),
    ({"detail": {"status": [{"numeric": [">", 0]}]}}, False),  # strings are not numbers
    ({"detail": {"status": [{"exists": True}]}}, True),
    ({"detail": {"missing": [{"exists": True}]}}, False),
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"status": [{"exists": False}]}}, False),
    ({"detail": {"model": [{"exists": True}]}}, False),  # leaves only
    ({"detail": {"status": [{"equals-ignore-case": "APPROVED"}]}}, True),
    ({"detail": {"status": [{"equals-ignore-case": "rejected"}]}}, False),
    ({"detail": {"model": {"name": [{"wildcard": "Fraud*"}]}}}, True),
    ({"detail": {"model": {"name": [{"wildcard": "*Mod*l"}]}}}, True),
    ({"detail": {"model": {"name": [{"wildcard": "Churn*"}]}}}, False),
    ({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}, True),
    ({"detail": {"ip": [{"cidr": "192.168.0.0/16"}]}}, False),
    ({"$or": [{"source": ["other"]}, {"detail": {"status": ["Approved"]}}]}, True),
    ({"$or": [{"source": ["other"]}, {"detail": {"status": ["Rejected"]}}]}, False),
    ({"source": ["mlgw.registry"], "detail": {"$or": [{"version": [9]}, {"auc": [0.91]}]}}, True),
    ({"source": ["mlgw.registry"], "detail-type": ["Something Else"]}, False),  # all keys must match
    ({"resources": [{"prefix": "arn:aws:sagemaker:"}]}, True),
]


@pytest.mark.parametrize("pattern,expected", CASES, ids=[json.dumps(p)[:60] for p, _ in CASES])
def test_pattern_operator(pattern, expected):
    assert compile_pattern(json.dumps(pattern)).matches(EVENT) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        "not json",
        "[]",
        "{}",
        '{"source": "x"}',
        '{"source": []}',
        '{"detail": {}}',
        '{"source": [{"unknown-op": 1}]}',
        '{"source": [{"prefix": 1}]}',
        '{"n": [{"numeric": [">", "a"]}]}',
        '{"n": [{"numeric": ["~", 1]}]}',
        '{"n": [{"numeric": ["<", 5, ">", 1]}]}',
        '{"n": [{"exists": "yes"}]}',
        '{"s": [{"wildcard": "a**b"}]}',
        '{"$or": [{"a": ["b"]}]}',
        '{"s": [{"cidr": "nope"}]}',
        '{"s": [{"anything-but": {"nope": "x"}}]}',
        '{"s": [{"prefix": "a", "suffix": "b"}]}',
    ],
)
def test_malformed_patterns_are_refused(pattern):
    with pytest.raises(PatternError):
        compile_pattern(pattern)


def test_malformed_pattern_through_boto3(client):
    events = client("events")
    with pytest.raises(ClientError) as raised:
        events.put_rule(Name="bad", EventPattern='{"source": [{"prefix": 7}]}')
    assert raised.value.response["Error"]["Code"] == "InvalidEventPatternException"
    with pytest.raises(ClientError) as raised:
        events.put_rule(Name="neither")
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_rule_lifecycle(client):
    events = client("events")
    arn = events.put_rule(Name="approved", EventPattern='{"source": ["mlgw.registry"]}', Description="approvals")[
        "RuleArn"
    ]
    assert arn == "arn:aws:events:us-east-1:000000000000:rule/approved"
    events.put_rule(Name="nightly", ScheduleExpression="rate(1 day)", State="DISABLED")
    described = events.describe_rule(Name="approved")
    assert described["State"] == "ENABLED" and described["EventBusName"] == "default"
    assert [r["Name"] for r in events.list_rules()["Rules"]] == ["approved", "nightly"]
    assert [r["Name"] for r in events.list_rules(NamePrefix="ni")["Rules"]] == ["nightly"]
    events.disable_rule(Name="approved")
    assert events.describe_rule(Name="approved")["State"] == "DISABLED"
    events.enable_rule(Name="approved")

    events.put_targets(Rule="approved", Targets=[{"Id": "t1", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}])
    assert [t["Id"] for t in events.list_targets_by_rule(Rule="approved")["Targets"]] == ["t1"]
    with pytest.raises(ClientError) as raised:
        events.delete_rule(Name="approved")
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    events.remove_targets(Rule="approved", Ids=["t1"])
    events.delete_rule(Name="approved")
    with pytest.raises(ClientError) as raised:
        events.describe_rule(Name="approved")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as raised:
        events.put_targets(Rule="approved", Targets=[{"Id": "t1", "Arn": "arn:aws:sqs:x"}])
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_put_events_records_matches_and_failures(client, localcloud):
    events = client("events")
    events.put_rule(
        Name="approved", EventPattern=json.dumps({"source": ["mlgw.registry"], "detail": {"status": ["Approved"]}})
    )
    events.put_rule(Name="off", EventPattern='{"source": ["mlgw.registry"]}', State="DISABLED")
    events.put_targets(
        Rule="approved",
        Targets=[
            {"Id": "queue", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"},
            {
                "Id": "retrain",
                "Arn": "arn:aws:sagemaker:us-east-1:000000000000:pipeline/nope",
                "RoleArn": "arn:aws:iam::000000000000:role/events",
            },
        ],
    )
    events.put_targets(Rule="off", Targets=[{"Id": "x", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}])

    result = events.put_events(
        Entries=[
            {"Source": "mlgw.registry", "DetailType": "Model", "Detail": '{"status": "Approved"}'},
            {"Source": "mlgw.registry", "DetailType": "Model", "Detail": '{"status": "Rejected"}'},
            {"Source": "mlgw.registry", "DetailType": "Model", "Detail": "{not json"},
        ]
    )
    assert result["FailedEntryCount"] == 1
    matched, unmatched, bad = result["Entries"]
    assert bad["ErrorCode"] == "MalformedDetail" and "EventId" not in bad
    assert matched["EventId"] and unmatched["EventId"]

    logged = {e["id"]: e for e in localcloud.cloud.events.list_events(10)}
    assert set(logged) == {matched["EventId"], unmatched["EventId"]}
    assert logged[unmatched["EventId"]]["matches"] == []
    outcomes = {m["target_id"]: m["outcome"] for m in logged[matched["EventId"]]["matches"]}
    assert outcomes == {"queue": "unsupported target", "retrain": "failed: pipeline nope does not exist"}
    assert {m["rule"] for m in localcloud.cloud.events.list_matches(10)} == {"approved"}
    event = logged[matched["EventId"]]
    assert event["detail"] == {"status": "Approved"} and event["account"] == "000000000000"


FAIL_PIPELINE = {
    "Version": "2020-12-01",
    "Parameters": [{"Name": "Reason", "Type": "String", "DefaultValue": "x"}],
    "Steps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Parameters.Reason"}}}],
}


def test_pipeline_target_starts_execution_with_parameters(client, localcloud):
    sm, events = client("sagemaker"), client("events")
    sm.create_pipeline(
        PipelineName="Retrain",
        PipelineDefinition=json.dumps(FAIL_PIPELINE),
        RoleArn="arn:aws:iam::000000000000:role/PipelineRole",
    )
    events.put_rule(Name="on-drift", EventPattern='{"detail-type": ["Drift Detected"]}')
    events.put_targets(
        Rule="on-drift",
        Targets=[
            {
                "Id": "retrain",
                "Arn": "arn:aws:sagemaker:us-east-1:000000000000:pipeline/Retrain",
                "RoleArn": "arn:aws:iam::000000000000:role/events",
                "SageMakerPipelineParameters": {"PipelineParameterList": [{"Name": "Reason", "Value": "drift"}]},
            }
        ],
    )
    result = events.put_events(
        Entries=[{"Source": "mlgw.monitor", "DetailType": "Drift Detected", "Detail": '{"feature": "amount"}'}]
    )
    assert result["FailedEntryCount"] == 0

    summaries = sm.list_pipeline_executions(PipelineName="Retrain")["PipelineExecutionSummaries"]
    assert len(summaries) == 1
    arn = summaries[0]["PipelineExecutionArn"]
    params = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    assert {"Name": "Reason", "Value": "drift"} in params
    [match] = localcloud.cloud.events.list_matches(10)
    assert match["outcome"] == f"started {arn}"

    deadline = time.time() + 5  # the Fail step ends the execution with the event's reason
    while sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Executing":
        assert time.time() < deadline
        time.sleep(0.05)
    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert described["PipelineExecutionStatus"] == "Failed"


def test_two_rules_with_the_same_target_id_start_one_execution_each(client):
    """A target Id is unique only within its rule (PutTargets: "The ID of the target within the
    specified rule"): two rules matched by one event, each with a target "retrain" on the same
    pipeline, are two invocations and start two executions (they once shared one)."""
    sm, events = client("sagemaker"), client("events")
    sm.create_pipeline(
        PipelineName="Retrain",
        PipelineDefinition=json.dumps(FAIL_PIPELINE),
        RoleArn="arn:aws:iam::000000000000:role/PipelineRole",
    )
    for rule in ("first", "second"):
        events.put_rule(Name=rule, EventPattern='{"detail-type": ["Drift Detected"]}')
        events.put_targets(
            Rule=rule,
            Targets=[
                {
                    "Id": "retrain",
                    "Arn": "arn:aws:sagemaker:us-east-1:000000000000:pipeline/Retrain",
                    "RoleArn": "arn:aws:iam::000000000000:role/events",
                }
            ],
        )
    events.put_events(Entries=[{"Source": "mlgw.monitor", "DetailType": "Drift Detected", "Detail": "{}"}])
    assert len(sm.list_pipeline_executions(PipelineName="Retrain")["PipelineExecutionSummaries"]) == 2


def test_rules_and_log_survive_restart(tmp_path):
    home = tmp_path / "mlgw"
    kwargs = dict(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    server = start_server(home)
    try:
        events = boto3.client("events", endpoint_url=server.url, **kwargs)
        events.put_rule(Name="kept", EventPattern='{"source": ["a"]}', State="DISABLED")
        events.put_targets(Rule="kept", Targets=[{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}])
        events.put_events(Entries=[{"Source": "a", "DetailType": "d", "Detail": "{}"}])
    finally:
        server.stop()

    server = start_server(home)
    try:
        events = boto3.client("events", endpoint_url=server.url, **kwargs)
        assert events.describe_rule(Name="kept")["State"] == "DISABLED"
        assert events.list_targets_by_rule(Rule="kept")["Targets"][0]["Id"] == "t"
        assert [e["source"] for e in server.cloud.events.list_events(10)] == ["a"]
    finally:
        server.stop()


# -- issue 25 class 5: InputTransformer validated as PutTargets validates it ---------------------

SQS = "arn:aws:sqs:us-east-1:000000000000:q"


@pytest.mark.parametrize(
    "target,message",
    [
        # AWS's texts as LocalStack's EventBridge target validation reproduces them
        # (localstack/services/events/target.py); the API reference's Target says Input,
        # InputPath and InputTransformer are mutually exclusive.
        (
            {"InputPath": "$.detail", "InputTransformer": {"InputTemplate": '"x"'}},
            "Only one of Input, InputPath, or InputTransformer must be provided for target t1.",
        ),
        (
            {"Input": "{}", "InputTransformer": {"InputTemplate": '"x"'}},
            "Only one of Input, InputPath, or InputTransformer must be provided for target t1.",
        ),
        (
            {"Input": "{}", "InputPath": "$.detail"},
            "Only one of Input, InputPath, or InputTransformer must be provided for target t1.",
        ),
        # a placeholder InputPathsMap does not define and that is no predefined variable
        (
            {"InputTransformer": {"InputPathsMap": {"a": "$.detail.a"}, "InputTemplate": '"<a> and <b>"'}},
            "InputTemplate for target t1 contains invalid placeholder b.",
        ),
        (
            {"InputTransformer": {"InputTemplate": '"<instance> is up"'}},
            "InputTemplate for target t1 contains invalid placeholder instance.",
        ),
        # the event-as-JSON variables only as values of a JSON-object template ("Predefined
        # variables": "can only be used as a value for a JSON field")
        (
            {"InputTransformer": {"InputTemplate": '"<aws.events.event.json>"'}},
            "InputTemplate for target t1 contains placeholder aws.events.event.json valid only for JSON template.",
        ),
        # in a JSON-object template a placeholder cannot be an object key (API reference,
        # InputTransformer.InputTemplate)
        (
            {"InputTransformer": {"InputPathsMap": {"k": "$.detail.k"}, "InputTemplate": '{"<k>": 1}'}},
            "InputTemplate for target t1 uses placeholder k as an object key.",
        ),
        # a path EventBridge cannot evaluate
        (
            {"InputTransformer": {"InputPathsMap": {"a": "detail.a"}, "InputTemplate": '"<a>"'}},
            "InputPathsMap for target t1 has an invalid JSON path for a: detail.a.",
        ),
    ],
)
def test_put_targets_refuses_input_transformers_as_aws(client, target, message):
    events = client("events")
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["x"]}))
    with pytest.raises(ClientError) as err:
        events.put_targets(Rule="r", Targets=[{"Id": "t1", "Arn": SQS, **target}])
    assert err.value.response["Error"] == {"Code": "ValidationException", "Message": message}
    assert events.list_targets_by_rule(Rule="r")["Targets"] == []


def test_put_targets_accepts_valid_input_transformers(client):
    """The API reference's and the user guide's own examples are accepted and stored as sent."""
    events = client("events")
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["x"]}))
    transformers = [
        {
            "InputPathsMap": {"instance": "$.detail.instance", "status": "$.detail.status"},
            "InputTemplate": '"<instance> is in state <status>"',
        },
        {
            "InputPathsMap": {"instance": "$.detail.instance", "status": "$.detail.status"},
            "InputTemplate": '{"myInstance": <instance>,"myStatus": "<instance> is in state \\"<status>\\""}',
        },
        {"InputTemplate": '{"rule": "<aws.events.rule-name>", "event": <aws.events.event.json>}'},
        {"InputPathsMap": {"first": "$.detail.items[0]", "all": "$.resources[*]"}, "InputTemplate": '"<first>"'},
    ]
    targets = [{"Id": f"t{i}", "Arn": SQS, "InputTransformer": t} for i, t in enumerate(transformers)]
    assert events.put_targets(Rule="r", Targets=targets)["FailedEntryCount"] == 0
    stored = events.list_targets_by_rule(Rule="r")["Targets"]
    assert [t["InputTransformer"] for t in stored] == transformers
