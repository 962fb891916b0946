"""SageMaker's endpoint invocation metrics in CloudWatch, from localcloud's InvokeEndpoint.

AWS publishes them per minute in namespace AWS/SageMaker with dimensions EndpointName and
VariantName ("Endpoint invocation metrics" in "Amazon SageMaker AI metrics in Amazon
CloudWatch", https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html):
Invocations (requests sent), Invocation4XXErrors and Invocation5XXErrors (1 sent per 4xx / 5xx
response, 0 otherwise), ModelLatency (microseconds), and InvocationsPerInstance (1/numberOfInstances
per request: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ScalingPolicyMetric.html).
"""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import start_server
from tests.localcloud.test_hosting import _clients, _model, _model_tar, _put, _wait

RECORD = {"customer_age": 40, "num_injuries": 1, "total_claim_amount": 2.0, "num_witnesses": 0}


def _statistics(cw, metric: str, variant: str, start, end) -> dict:
    points = cw.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName=metric,
        StartTime=start,
        EndTime=end,
        Period=60,
        Dimensions=[{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": variant}],
        Statistics=["Sum", "SampleCount", "Minimum", "Maximum"],
    )["Datapoints"]
    assert len(points) <= 2  # the requests may straddle a minute
    return {k: sum(p[k] for p in points) for k in ("Sum", "SampleCount")} | {
        "Minimum": min((p["Minimum"] for p in points), default=None),
        "Maximum": max((p["Maximum"] for p in points), default=None),
        "Unit": {p["Unit"] for p in points},
    }


@pytest.mark.slow
def test_invocations_and_errors_per_variant_reach_cloudwatch_and_the_studio(tmp_path):
    """Requests counted in memory become 1-minute AWS/SageMaker datapoints; stopping the
    server publishes the minute in progress, so nothing counted is lost; the studio's endpoint
    page shows the counts."""
    home = tmp_path / "mlgw"
    server = start_server(home)
    try:
        _put(server.cloud, "s3://models/m1/model.tar.gz", _model_tar(1))
        sm, rt = _clients(server.url)
        _model(sm, "m1", "s3://models/m1/model.tar.gz")
        sm.create_endpoint_config(
            EndpointConfigName="c1",
            ProductionVariants=[
                {
                    "VariantName": variant,
                    "ModelName": "m1",
                    "InitialVariantWeight": 1.0,
                    "InitialInstanceCount": 2,
                    "InstanceType": "ml.m5.large",
                }
                for variant in ("A", "B")
            ],
        )
        sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
        _wait(sm, "ep")
        start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=2)
        for _ in range(3):
            rt.invoke_endpoint(
                EndpointName="ep",
                ContentType="application/json",
                TargetVariant="A",
                Body=json.dumps({"instances": [RECORD]}),
            )
        with pytest.raises(ClientError) as err:  # the model answers 400: a 4xx
            rt.invoke_endpoint(EndpointName="ep", ContentType="application/json", TargetVariant="A", Body="{not json")
        assert err.value.response["OriginalStatusCode"] == 400
        rt.invoke_endpoint(EndpointName="ep", Body="1,2,3,4", TargetVariant="B")
        # Nothing is written before the minute ends (the clock's call every second).
        sagemaker = server.cloud.sagemaker
        assert sagemaker.publish_invocation_metrics(now=sagemaker.stats_since) == 0
    finally:
        server.stop()  # publishes the minute in progress

    server = start_server(home)
    try:
        session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
        cw = session.client("cloudwatch", endpoint_url=server.url)
        end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
        a = {
            m: _statistics(cw, m, "A", start, end)
            for m in (
                "Invocations",
                "Invocation4XXErrors",
                "Invocation5XXErrors",
                "InvocationsPerInstance",
                "ModelLatency",
            )
        }
        assert a["Invocations"]["Sum"] == 4 and a["Invocations"]["SampleCount"] == 4
        assert a["Invocation4XXErrors"]["Sum"] == 1 and a["Invocation4XXErrors"]["SampleCount"] == 4
        assert a["Invocation4XXErrors"]["Minimum"] == 0 and a["Invocation4XXErrors"]["Maximum"] == 1
        assert a["Invocation5XXErrors"]["Sum"] == 0
        assert a["InvocationsPerInstance"]["Sum"] == pytest.approx(2.0)  # 4 requests, 2 instances
        assert a["InvocationsPerInstance"]["Maximum"] == pytest.approx(0.5)
        assert a["ModelLatency"]["SampleCount"] == 3 and a["ModelLatency"]["Minimum"] > 0
        assert a["ModelLatency"]["Minimum"] <= a["ModelLatency"]["Maximum"] < 60e6  # microseconds
        assert _statistics(cw, "Invocations", "B", start, end)["Sum"] == 1
        listed = cw.list_metrics(Namespace="AWS/SageMaker", MetricName="Invocations")["Metrics"]
        assert sorted(d["Value"] for m in listed for d in m["Dimensions"] if d["Name"] == "VariantName") == ["A", "B"]

        from mlgw.studio.backend import Backend
        from mlgw.studio.server import Background, Target
        from tests.test_studio import get

        studio = Background(Backend(Target("local", session, endpoint_url=server.url, home=home)))
        try:
            status, page = get(f"{studio.url}/endpoints/ep")
        finally:
            studio.stop()
        assert status == 200
        row = page[page.index('data-variant="A"') :]
        row = row[: row.index("</tr>")]
        assert row.endswith("<td>4</td><td>1</td><td>0</td>"), row
    finally:
        server.stop()


def test_instance_processes_publish_overhead_latency_and_utilization_per_variant():
    """OverheadLatency (microseconds) beside ModelLatency for requests routed to an instance
    process; CPUUtilization and MemoryUtilization (Percent) in /aws/sagemaker/Endpoints, one
    sample per instance, dimensions EndpointName and VariantName ("Monitor Amazon SageMaker
    with Amazon CloudWatch")."""
    from localcloud.sagemaker.invocation_metrics import VariantStats, instance_data, metric_data

    stats = VariantStats()
    stats.answered(900, overhead_us=100)
    stats.answered(1100, overhead_us=300)
    data = {d["MetricName"]: d for d in metric_data({("ep", "A"): stats}, 60.0, lambda e, v: 2)}
    assert data["OverheadLatency"]["Unit"] == "Microseconds"
    assert data["OverheadLatency"]["StatisticValues"] == {"SampleCount": 2, "Sum": 400, "Minimum": 100, "Maximum": 300}
    assert data["ModelLatency"]["StatisticValues"]["Sum"] == 2000
    assert data["InvocationsPerInstance"]["StatisticValues"]["Sum"] == 1.0

    in_process = VariantStats()
    in_process.answered(500)
    assert "OverheadLatency" not in {
        d["MetricName"] for d in metric_data({("ep", "A"): in_process}, 60.0, lambda e, v: 1)
    }

    usage = {d["MetricName"]: d for d in instance_data({("ep", "A"): [(50.0, 10.0), (150.0, 12.0)]}, 60.0)}
    assert usage["CPUUtilization"]["Unit"] == "Percent"
    assert usage["CPUUtilization"]["StatisticValues"] == {
        "SampleCount": 2,
        "Sum": 200.0,
        "Minimum": 50.0,
        "Maximum": 150.0,
    }
    assert usage["MemoryUtilization"]["StatisticValues"]["Maximum"] == 12.0
    assert usage["MemoryUtilization"]["Dimensions"] == [
        {"Name": "EndpointName", "Value": "ep"},
        {"Name": "VariantName", "Value": "A"},
    ]
