"""The DriftCheck pipeline's one step: a data-quality monitoring run, as Model Monitor's.

    python3 drift_check.py --endpoint-name E --monitoring-schedule-name S \
        --capture-uri s3://B/ml-gateway/data-capture --output-dir /opt/ml/processing/reports \
        --end <execution start, ISO-8601> --window-minutes 60

1. The baseline is the deployed model's: endpoint → its main variant (the highest weight) →
   model → model package → DriftCheckBaselines.ModelDataQuality (statistics.json and
   constraints.json, written by the training pipeline's Baseline step).
2. The endpoint's data capture for [end - window, end) is read from S3 (only the hour
   folders the window touches); deploy's warm-up requests, marked by their InferenceId
   (processing/warm_up.py), are left out. Completeness is checked per raw field of the data
   contract, the other checks per model feature (monitoring/monitor.py).
3. statistics.json, constraint_violations.json and report.html are written under
   `<output-dir>/yyyy/mm/dd/hh/`; the step's output uploads them to
   `<reports>/<endpoint>/<schedule>/`, Model Monitor's S3 layout.
4. CloudWatch metrics with Model Monitor's names and dimensions, plus `Baseline` naming the
   package of step 1 (processing/drift_metrics.py), go to `aws/sagemaker/Endpoints/data-metrics`
   (monitoring/publish.py) through PutMetricData.

A window without captured records publishes no metric and says so (the drift alarm treats
missing data as not breaching); a missing or unreadable baseline fails the step with a
reason naming its URI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from monitoring import publish
from monitoring.monitor import MonitoringError, MonitoringResult, NoDataError, run_monitoring, window_text
from processing import drift_metrics as metrics
from processing.job import JobError, finish, run


def _split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise JobError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _describe(call, what: str, **kwargs) -> dict[str, Any]:
    try:
        return call(**kwargs)
    except ClientError as exc:
        raise JobError(f"cannot describe {what}: {exc.response['Error'].get('Message', exc)}") from None


def baseline_uris(sm, endpoint_name: str) -> tuple[str, str, str]:
    """(model package ARN, statistics URI, constraints URI) of the model serving most of
    the endpoint's traffic."""
    endpoint = _describe(sm.describe_endpoint, f"endpoint {endpoint_name}", EndpointName=endpoint_name)
    config = _describe(
        sm.describe_endpoint_config,
        f"endpoint config {endpoint['EndpointConfigName']}",
        EndpointConfigName=endpoint["EndpointConfigName"],
    )
    weights = {v["VariantName"]: v.get("CurrentWeight", 0.0) for v in endpoint.get("ProductionVariants", [])}
    main = max(
        config["ProductionVariants"], key=lambda v: weights.get(v["VariantName"], v.get("InitialVariantWeight", 0.0))
    )
    model = _describe(sm.describe_model, f"model {main['ModelName']}", ModelName=main["ModelName"])
    containers = [model.get("PrimaryContainer")] + (model.get("Containers") or [])
    package_arn = next((c["ModelPackageName"] for c in containers if c and c.get("ModelPackageName")), None)
    if package_arn is None:
        raise JobError(
            f"model {main['ModelName']} of endpoint {endpoint_name} was not "
            f"created from a model package: no drift-check baseline to use"
        )
    package = _describe(sm.describe_model_package, f"model package {package_arn}", ModelPackageName=package_arn)
    quality = (package.get("DriftCheckBaselines") or {}).get("ModelDataQuality") or {}
    stats, constraints = (quality.get("Statistics") or {}), (quality.get("Constraints") or {})
    if not stats.get("S3Uri") or not constraints.get("S3Uri"):
        raise JobError(
            f"model package {package_arn} has no DriftCheckBaselines.ModelDataQuality statistics and constraints"
        )
    return package_arn, stats["S3Uri"], constraints["S3Uri"]


