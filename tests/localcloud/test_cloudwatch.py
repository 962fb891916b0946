"""localcloud's CloudWatch through boto3: metrics, alarm evaluation and the alarm state-change
event, checked against what AWS documents.

Sources:
* "Configuring how CloudWatch alarms treat missing data" (CloudWatch User Guide,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html):
  the 3-of-3 table reproduced in TABLE below.
* "Alarm events and EventBridge" (CloudWatch User Guide,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html):
  the shape of the `CloudWatch Alarm State Change` event.
* API reference: PutMetricData (reserved `AWS/` namespace, no NaN, two weeks / two hours),
  PutMetricAlarm (a new alarm starts INSUFFICIENT_DATA; an update keeps the state;
  DatapointsToAlarm <= EvaluationPeriods), DeleteAlarms (a wrong name deletes nothing),
  SetAlarmState (ResourceNotFound), GetMetricStatistics (statistics per period).
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from botocore.exceptions import ClientError

from localcloud.cloudwatch import evaluation

NS = "aws/sagemaker/Endpoints/data-metrics"
DIMS = [{"Name": "Endpoint", "Value": "ep"}, {"Name": "MonitoringSchedule", "Value": "ep-drift-check"}]
PERIOD = 60


def _alarm(**overrides):
    alarm = {
        "AlarmName": "a",
        "Namespace": NS,
        "MetricName": "m",
        "Statistic": "Maximum",
        "Period": PERIOD,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 3,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    alarm.update(overrides)
    return alarm


def _points(spec: str) -> list[tuple[float, float | None]]:
    """The docs' notation, oldest first: 0 = within the threshold, X = breaching, - = missing."""
    values = {"0": 0.0, "X": 2.0, "-": None}
    return [(i * PERIOD, values[c]) for i, c in enumerate(spec.split())]


# The documented 3-of-3 table: datapoints → state per TreatMissingData. "keep" = "Retain
# current state".
TABLE = [
    ("0 - X - X", {"missing": "OK", "ignore": "OK", "breaching": "OK", "notBreaching": "OK"}),
    ("- - - - 0", {"missing": "OK", "ignore": "OK", "breaching": "OK", "notBreaching": "OK"}),
    ("- - - - -", {"missing": "INSUFFICIENT_DATA", "ignore": "keep", "breaching": "ALARM", "notBreaching": "OK"}),
    ("0 X X - X", {"missing": "ALARM", "ignore": "ALARM", "breaching": "ALARM", "notBreaching": "ALARM"}),
    ("- - X - -", {"missing": "ALARM", "ignore": "keep", "breaching": "ALARM", "notBreaching": "OK"}),
]


@pytest.mark.parametrize("spec,expected", TABLE, ids=[t[0] for t in TABLE])
@pytest.mark.parametrize("treat", evaluation.TREAT_MISSING)
def test_missing_data_table(spec, expected, treat):
    outcome = evaluation.evaluate(_alarm(TreatMissingData=treat), _points(spec), "OK", 400.0)
    state = "keep" if outcome is None else outcome.state
    assert state == expected[treat]


@pytest.mark.parametrize(
    "operator,value,breaches",
    [
        ("GreaterThanThreshold", 1.0, False),
        ("GreaterThanThreshold", 1.5, True),
        ("GreaterThanOrEqualToThreshold", 1.0, True),
        ("GreaterThanOrEqualToThreshold", 0.5, False),
        ("LessThanThreshold", 1.0, False),
        ("LessThanThreshold", 0.5, True),
        ("LessThanOrEqualToThreshold", 1.0, True),
        ("LessThanOrEqualToThreshold", 1.5, False),
    ],
)
def test_each_comparison_operator(operator, value, breaches):
    alarm = _alarm(ComparisonOperator=operator, EvaluationPeriods=1, DatapointsToAlarm=1)
    outcome = evaluation.evaluate(alarm, [(0.0, value)], "OK", 10.0)
    assert outcome.state == ("ALARM" if breaches else "OK")


