"""The studio's Monitoring page against localcloud after a drift check: it opens on the endpoint
that is monitored (not the newest endpoint), and its drift-metric panel shows the
`feature_baseline_drift_<feature>` data points DriftCheck published in CloudWatch under that
endpoint's `MonitoringSchedule` dimension (Model Monitor's metrics:
https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html)."""

from __future__ import annotations

import datetime as dt
import html
import re
import urllib.request

import boto3

from benchmarks.monitor import capture_lines, feature_frame
from mlgw import monitor_schedule
from mlgw.studio.backend import Backend
from mlgw.studio.server import Background
from mlgw.target import Target
from monitoring import drift_check
from monitoring.baseline import write_baseline
from processing import drift_schedule

ENDPOINT = "ml-gateway-fraud"
OTHER = "zz-unmonitored"  # created last: ListEndpoints puts it first (newest first)
BUCKET = "sagemaker-us-east-1-000000000000"
ROLE = "arn:aws:iam::000000000000:role/ml-gateway-sagemaker-execution"
BASELINE = f"s3://{BUCKET}/ml-gateway/executions/x/baseline"
WATCHED = "mlgatewayfraud/2"  # the Baseline dimension Deploy pointed the alarm at (processing/drift_metrics.py)


def _page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as reply:
        assert reply.status == 200
        return html.unescape(reply.read().decode())


