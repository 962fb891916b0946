"""CloudWatch's wire: metrics and metric alarms over AWS's JSON 1.0 protocol.

botocore 1.44's CloudWatch model lists `protocols: [smithy-rpc-v2-cbor, json, query]`; the
client takes the first in botocore's own priority order (json before CBOR and query), so
boto3 sends `X-Amz-Target: GraniteServiceVersion20100801.<Operation>` with a JSON body —
the dispatch every JSON service here shares (json_api.JsonApi, validated against the model).

PutMetricData, GetMetricData, GetMetricStatistics, ListMetrics; PutMetricAlarm,
DescribeAlarms, DeleteAlarms, SetAlarmState, DescribeAlarmHistory. Each reads its parameters,
calls `cloud.cloudwatch` (localcloud/cloudwatch/models.py, where the behaviour is) and renders
AWS's response; the Describe/List operations page here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from localcloud.cloudwatch.exceptions import InvalidNextToken, InvalidParameterValue, MissingParameter, ValidationError
from localcloud.json_api import page, with_token

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

Params = dict[str, Any]

# CloudWatch answers a model-constraint failure (SetAlarmState's StateValue outside its enum,
# ...) with the code `ValidationError` (LocalStack's AWS-validated test_set_alarm_invalid_input;
# AWS SDKs' CloudWatch integration features expect "ValidationError" / "failed to satisfy constraint").
VALIDATION_ERROR = ValidationError


def _page(items: list[dict[str, Any]], params: Params, key: str, default_max: int) -> dict[str, Any]:
    found, token = page(
        items,
        params,
        default_max=default_max,
        max_key="MaxRecords",
        invalid=InvalidNextToken,
        message="The service cannot process the NextToken given.",
    )
    return with_token({key: found}, token)


def put_metric_data(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    # botocore's model makes MetricData optional since EntityMetricData came; one of them is needed.
    if params.get("EntityMetricData"):
        raise InvalidParameterValue("localcloud does not store EntityMetricData: send MetricData")
    if "MetricData" not in params:
        raise MissingParameter("The parameter MetricData is required.")
    cloud.cloudwatch.put_metric_data(namespace=params["Namespace"], metric_data=params["MetricData"])
    return {}


def get_metric_statistics(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    return cloud.cloudwatch.get_metric_statistics(
        namespace=params["Namespace"],
        metric_name=params["MetricName"],
        dimensions=params.get("Dimensions"),
        start_time=params["StartTime"],
        end_time=params["EndTime"],
        period=params["Period"],
        statistics=params.get("Statistics"),
        extended_statistics=params.get("ExtendedStatistics"),
        unit=params.get("Unit"),
    )


def get_metric_data(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    results = cloud.cloudwatch.get_metric_data(
        metric_data_queries=params["MetricDataQueries"],
        start_time=params["StartTime"],
        end_time=params["EndTime"],
        scan_by=params.get("ScanBy"),
    )
    return {"MetricDataResults": results, "Messages": []}


def list_metrics(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    metrics = cloud.cloudwatch.list_metrics(
        namespace=params.get("Namespace"),
        metric_name=params.get("MetricName"),
        dimensions=params.get("Dimensions"),
        recently_active=params.get("RecentlyActive"),
    )
    return _page(metrics, params, "Metrics", 500)


def put_metric_alarm(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    cloud.cloudwatch.put_metric_alarm(
        alarm_name=params["AlarmName"],
        evaluation_periods=params["EvaluationPeriods"],
        comparison_operator=params["ComparisonOperator"],
        metric_name=params.get("MetricName"),
        namespace=params.get("Namespace"),
        statistic=params.get("Statistic"),
        period=params.get("Period"),
        threshold=params.get("Threshold"),
        dimensions=params.get("Dimensions"),
        unit=params.get("Unit"),
        datapoints_to_alarm=params.get("DatapointsToAlarm"),
        treat_missing_data=params.get("TreatMissingData"),
        alarm_description=params.get("AlarmDescription"),
        actions_enabled=params.get("ActionsEnabled"),
        ok_actions=params.get("OKActions"),
        alarm_actions=params.get("AlarmActions"),
        insufficient_data_actions=params.get("InsufficientDataActions"),
        extended_statistic=params.get("ExtendedStatistic"),
        metrics=params.get("Metrics"),
        threshold_metric_id=params.get("ThresholdMetricId"),
    )
    return {}


def describe_alarms(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    alarms = cloud.cloudwatch.describe_alarms(
        alarm_names=params.get("AlarmNames"),
        alarm_name_prefix=params.get("AlarmNamePrefix"),
        state_value=params.get("StateValue"),
        action_prefix=params.get("ActionPrefix"),
        alarm_types=params.get("AlarmTypes"),
    )
    reply = _page(alarms, params, "MetricAlarms", 50)
    return {
        "MetricAlarms": reply["MetricAlarms"],
        "CompositeAlarms": [],
        **({"NextToken": reply["NextToken"]} if "NextToken" in reply else {}),
    }


def delete_alarms(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    cloud.cloudwatch.delete_alarms(alarm_names=params["AlarmNames"])
    return {}


def set_alarm_state(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    cloud.cloudwatch.set_alarm_state(
        alarm_name=params["AlarmName"],
        state_value=params["StateValue"],
        state_reason=params["StateReason"],
        state_reason_data=params.get("StateReasonData"),
    )
    return {}


def describe_alarm_history(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    items = cloud.cloudwatch.describe_alarm_history(
        alarm_name=params.get("AlarmName"),
        history_item_type=params.get("HistoryItemType"),
        start_date=params.get("StartDate"),
        end_date=params.get("EndDate"),
        scan_by=params.get("ScanBy"),
    )
    return _page(items, params, "AlarmHistoryItems", 100)


OPERATIONS: dict[str, Callable[[LocalCloud, Params], dict[str, Any] | None]] = {
    "PutMetricData": put_metric_data,
    "GetMetricStatistics": get_metric_statistics,
    "GetMetricData": get_metric_data,
    "ListMetrics": list_metrics,
    "PutMetricAlarm": put_metric_alarm,
    "DescribeAlarms": describe_alarms,
    "DeleteAlarms": delete_alarms,
    "SetAlarmState": set_alarm_state,
    "DescribeAlarmHistory": describe_alarm_history,
}