def test_m_of_n_counts_breaching_datapoints():
    alarm = _alarm(EvaluationPeriods=3, DatapointsToAlarm=2)
    assert evaluation.evaluate(alarm, _points("0 X 0 X"), "OK", 0).state == "ALARM"
    assert evaluation.evaluate(alarm, _points("X 0 0 X"), "OK", 0).state == "OK"


@pytest.mark.parametrize(
    "stat,expected", [("Maximum", 9.0), ("Minimum", 1.0), ("Sum", 15.0), ("SampleCount", 3.0), ("Average", 5.0)]
)
def test_statistics_of_a_period(stat, expected):
    aggregate = {"SampleCount": 3.0, "Sum": 15.0, "Minimum": 1.0, "Maximum": 9.0}
    assert evaluation.statistic(aggregate, stat) == expected


# -- over the wire ---------------------------------------------------------------------------


def _put_alarm(cw, **overrides):
    request = dict(
        AlarmName="drift",
        Namespace=NS,
        MetricName="feature_baseline_drift_x",
        Dimensions=DIMS,
        Statistic="Maximum",
        Period=3600,
        EvaluationPeriods=1,
        Threshold=0.1,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmDescription="drift of x",
    )
    request.update(overrides)
    cw.put_metric_alarm(**request)


def _put(cw, value, name="feature_baseline_drift_x", when=None):
    cw.put_metric_data(
        Namespace=NS,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": DIMS,
                "Value": value,
                "Timestamp": when or dt.datetime.now(dt.timezone.utc),
            }
        ],
    )


