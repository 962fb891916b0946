"""EventBridge API (JSON 1.1, `AWSEvents.*`): rules, targets and PutEvents on the default bus.

Delivery is synchronous inside PutEvents (AWS delivers asynchronously): it keeps the log
deterministic, and the only live target — a SageMaker pipeline — starts its execution in a
background thread anyway. Every delivery's outcome is logged, including failures, because a
rule that silently drops events is the hardest thing to debug. Rules with a ScheduleExpression
fire on time while localcloud runs (localcloud/events/schedules.py, driven by the server's
clock, localcloud/clock.py).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from localcloud.errors import AwsError
from localcloud.events.models import RULE, event_log
from localcloud.events.patterns import PatternError, compile_pattern
from localcloud.json_api import JsonApi, page_start
from localcloud.protocol import Request, Response

DEFAULT_BUS = "default"
MAX_TARGETS = 5   # AWS's per-rule limit


def _not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message)


def _invalid(message: str) -> AwsError:
    return AwsError("ValidationException", message)


# -- rules -----------------------------------------------------------------------------------

def _bus(params: dict[str, Any], key: str = "EventBusName") -> str:
    """Only the default bus exists (no CreateEventBus); its ARN names it too."""
    name = params.get(key) or DEFAULT_BUS
    if name.startswith("arn:"):
        name = name.split(":event-bus/", 1)[-1]
    if name != DEFAULT_BUS:
        raise _not_found(f"Event bus {name} does not exist.")
    return name


def _bus_exists(entry: dict[str, Any]) -> bool:
    try:
        _bus(entry)
    except AwsError:
        return False
    return True


def _key(bus: str, rule: str) -> str:
    return f"{bus}/{rule}"


def _rule(cloud: Any, bus: str, name: str) -> dict[str, Any]:
    doc = cloud.state.get(RULE, _key(bus, name))
    if doc is None:
        raise _not_found(f"Rule {name} does not exist on EventBus {bus}.")
    return doc


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_") and v is not None}


def put_rule(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    bus, name = _bus(params), params["Name"]
    pattern, schedule = params.get("EventPattern"), params.get("ScheduleExpression")
    if not pattern and not schedule:
        raise _invalid("Parameter(s) EventPattern or ScheduleExpression must be specified.")
    if pattern:
        try:
            compile_pattern(pattern)
        except PatternError as error:
            raise AwsError("InvalidEventPatternException",
                           f"Event pattern is not valid. Reason: {error}") from None
    if schedule:
        from localcloud.events.schedules import ScheduleError, parse
        try:
            parse(schedule)
        except ScheduleError as error:
            raise _invalid(f"Parameter ScheduleExpression is not valid. Reason: {error}") from None
    arn = cloud.config.arn("events", f"rule/{name}")   # default-bus rules omit the bus
    with cloud.state.transaction():
        existing = cloud.state.get(RULE, _key(bus, name)) or {}
        doc = {
            "Name": name, "Arn": arn, "EventPattern": pattern, "ScheduleExpression": schedule,
            "State": params.get("State") or "ENABLED", "Description": params.get("Description"),
            "RoleArn": params.get("RoleArn"), "EventBusName": bus,
            "CreatedBy": cloud.config.account_id,
            "_Targets": existing.get("_Targets", []),   # PutRule on an existing rule keeps them
        }
        cloud.state.put(RULE, _key(bus, name), doc)
    return {"RuleArn": arn}


def describe_rule(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    return _public(_rule(cloud, _bus(params), params["Name"]))


def list_rules(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    bus = _bus(params)
    rules = [_public(d) for d in cloud.state.list(RULE, _key(bus, params.get("NamePrefix", "")))]
    rules.sort(key=lambda d: d["Name"])
    start = page_start(params)
    limit = params.get("Limit") or 100
    page = rules[start:start + limit]
    more = start + limit < len(rules)
    return {"Rules": page, **({"NextToken": str(start + limit)} if more else {})}


def delete_rule(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    bus = _bus(params)
    with cloud.state.transaction():
        doc = cloud.state.get(RULE, _key(bus, params["Name"]))
        if doc is None:
            return {}   # AWS: deleting a rule that is not there succeeds
        if doc["_Targets"]:
            raise _invalid("Rule can't be deleted since it has targets.")
        cloud.state.delete(RULE, _key(bus, params["Name"]))
    return {}


def _set_state(state: str) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
    def operation(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
        bus = _bus(params)
        with cloud.state.transaction():
            doc = _rule(cloud, bus, params["Name"])
            doc["State"] = state
            cloud.state.put(RULE, _key(bus, params["Name"]), doc)
        return {}
    return operation


# -- targets ---------------------------------------------------------------------------------

def _target_error(target: dict[str, Any]) -> str | None:
    if target.get("Input") is not None and target.get("InputPath") is not None:
        return "Only one of Input, InputPath and InputTransformer can be set."
    if target.get("Input") is not None:
        try:
            json.loads(target["Input"])
        except ValueError:
            return "Input is not valid JSON text."
    if target.get("InputPath") is not None and not target["InputPath"].startswith("$"):
        return "InputPath is not a valid JSONPath."
    return None


def put_targets(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    bus = _bus(params)
    failed: list[dict[str, Any]] = []
    with cloud.state.transaction():
        doc = _rule(cloud, bus, params["Rule"])
        targets = {t["Id"]: t for t in doc["_Targets"]}
        for target in params["Targets"]:
            reason = _target_error(target)
            if reason:
                raise _invalid(reason)   # AWS refuses the whole call for malformed input
            targets[target["Id"]] = target
        if len(targets) > MAX_TARGETS:
            raise AwsError("LimitExceededException",
                           f"The requested resource exceeds the maximum number allowed "
                           f"({MAX_TARGETS} targets per rule).")
        doc["_Targets"] = list(targets.values())
        cloud.state.put(RULE, _key(bus, params["Rule"]), doc)
    return {"FailedEntryCount": len(failed), "FailedEntries": failed}


def list_targets_by_rule(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    targets = _rule(cloud, _bus(params), params["Rule"])["_Targets"]
    start = page_start(params)
    limit = params.get("Limit") or 100
    more = start + limit < len(targets)
    return {"Targets": targets[start:start + limit],
            **({"NextToken": str(start + limit)} if more else {})}


def remove_targets(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    bus = _bus(params)
    with cloud.state.transaction():
        doc = _rule(cloud, bus, params["Rule"])
        ids = set(params["Ids"])
        doc["_Targets"] = [t for t in doc["_Targets"] if t["Id"] not in ids]
        cloud.state.put(RULE, _key(bus, params["Rule"]), doc)
    return {"FailedEntryCount": 0, "FailedEntries": []}


# -- events ----------------------------------------------------------------------------------

def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _envelope(cloud: Any, entry: dict[str, Any]) -> dict[str, Any]:
    """The event as rules see it and targets receive it; AwsError(code) for a bad entry."""
    for field in ("Source", "DetailType", "Detail"):
        if not entry.get(field):
            raise AwsError("InvalidArgument",
                           f"Parameter {field} is not valid. Reason: {field} is a required argument.")
    try:
        detail = json.loads(entry["Detail"])
    except ValueError:
        detail = None
    if not isinstance(detail, dict):   # AWS requires a JSON object here
        raise AwsError("MalformedDetail", "Detail is malformed.")
    when = entry.get("Time")
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": entry["DetailType"],
        "source": entry["Source"], "account": cloud.config.account_id,
        "time": _iso(float(when) if when is not None else dt.datetime.now(dt.timezone.utc).timestamp()),
        "region": cloud.config.region, "resources": entry.get("Resources") or [],
        "detail": detail,
    }


def _pattern_rules(cloud: Any) -> list[tuple[dict[str, Any], Any]]:
    rules = [r for r in cloud.state.list(RULE, _key(DEFAULT_BUS, ""))
             if r["State"] == "ENABLED" and r.get("EventPattern")]
    return [(r, compile_pattern(r["EventPattern"])) for r in rules]


def _route(cloud: Any, event: dict[str, Any], compiled: list[tuple[dict[str, Any], Any]]) -> None:
    log = event_log(cloud)
    log.add_event(event, DEFAULT_BUS)
    for rule, pattern in compiled:
        if pattern.matches(event):
            deliver_to_rule(cloud, event, rule)


def deliver_to_rule(cloud: Any, event: dict[str, Any], rule: dict[str, Any]) -> None:
    """Send an (already logged) event to every target of one rule, logging each outcome."""
    log = event_log(cloud)
    for target in rule["_Targets"]:
        log.add_match(event["id"], rule["Name"], target["Id"], target["Arn"],
                      _deliver(cloud, event, target))


def emit_service_event(cloud: Any, source: str, detail_type: str, detail: dict[str, Any],
                       resources: list[str], when: float | None = None) -> dict[str, Any]:
    """An event an AWS service puts on the default bus (CloudWatch's alarm state changes):
    the same envelope and rule matching as PutEvents, without PutEvents' refusal of `aws.`
    sources, which only applies to customers. The event as delivered."""
    stamp = when if when is not None else dt.datetime.now(dt.timezone.utc).timestamp()
    event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type,
             "source": source, "account": cloud.config.account_id, "time": _iso(stamp),
             "region": cloud.config.region, "resources": resources, "detail": detail}
    _route(cloud, event, _pattern_rules(cloud))
    return event


def put_events(cloud: Any, params: dict[str, Any]) -> dict[str, Any]:
    compiled = _pattern_rules(cloud)
    results: list[dict[str, Any]] = []
    for entry in params["Entries"]:
        try:
            event = _envelope(cloud, entry)
        except AwsError as error:
            results.append({"ErrorCode": error.code, "ErrorMessage": error.message})
            continue
        results.append({"EventId": event["id"]})
        if not _bus_exists(entry):
            # AWS answers an entry for a bus that does not exist with an EventId, as for any
            # other, and the event goes nowhere (no rule on any bus sees it).
            continue
        _route(cloud, event, compiled)
    failed = sum(1 for r in results if "ErrorCode" in r)
    return {"FailedEntryCount": failed, "Entries": results}


def _deliver(cloud: Any, event: dict[str, Any], target: dict[str, Any]) -> str:
    """Send one event to one target; the outcome string is what the log records."""
    arn: str = target["Arn"]
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sagemaker" and parts[5].startswith("pipeline/"):
        return _start_pipeline(cloud, event, target, parts[5].split("/", 1)[1])
    return "unsupported target"


def _start_pipeline(cloud: Any, event: dict[str, Any], target: dict[str, Any], name: str) -> str:
    overrides = (target.get("SageMakerPipelineParameters") or {}).get("PipelineParameterList") or []
    # One token per (event, target): a redelivery would not start a second execution.
    token = hashlib.sha256(f"{event['id']}/{target['Id']}".encode()).hexdigest()[:40]
    request = {"PipelineName": target["Arn"], "ClientRequestToken": token,
               "PipelineExecutionDescription": f"EventBridge event {event['id']}"}
    if overrides:
        request["PipelineParameters"] = [{"Name": p["Name"], "Value": p["Value"]} for p in overrides]
    if cloud.recorder is not None:   # EventBridge calls the target as the target's RoleArn
        cloud.recorder.call(target.get("RoleArn") or "", "sagemaker", "StartPipelineExecution",
                            request, via=f"events target {target['Id']}")
    try:
        result = cloud.client("sagemaker").call("StartPipelineExecution", request)
    except AwsError as error:
        if error.code in ("ResourceNotFound", "ResourceNotFoundException"):
            return f"failed: pipeline {name} does not exist"
        return f"failed: {error.code}: {error.message}"
    except Exception as error:   # noqa: BLE001 — a target bug must not fail PutEvents
        return f"failed: {type(error).__name__}: {error}"
    return f"started {result['PipelineExecutionArn']}"


# -- wiring ----------------------------------------------------------------------------------

OPERATIONS: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any]]] = {
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

API = JsonApi("events", "AWSEvents", OPERATIONS)


def handle(cloud: Any, request: Request) -> Response:
    return API.handle(cloud, request)


def list_events(cloud: Any, limit: int = 20) -> list[dict[str, Any]]:
    """Recent events, newest first, each with its rule matches and their outcomes."""
    return event_log(cloud).events(limit)


def list_matches(cloud: Any, limit: int = 50) -> list[dict[str, Any]]:
    """Recent rule matches (event id, rule, target, outcome), newest first."""
    return event_log(cloud).matches(limit)
