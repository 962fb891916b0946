"""EventBridge's wire (JSON 1.1, `AWSEvents.*`): rules, targets and PutEvents on the default bus.

Each operation reads its parameters (already checked against botocore's model by JsonApi),
calls `cloud.events` (localcloud/events/models.py, where the behaviour is) and renders AWS's
response; List operations page here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from localcloud.json_api import page, with_token

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

Params = dict[str, Any]


def _page(items: list[dict[str, Any]], params: Params, key: str) -> dict[str, Any]:
    found, token = page(items, params, default_max=100, max_key="Limit")
    return with_token({key: found}, token)


def put_rule(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    arn = cloud.events.put_rule(
        name=params["Name"],
        event_bus_name=params.get("EventBusName"),
        event_pattern=params.get("EventPattern"),
        schedule_expression=params.get("ScheduleExpression"),
        state=params.get("State"),
        description=params.get("Description"),
        role_arn=params.get("RoleArn"),
    )
    return {"RuleArn": arn}


def describe_rule(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    return cloud.events.describe_rule(name=params["Name"], event_bus_name=params.get("EventBusName"))


def list_rules(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    rules = cloud.events.list_rules(event_bus_name=params.get("EventBusName"), name_prefix=params.get("NamePrefix", ""))
    return _page(rules, params, "Rules")


def delete_rule(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    cloud.events.delete_rule(name=params["Name"], event_bus_name=params.get("EventBusName"))
    return {}


def _set_state(state: str) -> Callable[[LocalCloud, Params], dict[str, Any]]:
    def operation(cloud: LocalCloud, params: Params) -> dict[str, Any]:
        cloud.events.set_rule_state(name=params["Name"], state=state, event_bus_name=params.get("EventBusName"))
        return {}

    return operation


def put_targets(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    failed = cloud.events.put_targets(
        rule=params["Rule"], targets=params["Targets"], event_bus_name=params.get("EventBusName")
    )
    return {"FailedEntryCount": len(failed), "FailedEntries": failed}


def list_targets_by_rule(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    targets = cloud.events.list_targets(rule=params["Rule"], event_bus_name=params.get("EventBusName"))
    return _page(targets, params, "Targets")


def remove_targets(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    cloud.events.remove_targets(rule=params["Rule"], ids=params["Ids"], event_bus_name=params.get("EventBusName"))
    return {"FailedEntryCount": 0, "FailedEntries": []}


def put_events(cloud: LocalCloud, params: Params) -> dict[str, Any]:
    results = cloud.events.put_events(entries=params["Entries"])
    failed = sum(1 for r in results if "ErrorCode" in r)
    return {"FailedEntryCount": failed, "Entries": results}


OPERATIONS: dict[str, Callable[[LocalCloud, Params], dict[str, Any] | None]] = {
    "PutRule": put_rule,
    "DescribeRule": describe_rule,
    "ListRules": list_rules,
    "DeleteRule": delete_rule,
    "EnableRule": _set_state("ENABLED"),
    "DisableRule": _set_state("DISABLED"),
    "PutTargets": put_targets,
    "ListTargetsByRule": list_targets_by_rule,
    "RemoveTargets": remove_targets,
    "PutEvents": put_events,
}