def download_baseline(s3, statistics_uri: str, constraints_uri: str, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for uri, name in ((statistics_uri, "statistics.json"), (constraints_uri, "constraints.json")):
        bucket, key = _split(uri)
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            raise JobError(f"cannot read the baseline {uri}: {exc.response['Error'].get('Code', exc)}") from None
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise JobError(f"cannot read the baseline {uri}: not valid JSON ({exc})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("features"), list):
            raise JobError(f"cannot read the baseline {uri}: no 'features' list, so not Model Monitor's {name}")
        (into / name).write_bytes(body)


def _hours(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    hour = start.replace(minute=0, second=0, microsecond=0)
    out = []
    while hour < end:
        out.append(hour)
        hour += dt.timedelta(hours=1)
    return out


def download_capture(s3, capture_uri: str, endpoint_name: str, start: dt.datetime, end: dt.datetime, into: Path) -> int:
    """Copy `<capture>/<endpoint>/<variant>/yyyy/mm/dd/hh/` folders the window touches to
    `into/<variant>/...`; the number of files."""
    bucket, prefix = _split(capture_uri.rstrip("/") + "/")
    root = f"{prefix}{endpoint_name}/"
    paginator = s3.get_paginator("list_objects_v2")
    variants = [
        p["Prefix"]
        for page in paginator.paginate(Bucket=bucket, Prefix=root, Delimiter="/")
        for p in page.get("CommonPrefixes", [])
    ]
    files = 0
    for variant in variants:
        for hour in _hours(start, end):
            hour_prefix = f"{variant}{hour:%Y/%m/%d/%H}/"
            for page in paginator.paginate(Bucket=bucket, Prefix=hour_prefix):
                for obj in page.get("Contents", []):
                    target = into / obj["Key"][len(root) :]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(bucket, obj["Key"], str(target))
                    files += 1
    return files


def put_metrics(cloudwatch, data: list[dict[str, Any]]) -> None:
    for i in range(0, len(data), 1000):  # PutMetricData takes at most 1000 items
        cloudwatch.put_metric_data(Namespace=publish.METRIC_NAMESPACE, MetricData=data[i : i + 1000])


def _timestamp(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise JobError(f"--end is not an ISO-8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def check(
    s3,
    cloudwatch,
    *,
    endpoint_name: str,
    schedule_name: str,
    capture_uri: str,
    reports_dir: str | Path,
    start: dt.datetime,
    end: dt.datetime,
    statistics_uri: str,
    constraints_uri: str,
    baseline: str,
) -> MonitoringResult | None:
    """One check of [start, end) against the given baseline: outputs under
    `<reports_dir>/yyyy/mm/dd/hh/` (of `end`) and the metrics published with the Baseline
    dimension `baseline` (processing/drift_metrics.baseline_id of the package the statistics and
    constraints are from). None (and nothing published) when the window holds no captured
    record."""
    with tempfile.TemporaryDirectory() as tmp:
        baseline_dir, capture_dir = Path(tmp, "baseline"), Path(tmp, "capture")
        download_baseline(s3, statistics_uri, constraints_uri, baseline_dir)
        files = download_capture(s3, capture_uri, endpoint_name, start, end, capture_dir)
        out = Path(reports_dir, f"{end:%Y}", f"{end:%m}", f"{end:%d}", f"{end:%H}")
        try:
            result = run_monitoring(capture_dir, baseline_dir, out, start, end)
        except NoDataError as exc:
            skipped = exc.report.skipped_lines if exc.report else 0
            warm = exc.report.warm_up if exc.report else 0
            print(
                f"no captured data for {endpoint_name} in {window_text(start, end)} under "
                f"{capture_uri.rstrip('/')}/{endpoint_name}/ ({files} capture files"
                f"{f', {skipped} unreadable lines' if skipped else ''}"
                f"{f', {warm} warm-up requests left out' if warm else ''}): no metrics "
                f"published",
                flush=True,
            )
            return None
        except MonitoringError as exc:
            raise JobError(str(exc)) from None
    data = publish.cloudwatch_metric_data(result, endpoint_name, schedule_name, baseline, when=end)
    put_metrics(cloudwatch, data)
    warm = f" ({result.report.warm_up} warm-up requests left out)" if result.report.warm_up else ""
    print(
        f"{result.report.records} records{warm} in {window_text(start, end)}: "
        f"{violations_text(result.violations)}; "
        f"{len(data)} metrics published to {publish.METRIC_NAMESPACE} ({metrics.BASELINE_DIMENSION}={baseline})",
        flush=True,
    )
    return result


def violations_text(violations: list[dict]) -> str:
    """ "N violations (check: features; ...)": which features broke which of Model Monitor's
    checks (constraint_check_type without its "_check" suffix)."""
    by_check: dict[str, set[str]] = {}
    for v in violations:
        by_check.setdefault(v["constraint_check_type"].removesuffix("_check"), set()).add(v["feature_name"])
    named = "; ".join(f"{check}: {', '.join(sorted(names))}" for check, names in sorted(by_check.items()))
    return f"{len(violations)} violations" + (f" ({named})" if named else "")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint-name", required=True)
    ap.add_argument("--monitoring-schedule-name", required=True, help="the MonitoringSchedule dimension of the metrics")
    ap.add_argument("--capture-uri", required=True, help="the endpoint's DestinationS3Uri")
    ap.add_argument("--reports-dir", required=True, help="local folder uploaded to <reports>/<endpoint>/<schedule>/")
    ap.add_argument("--end", required=True, help="window end (the execution's start time)")
    ap.add_argument("--window-minutes", type=int, default=60)
    args = ap.parse_args(argv)
    if args.window_minutes < 1:
        raise JobError(f"--window-minutes must be at least 1, not {args.window_minutes}")
    end = _timestamp(args.end)
    sm, s3 = boto3.client("sagemaker"), boto3.client("s3")
    package_arn, stats_uri, constraints_uri = baseline_uris(sm, args.endpoint_name)
    print(f"baseline of {package_arn}: {stats_uri}, {constraints_uri}", flush=True)
    check(
        s3,
        boto3.client("cloudwatch"),
        endpoint_name=args.endpoint_name,
        schedule_name=args.monitoring_schedule_name,
        capture_uri=args.capture_uri,
        reports_dir=args.reports_dir,
        start=end - dt.timedelta(minutes=args.window_minutes),
        end=end,
        statistics_uri=stats_uri,
        constraints_uri=constraints_uri,
        baseline=metrics.baseline_id(package_arn),
    )


if __name__ == "__main__":
    finish(run(main))