def test_monitoring_page_opens_on_the_monitored_endpoint_with_its_published_drift(localcloud, client, tmp_path):
    s3, sm, cloudwatch, events = client("s3"), client("sagemaker"), client("cloudwatch"), client("events")
    s3.create_bucket(Bucket=BUCKET)
    write_baseline(feature_frame(4_000, seed=1), str(tmp_path / "baseline"))
    for name in ("statistics.json", "constraints.json"):
        s3.upload_file(str(tmp_path / "baseline" / name), BUCKET, f"ml-gateway/executions/x/baseline/{name}")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    normal, drifted = feature_frame(800, seed=2), feature_frame(800, seed=3)
    drifted["total_claim_amount"] = drifted["total_claim_amount"] * 1.5
    for minutes, frame, seed in ((40, normal, 2), (10, drifted, 3)):
        when = now - dt.timedelta(minutes=minutes)
        s3.put_object(
            Bucket=BUCKET,
            Key=f"ml-gateway/data-capture/{ENDPOINT}/v1/{when:%Y/%m/%d/%H}/{when:%M-%S}-{seed:03d}.jsonl",
            Body=("\n".join(capture_lines(frame, when, seed=seed)) + "\n").encode(),
        )
    # What Deploy leaves behind for a monitored endpoint: its drift-check schedule and the alarm.
    drift_schedule.ensure_schedule(
        events,
        endpoint_name=ENDPOINT,
        pipeline_arn=f"arn:aws:sagemaker:us-east-1:000000000000:pipeline/{monitor_schedule.DRIFT_CHECK_PIPELINE.lower()}",
        role_arn=ROLE,
    )
    monitor_schedule.ensure_alarms(cloudwatch, ENDPOINT, baseline=WATCHED)
    # Drift measured against the previous model's baseline: its own series, not in the table.
    cloudwatch.put_metric_data(
        Namespace="aws/sagemaker/Endpoints/data-metrics",
        MetricData=[
            {
                "MetricName": "feature_baseline_drift_total_claim_amount",
                "Dimensions": [
                    {"Name": "Endpoint", "Value": ENDPOINT},
                    {"Name": "MonitoringSchedule", "Value": f"{ENDPOINT}-drift-check"},
                    {"Name": "Baseline", "Value": "mlgatewayfraud/1"},
                ],
                "Timestamp": now - dt.timedelta(minutes=30),
                "Value": 9.5,
            }
        ],
    )
    # The DriftCheck job's check, as the scheduled pipeline runs it for this endpoint: twice
    # (normal traffic, then drifted), so the metric has a history to draw.
    for start, end in (
        (now - dt.timedelta(minutes=50), now - dt.timedelta(minutes=20)),
        (now - dt.timedelta(minutes=20), now),
    ):
        result = drift_check.check(
            s3,
            cloudwatch,
            endpoint_name=ENDPOINT,
            schedule_name=drift_schedule.schedule_name(ENDPOINT),
            capture_uri=f"s3://{BUCKET}/ml-gateway/data-capture",
            reports_dir=tmp_path / "reports",
            start=start,
            end=end,
            statistics_uri=f"{BASELINE}/statistics.json",
            constraints_uri=f"{BASELINE}/constraints.json",
            baseline=WATCHED,
        )
        assert result is not None and result.report.records == 800
    # A newer endpoint nobody monitors: it is listed first, and is not where the page opens.
    s3.put_object(Bucket=BUCKET, Key="nothing/model.tar.gz", Body=b"not a model")
    sm.create_model(
        ModelName=OTHER,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "ModelDataUrl": f"s3://{BUCKET}/nothing/model.tar.gz",
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName=OTHER,
        ProductionVariants=[
            {"VariantName": "v1", "ModelName": OTHER, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    sm.create_endpoint(EndpointName=OTHER, EndpointConfigName=OTHER)
    assert sm.list_endpoints(SortBy="CreationTime", SortOrder="Descending")["Endpoints"][0]["EndpointName"] == OTHER

    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    target = Target("local", session, endpoint_url=localcloud.url, home=localcloud.cloud.config.home)
    server = Background(Backend(target))
    try:
        page = _page(f"{server.url}/monitoring")
        assert re.search(rf'<option value="{ENDPOINT}"\s+selected>{ENDPOINT} \(monitored\)', page), page[:3000]
        assert "no feature_baseline_drift_* data points" not in page
        table = page[page.index('<table id="drift-metrics">') :]
        table = table[: table.index("</table>")]
        # The alarmed feature first, with its latest published value and the alarm's threshold.
        first = re.search(r"<tr><td>([^<]+)</td><td>([0-9.]+)</td><td>[^<]+</td><td>([^<]+)</td><td>2</td></tr>", table)
        assert first and first.group(1) == "total_claim_amount", table
        published = cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "d",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "aws/sagemaker/Endpoints/data-metrics",
                            "MetricName": "feature_baseline_drift_total_claim_amount",
                            "Dimensions": [
                                {"Name": "Endpoint", "Value": ENDPOINT},
                                {"Name": "MonitoringSchedule", "Value": f"{ENDPOINT}-drift-check"},
                                {"Name": "Baseline", "Value": WATCHED},
                            ],
                        },
                        "Period": 300,
                        "Stat": "Maximum",
                    },
                }
            ],
            StartTime=now - dt.timedelta(hours=1),
            EndTime=now + dt.timedelta(minutes=1),
        )["MetricDataResults"][0]["Values"]
        assert len(published) == 2 and float(first.group(2)) == round(published[0], 4) > 0.1  # newest first
        assert float(first.group(3)) == monitor_schedule.DEFAULT_THRESHOLD
        assert table.count("<tr><td>") > 1  # every feature the check published, not only the alarmed one
        assert "9.5000" not in table  # the drift against the previous baseline is not today's
        assert f"Baseline={WATCHED}; earlier baselines with drift series: mlgatewayfraud/1" in page
        # The alarmed feature's history drawn with its threshold (CloudWatch's two data points).
        assert "feature_baseline_drift_total_claim_amount (CloudWatch Maximum, 7 days)" in page
        assert "threshold 0.1" in page
        # The unmonitored endpoint still opens on request, and says it has no monitoring.
        other = _page(f"{server.url}/monitoring?endpoint={OTHER}")
        assert f"{OTHER} has no drift-check schedule or drift alarm; monitored: {ENDPOINT}" in other
    finally:
        server.stop()