def _state(cw, name="drift"):
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def test_alarm_state_change_event_has_aws_shape(localcloud, client):
    cw = client("cloudwatch")
    _put_alarm(cw)
    _put(cw, 0.02)
    assert _state(cw)["StateValue"] == "OK"
    _put(cw, 0.35)
    alarm = _state(cw)
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [0.35")
    assert json.loads(alarm["StateReasonData"])["recentDatapoints"] == [0.35]

    event = localcloud.cloud.events.list_events(1)[0]
    assert event["source"] == "aws.cloudwatch"
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["resources"] == ["arn:aws:cloudwatch:us-east-1:000000000000:alarm:drift"]
    assert event["account"] == "000000000000" and event["region"] == "us-east-1"
    detail = event["detail"]
    assert detail["alarmName"] == "drift"
    assert detail["state"]["value"] == "ALARM" and detail["previousState"]["value"] == "OK"
    for state in (detail["state"], detail["previousState"]):
        assert {"value", "reason", "timestamp"} <= set(state)
        assert dt.datetime.strptime(state["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert json.loads(detail["state"]["reasonData"])["threshold"] == 0.1
    metric = detail["configuration"]["metrics"][0]
    assert metric["metricStat"] == {
        "metric": {
            "namespace": NS,
            "name": "feature_baseline_drift_x",
            "dimensions": {"Endpoint": "ep", "MonitoringSchedule": "ep-drift-check"},
        },
        "period": 3600,
        "stat": "Maximum",
    }
    assert metric["returnData"] is True
    assert detail["configuration"]["description"] == "drift of x"

    history = cw.describe_alarm_history(AlarmName="drift", HistoryItemType="StateUpdate")
    assert [h["HistorySummary"] for h in history["AlarmHistoryItems"]] == [
        "Alarm updated from OK to ALARM",
        "Alarm updated from INSUFFICIENT_DATA to OK",
    ]


def test_metric_that_never_arrives_stays_insufficient_data(localcloud, client):
    cw = client("cloudwatch")
    _put_alarm(cw, TreatMissingData="missing")
    localcloud.cloud.cloudwatch.evaluate_alarms(now=time.time() + 3 * 3600)
    assert _state(cw)["StateValue"] == "INSUFFICIENT_DATA"
    assert localcloud.cloud.events.list_events(5) == []  # no change, no event


def test_update_keeps_state_and_set_alarm_state(localcloud, client):
    cw = client("cloudwatch")
    _put_alarm(cw)
    _put(cw, 0.5)
    changed = _state(cw)["StateUpdatedTimestamp"]
    _put_alarm(cw, Threshold=0.2)  # update: the state stays ALARM
    assert _state(cw)["StateValue"] == "ALARM" and _state(cw)["Threshold"] == 0.2
    history = cw.describe_alarm_history(AlarmName="drift", HistoryItemType="StateUpdate")
    assert len(history["AlarmHistoryItems"]) == 2  # INSUFFICIENT_DATA→OK, OK→ALARM only
    assert _state(cw)["StateUpdatedTimestamp"] >= changed
    cw.set_alarm_state(AlarmName="drift", StateValue="OK", StateReason="testing")
    assert _state(cw)["StateReason"] == "testing"
    with pytest.raises(ClientError) as err:
        cw.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x")
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"


def test_metrics_statistics_and_listing(client):
    cw = client("cloudwatch")
    now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    for value in (1.0, 2.0, 6.0):
        _put(cw, value, name="m", when=now)
    cw.put_metric_data(
        Namespace=NS,
        MetricData=[
            {"MetricName": "m", "Dimensions": DIMS, "Timestamp": now, "Values": [10.0, 20.0], "Counts": [1.0, 3.0]}
        ],
    )
    reply = cw.get_metric_statistics(
        Namespace=NS,
        MetricName="m",
        Dimensions=DIMS,
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=5),
        Period=60,
        Statistics=["Sum", "SampleCount", "Maximum", "Average"],
    )
    (point,) = reply["Datapoints"]
    assert point["SampleCount"] == 7 and point["Sum"] == 79.0 and point["Maximum"] == 20.0
    data = cw.get_metric_data(
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=5),
        MetricDataQueries=[
            {
                "Id": "q",
                "MetricStat": {
                    "Metric": {"Namespace": NS, "MetricName": "m", "Dimensions": DIMS},
                    "Period": 60,
                    "Stat": "Minimum",
                },
            }
        ],
    )
    assert data["MetricDataResults"][0]["Values"] == [1.0]
    listed = cw.list_metrics(Namespace=NS, Dimensions=[{"Name": "Endpoint", "Value": "ep"}])
    assert [m["MetricName"] for m in listed["Metrics"]] == ["m"]
    assert cw.list_metrics(Dimensions=[{"Name": "Endpoint", "Value": "other"}])["Metrics"] == []


@pytest.mark.parametrize(
    "request_,code",
    [
        ({"Namespace": "AWS/EC2", "MetricData": [{"MetricName": "m", "Value": 1.0}]}, "InvalidParameterValue"),
        (
            {
                "Namespace": NS,
                "MetricData": [
                    {"MetricName": "m", "Value": 1.0, "Timestamp": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)}
                ],
            },
            "InvalidParameterValue",
        ),
        (
            {"Namespace": NS, "MetricData": [{"MetricName": "m", "Value": 1.0, "Values": [1.0]}]},
            "InvalidParameterCombination",
        ),
    ],
)
def test_put_metric_data_refusals(client, request_, code):
    with pytest.raises(ClientError) as err:
        client("cloudwatch").put_metric_data(**request_)
    assert err.value.response["Error"]["Code"] == code


def test_put_metric_alarm_refusals_and_delete_is_all_or_nothing(client):
    cw = client("cloudwatch")
    with pytest.raises(ClientError, match="DatapointsToAlarm"):
        _put_alarm(cw, EvaluationPeriods=1, DatapointsToAlarm=2)
    with pytest.raises(ClientError, match="Period"):
        _put_alarm(cw, Period=45)
    _put_alarm(cw)
    with pytest.raises(ClientError) as err:
        cw.delete_alarms(AlarmNames=["drift", "missing-one"])
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    assert _state(cw)["AlarmName"] == "drift"  # nothing was deleted
    cw.delete_alarms(AlarmNames=["drift"])
    assert cw.describe_alarms()["MetricAlarms"] == []


