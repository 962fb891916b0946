"""EventBridge scheduled rules: AWS's schedule-expression syntax and firing on time.

Source: EventBridge User Guide, "Schedule expressions for rules"
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html):
rate(value unit) with a singular unit exactly for 1, the first run one rate after creation;
cron with six fields (Minutes Hours Day-of-month Month Day-of-week Year), one of the day
fields `?`, Day-of-week 1-7 from SUN, UTC; the scheduled event is
{"detail-type": "Scheduled Event", "source": "aws.events", "resources": [rule ARN],
"detail": {}}.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from localcloud.events import schedules
from localcloud.events.models import SCHEDULE

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 29, 23, 30, 10, tzinfo=UTC)  # a Sunday


@pytest.mark.parametrize(
    "expression,expected",
    [
        ("rate(1 minute)", dt.datetime(2026, 11, 29, 23, 31, 10, tzinfo=UTC)),
        ("rate(5 minutes)", dt.datetime(2026, 11, 29, 23, 35, 10, tzinfo=UTC)),
        ("rate(1 hour)", dt.datetime(2026, 11, 30, 0, 30, 10, tzinfo=UTC)),
        ("rate(2 days)", dt.datetime(2026, 12, 1, 23, 30, 10, tzinfo=UTC)),
        ("cron(0 * * * ? *)", dt.datetime(2026, 11, 30, 0, 0, tzinfo=UTC)),  # hourly
        ("cron(15 10 * * ? *)", dt.datetime(2026, 11, 30, 10, 15, tzinfo=UTC)),  # daily
        ("cron(0 18 ? * MON-FRI *)", dt.datetime(2026, 11, 30, 18, 0, tzinfo=UTC)),
        ("cron(0 8 1 * ? *)", dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("cron(0/10 * ? * MON-FRI *)", dt.datetime(2026, 11, 30, 0, 0, tzinfo=UTC)),
        ("cron(0 12 ? * 1 *)", dt.datetime(2026, 12, 6, 12, 0, tzinfo=UTC)),  # 1 = SUN
        ("cron(0 12 ? * 2 *)", dt.datetime(2026, 11, 30, 12, 0, tzinfo=UTC)),  # 2 = MON
        ("cron(0 12 ? * 6#3 *)", dt.datetime(2026, 12, 18, 12, 0, tzinfo=UTC)),  # 3rd FRI
        ("cron(0 12 L * ? *)", dt.datetime(2026, 11, 30, 12, 0, tzinfo=UTC)),  # last day
        ("cron(0 0 1 1 ? 2028)", dt.datetime(2028, 1, 1, 0, 0, tzinfo=UTC)),  # Year field
    ],
)
def test_next_run(expression, expected):
    assert schedules.parse(expression).next_after(NOW) == expected


@pytest.mark.parametrize(
    "expression,reason",
    [
        ("rate(1 minutes)", "singular"),
        ("rate(5 minute)", "singular"),
        ("rate(0 minutes)", "positive"),
        ("rate(5 seconds)", "rate("),
        ("rate(-1 hours)", "rate("),
        ("cron(0 * * * *)", "six fields"),
        ("cron(0 * * * * *)", "'?'"),
        ("cron(0 * ? * ? *)", "'?'"),
        ("cron(0 12 ? * 8 *)", "1-7"),
        ("cron(0 1 1 1 ? 1969)", "1970"),
        ("cron(61 * * * ? *)", "not a valid"),
        ("every hour", "rate(...) or cron(...)"),
    ],
)
def test_expressions_aws_refuses(expression, reason):
    with pytest.raises(
        schedules.ScheduleError,
        match=reason.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.").replace("?", r"\?"),
    ):
        schedules.parse(expression)


def test_put_rule_refuses_a_bad_expression_naming_it(client):
    with pytest.raises(ClientError) as err:
        client("events").put_rule(Name="r", ScheduleExpression="rate(1 minutes)")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "ScheduleExpression is not valid" in err.value.response["Error"]["Message"]


FAIL_PIPELINE = {
    "Version": "2020-12-01",
    "Parameters": [{"Name": "EndpointName", "Type": "String"}],
    "Steps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}],
}


def _scheduled_pipeline(client, expression: str):
    sm, events = client("sagemaker"), client("events")
    arn = sm.create_pipeline(
        PipelineName="check",
        RoleArn="arn:aws:iam::000000000000:role/R",
        PipelineDefinition=json.dumps(FAIL_PIPELINE),
        ClientRequestToken=uuid.uuid4().hex,
    )["PipelineArn"]
    rule_arn = events.put_rule(Name="every-check", ScheduleExpression=expression)["RuleArn"]
    events.put_targets(
        Rule="every-check",
        Targets=[
            {
                "Id": "t",
                "Arn": arn,
                "RoleArn": "arn:aws:iam::000000000000:role/E",
                "SageMakerPipelineParameters": {"PipelineParameterList": [{"Name": "EndpointName", "Value": "ep"}]},
            }
        ],
    )
    return sm, rule_arn


def _executions(sm):
    return sm.list_pipeline_executions(PipelineName="check")["PipelineExecutionSummaries"]


def test_rate_rule_fires_once_per_rate_with_its_parameters(localcloud, client):
    localcloud.clock.stop()  # this test is the clock
    sm, rule_arn = _scheduled_pipeline(client, "rate(5 minutes)")
    cloud = localcloud.cloud
    start = time.time()
    cloud.events.tick(start)  # first sight: the schedule starts counting
    assert cloud.events.tick(start + 299) == 0
    assert cloud.events.tick(start + 300) == 1
    assert cloud.events.tick(start + 301) == 0  # not twice for one due time
    assert cloud.events.tick(start + 1000) == 1  # missed runs are not made up
    assert cloud.events.tick(start + 1100) == 0  # next on the creation + k x rate grid:
    assert cloud.events.tick(start + 1200) == 1  # 1200, not 1000 + 300
    event = [e for e in cloud.events.list_events(10) if e["source"] == "aws.events"][-1]
    assert event["detail-type"] == "Scheduled Event" and event["detail"] == {}
    assert event["resources"] == [rule_arn]
    assert event["matches"][0]["outcome"].startswith("started ")
    runs = _executions(sm)
    assert len(runs) == 3
    params = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=runs[0]["PipelineExecutionArn"])[
        "PipelineParameters"
    ]
    assert params == [{"Name": "EndpointName", "Value": "ep"}]


def test_disabled_rule_does_not_fire_and_clock_fires_on_its_own(localcloud, client):
    sm, _ = _scheduled_pipeline(client, "rate(1 minute)")
    events = client("events")
    events.disable_rule(Name="every-check")
    assert localcloud.cloud.events.tick(time.time() + 7200) == 0
    events.enable_rule(Name="every-check")
    # The server's clock (not this test) fires the rule once its due time has passed.
    cloud = localcloud.cloud
    deadline = time.time() + 10
    while time.time() < deadline and not cloud.state.list(SCHEDULE):
        time.sleep(0.2)
    (doc,) = cloud.state.list(SCHEDULE)
    doc["next"] = time.time() - 1
    cloud.state.put(SCHEDULE, doc["rule"], doc)
    deadline = time.time() + 10
    while time.time() < deadline and not _executions(sm):
        time.sleep(0.2)
    assert len(_executions(sm)) == 1


def test_a_rule_that_never_runs_again_stops_nothing_else(localcloud, client):
    """AWS accepts a cron whose years are all past (issue 25: `cron(0/5 5 ? JAN 1-5 2022)`);
    it never fires, and it must not stop the clock for the other rules and the alarms (it once
    failed every tick: "never runs again", and an alarm stayed in ALARM for 80 s)."""
    localcloud.clock.stop()  # this test is the clock
    sm, _ = _scheduled_pipeline(client, "rate(5 minutes)")
    client("events").put_rule(Name="past", ScheduleExpression="cron(0/5 5 ? JAN 1-5 2022)")
    cloud = localcloud.cloud
    start = time.time()
    cloud.events.tick(start)
    assert cloud.events.tick(start + 300) == 1  # the live rule fires beside the dead one
    assert len(_executions(sm)) == 1
    (past,) = [d for d in cloud.state.list(SCHEDULE) if d["rule"].endswith("/past")]
    assert past["next"] is None


def test_one_broken_alarm_does_not_stop_the_evaluation_of_the_others(localcloud, client):
    """One bad alarm never stops the evaluation of the others (issue 25 class 1)."""
    from localcloud.cloudwatch.store import ALARM

    cw = client("cloudwatch")
    for name in ("a-broken", "b-fine"):
        cw.put_metric_alarm(
            AlarmName=name,
            Namespace="T",
            MetricName="m",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="breaching",
        )
    cloud = localcloud.cloud
    broken = cloud.state.get(ALARM, "a-broken")
    broken["Period"] = "not a number"  # a document the evaluation cannot read
    cloud.state.put(ALARM, "a-broken", broken)
    cloud.cloudwatch.tick(time.time() + 120)
    states = {a["AlarmName"]: a["StateValue"] for a in cw.describe_alarms()["MetricAlarms"]}
    assert states["b-fine"] == "ALARM"


# -- issue 25 class 5: the L and # forms of Day-of-week; AWS's exact refusal ---------------------


@pytest.mark.parametrize(
    "expression,expected",
    [
        # EventBridge User Guide, schedule expressions: "cron(0 10 ? * 6L 2019-2022)" runs "every
        # last Friday of each month"; `L` in Day-of-week "specifies the last day of the week"
        # (7 = SAT); `#` the n-th weekday ("3#2" the second Tuesday). NOW is Sun 2026-11-29.
        ("cron(0 12 ? * 6L *)", dt.datetime(2026, 12, 25, 12, 0, tzinfo=UTC)),  # last FRI of Dec
        ("cron(0 12 ? * FRIL *)", dt.datetime(2026, 12, 25, 12, 0, tzinfo=UTC)),
        ("cron(0 12 ? * 1L *)", dt.datetime(2026, 12, 27, 12, 0, tzinfo=UTC)),  # last SUN of Dec
        ("cron(0 12 ? * L *)", dt.datetime(2026, 12, 5, 12, 0, tzinfo=UTC)),  # next SAT
        ("cron(0 12 ? * 3#2 *)", dt.datetime(2026, 12, 8, 12, 0, tzinfo=UTC)),  # 2nd TUE of Dec
        ("cron(0 12 ? * 2#5 *)", dt.datetime(2026, 11, 30, 12, 0, tzinfo=UTC)),  # 5th MON of Nov
        ("cron(0 12 ? * MON#1 *)", dt.datetime(2026, 12, 7, 12, 0, tzinfo=UTC)),
        ("cron(0 10 ? * 6L 2027)", dt.datetime(2027, 1, 29, 10, 0, tzinfo=UTC)),  # with a Year
    ],
)
def test_last_and_nth_weekday_forms(expression, expected):
    assert schedules.parse(expression).next_after(NOW) == expected


@pytest.mark.parametrize("expression", ["cron(0 12 ? * 2#6 *)", "cron(0 12 ? * 8L *)", "cron(0 12 ? * 2#0 *)"])
def test_weekday_forms_aws_refuses(expression):
    with pytest.raises(schedules.ScheduleError):
        schedules.parse(expression)


def test_put_rule_answers_exactly_aws_refusal_and_accepts_l_and_hash(client, caplog):
    """AWS's refusal is exactly "Parameter ScheduleExpression is not valid." (LocalStack's
    AWS-validated test_put_rule_with_invalid_schedule_rate asserts the whole Error); our reason
    goes to the log only."""
    events = client("events")
    with caplog.at_level("INFO", logger="localcloud.events.schedules"):
        with pytest.raises(ClientError) as err:
            events.put_rule(Name="r", ScheduleExpression="rate(1 minutes)")
    assert err.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Parameter ScheduleExpression is not valid.",
    }
    assert any("singular" in r.getMessage() for r in caplog.records)
    for i, expression in enumerate(["cron(0 10 ? * 6L 2030)", "cron(0 12 ? * 6#3 *)", "cron(0 12 ? * L *)"]):
        events.put_rule(Name=f"ok{i}", ScheduleExpression=expression)
        assert events.describe_rule(Name=f"ok{i}")["ScheduleExpression"] == expression
