"""The endpoint invocation metrics SageMaker publishes to CloudWatch, from localcloud's endpoints.

AWS publishes, per minute, in namespace AWS/SageMaker with dimensions EndpointName and
VariantName ("Endpoint invocation metrics",
https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html):

- Invocations: the InvokeEndpoint requests sent to the variant (Sum, SampleCount; unit None);
- Invocation4XXErrors / Invocation5XXErrors: requests the model answered with a 4xx / 5xx; "for
  each 4xx response, 1 is sent; otherwise, 0 is sent", so SampleCount is the requests and Sum
  the errors;
- InvocationsPerInstance: 1/numberOfInstances sent per request (API_ScalingPolicyMetric);
- ModelLatency: microseconds the model took to answer (Average, Sum, Min, Max, SampleCount).

OverheadLatency is not published: localcloud's own overhead is not SageMaker's.

The InvokeEndpoint path only bumps in-memory counters (HostingBackend.invoke, under one lock);
the server's clock calls `publish` every second, which writes once the minute has turned: one
statistic set per metric, variant and minute into CloudWatch's metric store, as AWS's 1-minute
metrics. Closing the hosting backend publishes the last, partial minute. A minute without
requests publishes nothing, as on AWS.
"""
from __future__ import annotations

import time
from typing import Any

from localcloud.cloudwatch.store import dims_key, metric_store

NAMESPACE = "AWS/SageMaker"
ENDPOINT = "sm-endpoint"      # localcloud.sagemaker.endpoints.ENDPOINT (not imported: no cycle)


def publish(cloud: Any, now: float | None = None, force: bool = False) -> int:
    """Write the counters of the minute that has ended (any counters at all when `force`) as
    AWS/SageMaker datapoints stamped with the minute they were counted in; the rows written.
    Alarms on the metrics written are evaluated, as after PutMetricData."""
    hosting = cloud.__dict__.get("hosting")      # never started: nothing was invoked
    if hosting is None:
        return 0
    now = time.time() if now is None else now
    if not force and int(now // 60) == int(hosting.stats_since // 60):
        return 0
    since, window = hosting.drain_stats(now)
    minute = since // 60 * 60
    rows = []
    for (endpoint, variant), s in sorted(window.items()):
        n = s.invocations
        if not n:
            continue
        dims = dims_key([{"Name": "EndpointName", "Value": endpoint},
                         {"Name": "VariantName", "Value": variant}])
        rows.append((NAMESPACE, "Invocations", dims, minute, n, n, 1.0, 1.0, "None"))
        for name, errors in (("Invocation4XXErrors", s.errors_4xx), ("Invocation5XXErrors", s.errors_5xx)):
            rows.append((NAMESPACE, name, dims, minute, n, errors, 0.0 if errors < n else 1.0,
                         1.0 if errors else 0.0, "None"))
        instances = _instance_count(cloud, endpoint, variant)
        if instances:
            share = 1.0 / instances
            rows.append((NAMESPACE, "InvocationsPerInstance", dims, minute, n, n * share, share, share, "None"))
        answered = n - s.errors_4xx - s.errors_5xx
        if answered and s.latency_min_us is not None:
            rows.append((NAMESPACE, "ModelLatency", dims, minute, answered, s.model_latency_us,
                         s.latency_min_us, s.latency_max_us, "Microseconds"))
    if not rows:
        return 0
    metric_store(cloud).put(rows)
    touched = {(r[0], r[1], r[2]) for r in rows}
    cloud.cloudwatch.evaluate_alarms(lambda a: (a["Namespace"], a["MetricName"],
                                      dims_key(a.get("Dimensions"))) in touched)
    return len(rows)


def _instance_count(cloud: Any, endpoint: str, variant: str) -> int | None:
    """The variant's CurrentInstanceCount now (None for a serverless variant or a deleted endpoint)."""
    doc = cloud.state.get(ENDPOINT, endpoint) or {}
    for v in doc.get("ProductionVariants", []):
        if v.get("VariantName") == variant:
            return v.get("CurrentInstanceCount") or None
    return None