def test_metrics_and_alarms_survive_a_restart(tmp_path):
    import boto3

    from tests.conftest import start_server

    home = tmp_path / "home"
    for round_ in range(2):
        server = start_server(home)
        cw = boto3.client(
            "cloudwatch",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        try:
            if round_ == 0:
                _put_alarm(cw)
                _put(cw, 0.5)
            else:
                assert _state(cw)["StateValue"] == "ALARM"
                assert cw.list_metrics(Namespace=NS)["Metrics"]
                assert len(cw.describe_alarm_history(AlarmName="drift")["AlarmHistoryItems"]) == 3
        finally:
            server.stop()


def test_large_put_metric_data_arrives_gzipped(client):
    """botocore gzips PutMetricData bodies over 10 KB (the requestcompression trait); AWS
    accepts them, so localcloud must too (a DriftCheck run publishes ~40 metrics)."""
    cw = client("cloudwatch")
    data = [
        {"MetricName": f"feature_non_null_feature_number_{i:03d}", "Dimensions": DIMS, "Value": 1.0} for i in range(300)
    ]
    cw.put_metric_data(Namespace=NS, MetricData=data)
    assert len(cw.list_metrics(Namespace=NS)["Metrics"]) == 300


# -- issue 25 class 4: units kept apart, SetAlarmState's errors as AWS answers them ---------------


def test_get_metric_statistics_keeps_one_datapoint_per_unit(client):
    """LocalStack's AWS-recorded snapshot test_handle_different_units
    (tests/aws/services/cloudwatch/test_cloudwatch.snapshot.json): the same metric put with
    Unit None, Count and Seconds in one period gives three datapoints, one per Unit, each its
    own Average; AWS does not merge units. Asking for one Unit returns that unit's only."""
    cw = client("cloudwatch")
    now = dt.datetime.now(dt.timezone.utc).replace(second=30, microsecond=0)
    data = [
        {"MetricName": "m-test", "Value": 10.0, "Timestamp": now},  # no Unit: AWS's "None"
        {"MetricName": "m-test", "Value": 5.0, "Unit": "Count", "Timestamp": now},
        {"MetricName": "m-test", "Value": 1.0, "Unit": "Seconds", "Timestamp": now},
    ]
    cw.put_metric_data(Namespace="units", MetricData=data)
    window = {"StartTime": now - dt.timedelta(minutes=5), "EndTime": now + dt.timedelta(minutes=5)}
    got = cw.get_metric_statistics(
        Namespace="units", MetricName="m-test", Period=60, Statistics=["Average", "SampleCount"], **window
    )
    by_unit = {p["Unit"]: (p["Average"], p["SampleCount"]) for p in got["Datapoints"]}
    assert by_unit == {"None": (10.0, 1.0), "Count": (5.0, 1.0), "Seconds": (1.0, 1.0)}
    only = cw.get_metric_statistics(
        Namespace="units", MetricName="m-test", Period=60, Statistics=["Average"], Unit="Count", **window
    )
    assert [(p["Unit"], p["Average"]) for p in only["Datapoints"]] == [("Count", 5.0)]
    none = cw.get_metric_statistics(
        Namespace="units", MetricName="m-test", Period=60, Statistics=["Average"], Unit="None", **window
    )
    assert [(p["Unit"], p["Average"]) for p in none["Datapoints"]] == [("None", 10.0)]


def test_set_alarm_state_errors_answer_as_aws(client):
    """SetAlarmState with a StateValue outside OK | ALARM | INSUFFICIENT_DATA: CloudWatch's code
    is `ValidationError` with the model's text (LocalStack's AWS-validated
    test_set_alarm_invalid_input; the AWS SDKs' CloudWatch integration features expect
    "ValidationError" and "failed to satisfy constraint"). A missing alarm: ResourceNotFound
    with HTTP 404, the status botocore's CloudWatch model gives the error
    (shapes.ResourceNotFound.error.httpStatusCode)."""
    cw = client("cloudwatch")
    _put_alarm(cw)
    with pytest.raises(ClientError) as err:
        cw.set_alarm_state(AlarmName="drift", StateValue="INVALID", StateReason="test")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert err.value.response["Error"]["Message"] == (
        "1 validation error detected: Value 'INVALID' at 'stateValue' failed to satisfy constraint: "
        "Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]"
    )
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as err:
        cw.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x")
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert _state(cw)["StateValue"] != "INVALID"
