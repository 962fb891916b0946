"""The endpoint invocation metrics SageMaker publishes to CloudWatch, from localcloud's endpoints.

AWS publishes, per minute, in namespace AWS/SageMaker with dimensions EndpointName and
VariantName ("Endpoint invocation metrics",
https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html):

- Invocations: the InvokeEndpoint requests sent to the variant (Sum, SampleCount; unit None);
- Invocation4XXErrors / Invocation5XXErrors: requests the model answered with a 4xx / 5xx; "for
  each 4xx response, 1 is sent; otherwise, 0 is sent", so SampleCount is the requests and Sum
  the errors;
- InvocationsPerInstance: 1/numberOfInstances sent per request (API_ScalingPolicyMetric);
- ModelLatency: microseconds the model took to answer (Average, Sum, Min, Max, SampleCount);
- OverheadLatency: microseconds of the request beyond ModelLatency (routing to an instance,
  reading its answer), for variants whose instances are processes: there the overhead is
  real and measured like SageMaker's. In-process variants publish none.

In namespace /aws/sagemaker/Endpoints ("Endpoint instance metrics", same page), with dimensions
EndpointName and VariantName, unit Percent: CPUUtilization (the sum over the instance's cores,
so up to 100 x cores) and MemoryUtilization, one sample per instance per minute -- psutil's
measure of the instance's process tree over that minute (`instance_samples`).

The InvokeEndpoint path only bumps in-memory `VariantStats` (SageMakerBackend.invoke, under one
lock); the server's clock calls `cloud.sagemaker.publish_invocation_metrics(now)` every second,
which hands CloudWatch (`cloud.cloudwatch.publish_service_metrics`) one statistic set per
metric, variant and minute, built here by `metric_data`, once the minute has turned, as AWS's
1-minute metrics. Closing the backend publishes the last, partial minute. A minute without
requests publishes nothing, as on AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NAMESPACE = "AWS/SageMaker"


@dataclass
class VariantStats:
    """InvokeEndpoint counters of one (endpoint, variant); latencies of the answered requests."""

    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    model_latency_us: int = 0
    latency_min_us: int | None = None
    latency_max_us: int | None = None
    overhead_count: int = 0
    overhead_us: int = 0
    overhead_min_us: int | None = None
    overhead_max_us: int | None = None

    def answered(self, latency_us: int, overhead_us: int | None = None) -> None:
        """Count one request the model answered in `latency_us` microseconds (and, routed to
        an instance process, `overhead_us` more)."""
        if overhead_us is None:
            self.add(VariantStats(1, 0, 0, latency_us, latency_us, latency_us))
        else:
            self.add(
                VariantStats(1, 0, 0, latency_us, latency_us, latency_us, 1, overhead_us, overhead_us, overhead_us)
            )

    def add(self, other: VariantStats) -> None:
        self.invocations += other.invocations
        self.errors_4xx += other.errors_4xx
        self.errors_5xx += other.errors_5xx
        self.model_latency_us += other.model_latency_us
        self.overhead_count += other.overhead_count
        self.overhead_us += other.overhead_us
        for name, pick in (
            ("latency_min_us", min),
            ("latency_max_us", max),
            ("overhead_min_us", min),
            ("overhead_max_us", max),
        ):
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, theirs if mine is None else mine if theirs is None else pick(mine, theirs))


def _datum(
    name: str,
    dimensions: list[dict[str, str]],
    minute: float,
    count: float,
    total: float,
    low: float,
    high: float,
    unit: str,
) -> dict[str, Any]:
    return {
        "MetricName": name,
        "Dimensions": dimensions,
        "Timestamp": minute,
        "Unit": unit,
        "StatisticValues": {"SampleCount": count, "Sum": total, "Minimum": low, "Maximum": high},
    }


def metric_data(
    window: dict[tuple[str, str], VariantStats], minute: float, instance_count: Callable[[str, str], int | None]
) -> list[dict[str, Any]]:
    """AWS MetricDatum dicts (StatisticValues, Timestamp `minute` in epoch seconds) for the
    counters of each (endpoint, variant) counted in that minute. `instance_count(endpoint,
    variant)` is the variant's instances now (None: serverless or deleted, no
    InvocationsPerInstance)."""
    data = []
    for (endpoint, variant), s in sorted(window.items()):
        n = s.invocations
        if not n:
            continue
        dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        data.append(_datum("Invocations", dims, minute, n, n, 1.0, 1.0, "None"))
        for name, errors in (("Invocation4XXErrors", s.errors_4xx), ("Invocation5XXErrors", s.errors_5xx)):
            data.append(
                _datum(name, dims, minute, n, errors, 0.0 if errors < n else 1.0, 1.0 if errors else 0.0, "None")
            )
        instances = instance_count(endpoint, variant)
        if instances:
            share = 1.0 / instances
            data.append(_datum("InvocationsPerInstance", dims, minute, n, n * share, share, share, "None"))
        answered = n - s.errors_4xx - s.errors_5xx
        if answered and s.latency_min_us is not None and s.latency_max_us is not None:
            data.append(
                _datum(
                    "ModelLatency",
                    dims,
                    minute,
                    answered,
                    s.model_latency_us,
                    s.latency_min_us,
                    s.latency_max_us,
                    "Microseconds",
                )
            )
        if s.overhead_count and s.overhead_min_us is not None and s.overhead_max_us is not None:
            data.append(
                _datum(
                    "OverheadLatency",
                    dims,
                    minute,
                    s.overhead_count,
                    s.overhead_us,
                    s.overhead_min_us,
                    s.overhead_max_us,
                    "Microseconds",
                )
            )
    return data


INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"


def instance_data(samples: dict[tuple[str, str], list[tuple[float, float]]], minute: float) -> list[dict[str, Any]]:
    """CPUUtilization and MemoryUtilization MetricDatum dicts (unit Percent) for each (endpoint,
    variant) from its instances' (CPU %, memory %) samples of one minute."""
    data = []
    for (endpoint, variant), values in sorted(samples.items()):
        if not values:
            continue
        dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        for name, column in (("CPUUtilization", 0), ("MemoryUtilization", 1)):
            xs = [v[column] for v in values]
            data.append(_datum(name, dims, minute, len(xs), sum(xs), min(xs), max(xs), "Percent"))
    return data
