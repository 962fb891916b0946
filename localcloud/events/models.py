"""EventBridge's backend, reached as `cloud.events`: rules and their targets on the default bus,
events put by customers (PutEvents) and by AWS services (`put_service_event`), scheduled rules
fired by the server's clock (`tick`), and the log of every event and delivery.

State: rule documents in the shared StateStore (kind RULE, name "<bus>/<rule>", doc =
DescribeRule's shape + "_Targets"), each scheduled rule's next run (kind SCHEDULE); events and
deliveries in their own append-only SQLite log (`<home>/events/events.db`), which can grow
without bloating state.db.

Delivery is synchronous (AWS delivers asynchronously): it keeps the log deterministic, and the
only live target — a SageMaker pipeline, started through `cloud.client("sagemaker")` — runs its
execution in a background thread anyway. A target's Input, InputPath and InputTransformer are
validated as PutTargets validates them and kept, but change nothing delivered: a pipeline target
is started with its SageMakerPipelineParameters, not with the event or a transformed input.
Every delivery's outcome is logged, including failures, because a rule that silently drops
events is the hardest thing to debug.

Scheduled rules (EventBridge User Guide, "Creating an Amazon EventBridge rule that runs on a
schedule"; expressions parsed in localcloud/events/schedules.py): a rule's next run time lives
in the StateStore so a restart neither repeats nor loses the schedule; runs missed while
localcloud was stopped are not made up. Each run puts AWS's "Scheduled Event" (source
aws.events, the rule's ARN as its resource, detail {}) on the rule's targets only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud.errors import AwsError, ValidationException
from localcloud.events.exceptions import (
    InvalidArgument,
    InvalidEventPatternException,
    LimitExceededException,
    MalformedDetail,
    ResourceNotFoundException,
)
from localcloud.events.patterns import Pattern, PatternError, compile_pattern
from localcloud.events.schedules import Schedule, ScheduleError, parse
from localcloud.state import ThreadConnections, one_per_path

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

log = logging.getLogger("localcloud.events.schedules")  # the clock's firings

RULE = "events:rule"  # StateStore kind; name "<bus>/<rule>", doc = DescribeRule + "_Targets"
SCHEDULE = "events:schedule"  # StateStore kind; name "<bus>/<rule>", doc {rule, expression, created, next}
DEFAULT_BUS = "default"
MAX_TARGETS = 5  # AWS's per-rule limit

# -- the event log: every event and every delivery, newest first ---------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    time TEXT NOT NULL,
    source TEXT NOT NULL,
    detail_type TEXT NOT NULL,
    detail TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    resources TEXT NOT NULL,
    bus TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS matches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    target_id TEXT NOT NULL,
    target_arn TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
);
CREATE INDEX IF NOT EXISTS matches_event ON matches(event_id);
"""


class EventLog:
    """One per state directory; a connection per thread, as StateStore does."""

    def __init__(self, path: Path):
        self.path = path
        self._conn = ThreadConnections(path)
        self._conn().executescript(_SCHEMA)

    def add_event(self, event: dict[str, Any], bus: str) -> None:
        self._conn().execute(
            "INSERT INTO events(id, time, source, detail_type, detail, account, region, "
            "resources, bus) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                event["id"],
                event["time"],
                event["source"],
                event["detail-type"],
                json.dumps(event["detail"]),
                event["account"],
                event["region"],
                json.dumps(event["resources"]),
                bus,
            ),
        )

    def add_match(self, event_id: str, rule: str, target_id: str, target_arn: str, outcome: str) -> None:
        self._conn().execute(
            "INSERT INTO matches(event_id, rule, target_id, target_arn, outcome) VALUES (?,?,?,?,?)",
            (event_id, rule, target_id, target_arn, outcome),
        )

    def events(self, limit: int) -> list[dict[str, Any]]:
        """Newest first, each with the deliveries its rules made."""
        rows = (
            self._conn()
            .execute(
                "SELECT id, time, source, detail_type, detail, account, region, resources, bus "
                "FROM events ORDER BY seq DESC LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        out = []
        for id_, time, source, detail_type, detail, account, region, resources, bus in rows:
            out.append(
                {
                    "id": id_,
                    "time": time,
                    "source": source,
                    "detail-type": detail_type,
                    "detail": json.loads(detail),
                    "account": account,
                    "region": region,
                    "resources": json.loads(resources),
                    "bus": bus,
                    "matches": self.matches_for(id_),
                }
            )
        return out

    def matches_for(self, event_id: str) -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute(
                "SELECT event_id, rule, target_id, target_arn, outcome, at FROM matches WHERE event_id=? ORDER BY seq",
                (event_id,),
            )
            .fetchall()
        )
        return [_match(r) for r in rows]

    def matches(self, limit: int) -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute(
                "SELECT event_id, rule, target_id, target_arn, outcome, at FROM matches ORDER BY seq DESC LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [_match(r) for r in rows]


def _match(row: tuple) -> dict[str, Any]:
    event_id, rule, target_id, target_arn, outcome, at = row
    return {
        "event_id": event_id,
        "rule": rule,
        "target_id": target_id,
        "target_arn": target_arn,
        "outcome": outcome,
        "at": at,
    }


def _key(bus: str, rule: str) -> str:
    return f"{bus}/{rule}"


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_") and v is not None}


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _next_run(schedule: Schedule, after: float, created: float) -> float | None:
    """The epoch second of the schedule's next run after `after`, None if it has none left."""
    try:
        return schedule.next_after(_utc(after), _utc(created)).timestamp()
    except ScheduleError:  # "never runs again"
        return None


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


def _now() -> float:
    return dt.datetime.now(dt.timezone.utc).timestamp()


# The input transformer's predefined variables (EventBridge User Guide, "Amazon EventBridge input
# transformation" → Predefined variables): usable in any InputTemplate without InputPathsMap;
# the two that hold the event as JSON only as a JSON value, in a JSON-object template.
_PREDEFINED_STRINGS = frozenset({"aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time"})
_PREDEFINED_JSON = frozenset({"aws.events.event", "aws.events.event.json"})
_PLACEHOLDER = re.compile(r"<([^<>]*)>")
_PLACEHOLDER_KEY = re.compile(r'[{,]\s*"?<([^<>]*)>"?\s*:')
# The JSON path syntax EventBridge evaluates (same page: dot notation, dashes, underscores,
# alphanumerics, array indices, wildcards, forward slashes).
_JSON_PATH = re.compile(r"\$(\.[A-Za-z0-9_\-/*]+|\[(\d+|\*)\])*")


def _transformer_error(target_id: str, transformer: dict[str, Any]) -> str | None:
    """What AWS refuses in an InputTransformer (PutTargets), or None. The model (validate_input)
    has already checked InputTemplate's presence and length and the InputPathsMap keys."""
    paths = transformer.get("InputPathsMap") or {}
    for key, path in paths.items():
        if not _JSON_PATH.fullmatch(path):
            return f"InputPathsMap for target {target_id} has an invalid JSON path for {key}: {path}."
    template: str = transformer["InputTemplate"]
    is_json = template.strip().startswith("{")
    # API reference, InputTransformer.InputTemplate: in a JSON-object template "the placeholder
    # cannot be used as an object key".
    key = _PLACEHOLDER_KEY.search(template) if is_json else None
    if key:
        return f"InputTemplate for target {target_id} uses placeholder {key.group(1)} as an object key."
    for placeholder in _PLACEHOLDER.findall(template):
        if placeholder in _PREDEFINED_JSON:
            if not is_json:
                return (
                    f"InputTemplate for target {target_id} contains placeholder {placeholder} "
                    "valid only for JSON template."
                )
        elif placeholder not in paths and placeholder not in _PREDEFINED_STRINGS:
            return f"InputTemplate for target {target_id} contains invalid placeholder {placeholder}."
    return None


def _target_error(target: dict[str, Any]) -> str | None:
    """What AWS refuses in a PutTargets target, or None."""
    given = [field for field in ("Input", "InputPath", "InputTransformer") if target.get(field) is not None]
    if len(given) > 1:
        return f"Only one of Input, InputPath, or InputTransformer must be provided for target {target['Id']}."
    if target.get("Input") is not None:
        try:
            json.loads(target["Input"])
        except ValueError:
            return "Input is not valid JSON text."
    if target.get("InputPath") is not None and not target["InputPath"].startswith("$"):
        return "InputPath is not a valid JSONPath."
    if target.get("InputTransformer") is not None:
        return _transformer_error(target["Id"], target["InputTransformer"])
    return None


class EventsBackend:
    """EventBridge for one LocalCloud (`cloud.events`). Rule and target documents are AWS's
    shapes (DescribeRule, Target); events are AWS's envelope (version, id, detail-type, source,
    account, time, region, resources, detail)."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud

    @property
    def event_log(self) -> EventLog:
        """The log for this cloud's home (one per process and home: the schema is created once)."""
        return one_per_path(EventLog, self.cloud.config.home / "events" / "events.db")

    # -- buses and rules -----------------------------------------------------------------------

    def bus(self, name: str | None) -> str:
        """The bus a name or ARN designates. Only the default bus exists (no CreateEventBus);
        ResourceNotFoundException for any other."""
        name = name or DEFAULT_BUS
        if name.startswith("arn:"):
            name = name.split(":event-bus/", 1)[-1]
        if name != DEFAULT_BUS:
            raise ResourceNotFoundException(f"Event bus {name} does not exist.")
        return name

    def _bus_exists(self, name: str | None) -> bool:
        try:
            self.bus(name)
        except AwsError:
            return False
        return True

    def _rule(self, bus: str, name: str) -> dict[str, Any]:
        doc = self.cloud.state.get(RULE, _key(bus, name))
        if doc is None:
            raise ResourceNotFoundException(f"Rule {name} does not exist on EventBus {bus}.")
        return doc

    def put_rule(
        self,
        *,
        name: str,
        event_bus_name: str | None = None,
        event_pattern: str | None = None,
        schedule_expression: str | None = None,
        state: str | None = None,
        description: str | None = None,
        role_arn: str | None = None,
    ) -> str:
        """Create or replace a rule (its targets kept); the rule's ARN. ResourceNotFoundException
        (bus), ValidationException (neither pattern nor schedule, a bad schedule),
        InvalidEventPatternException (AWS: PutRule)."""
        bus = self.bus(event_bus_name)
        if not event_pattern and not schedule_expression:
            raise ValidationException("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        if event_pattern:
            try:
                compile_pattern(event_pattern)
            except PatternError as error:
                raise InvalidEventPatternException(f"Event pattern is not valid. Reason: {error}") from None
        if schedule_expression:
            try:
                parse(schedule_expression)
            except ScheduleError as error:
                # AWS answers exactly this text, naming no reason; ours goes to the log.
                log.info("PutRule %s: ScheduleExpression %r refused: %s", name, schedule_expression, error)
                raise ValidationException("Parameter ScheduleExpression is not valid.") from None
        cloud = self.cloud
        arn = cloud.config.arn("events", f"rule/{name}")  # default-bus rules omit the bus
        with cloud.state.transaction():
            existing = cloud.state.get(RULE, _key(bus, name)) or {}
            doc = {
                "Name": name,
                "Arn": arn,
                "EventPattern": event_pattern,
                "ScheduleExpression": schedule_expression,
                "State": state or "ENABLED",
                "Description": description,
                "RoleArn": role_arn,
                "EventBusName": bus,
                "CreatedBy": cloud.config.account_id,
                "_Targets": existing.get("_Targets", []),  # PutRule on an existing rule keeps them
            }
            cloud.state.put(RULE, _key(bus, name), doc)
        return arn

    def describe_rule(self, *, name: str, event_bus_name: str | None = None) -> dict[str, Any]:
        """DescribeRule's shape; ResourceNotFoundException for an unknown bus or rule."""
        return _public(self._rule(self.bus(event_bus_name), name))

    def list_rules(self, *, event_bus_name: str | None = None, name_prefix: str = "") -> list[dict[str, Any]]:
        """The bus's rules whose name starts with the prefix (ListRules' Rule shape), by name."""
        bus = self.bus(event_bus_name)
        rules = [_public(d) for d in self.cloud.state.list(RULE, _key(bus, name_prefix))]
        rules.sort(key=lambda d: d["Name"])
        return rules

    def rules(self) -> list[dict[str, Any]]:
        """Every rule on every bus: DescribeRule's shape plus its "Targets" (the CLI's view)."""
        return [{**_public(d), "Targets": d["_Targets"]} for d in self.cloud.state.list(RULE)]

    def delete_rule(self, *, name: str, event_bus_name: str | None = None) -> None:
        """Delete a rule; a rule that is not there is no error (AWS). ValidationException while
        it has targets."""
        bus = self.bus(event_bus_name)
        with self.cloud.state.transaction():
            doc = self.cloud.state.get(RULE, _key(bus, name))
            if doc is None:
                return
            if doc["_Targets"]:
                raise ValidationException("Rule can't be deleted since it has targets.")
            self.cloud.state.delete(RULE, _key(bus, name))

    def set_rule_state(self, *, name: str, state: str, event_bus_name: str | None = None) -> None:
        """EnableRule ("ENABLED") / DisableRule ("DISABLED"); ResourceNotFoundException."""
        bus = self.bus(event_bus_name)
        with self.cloud.state.transaction():
            doc = self._rule(bus, name)
            doc["State"] = state
            self.cloud.state.put(RULE, _key(bus, name), doc)

    # -- targets -------------------------------------------------------------------------------

    def put_targets(
        self, *, rule: str, targets: list[dict[str, Any]], event_bus_name: str | None = None
    ) -> list[dict[str, Any]]:
        """Add or replace targets (AWS's Target shape) by Id; the failed entries (none: AWS
        refuses the whole call for malformed input, ValidationException). LimitExceededException
        above MAX_TARGETS."""
        bus = self.bus(event_bus_name)
        failed: list[dict[str, Any]] = []
        with self.cloud.state.transaction():
            doc = self._rule(bus, rule)
            by_id = {t["Id"]: t for t in doc["_Targets"]}
            for target in targets:
                reason = _target_error(target)
                if reason:
                    raise ValidationException(reason)
                by_id[target["Id"]] = target
            if len(by_id) > MAX_TARGETS:
                raise LimitExceededException(
                    f"The requested resource exceeds the maximum number allowed ({MAX_TARGETS} targets per rule)."
                )
            doc["_Targets"] = list(by_id.values())
            self.cloud.state.put(RULE, _key(bus, rule), doc)
        return failed

    def list_targets(self, *, rule: str, event_bus_name: str | None = None) -> list[dict[str, Any]]:
        """A rule's targets in the order they were added; ResourceNotFoundException."""
        targets: list[dict[str, Any]] = self._rule(self.bus(event_bus_name), rule)["_Targets"]
        return targets

    def remove_targets(self, *, rule: str, ids: list[str], event_bus_name: str | None = None) -> None:
        """Remove targets by Id (unknown Ids are ignored); ResourceNotFoundException."""
        bus = self.bus(event_bus_name)
        with self.cloud.state.transaction():
            doc = self._rule(bus, rule)
            remove = set(ids)
            doc["_Targets"] = [t for t in doc["_Targets"] if t["Id"] not in remove]
            self.cloud.state.put(RULE, _key(bus, rule), doc)

    # -- events --------------------------------------------------------------------------------

    def _envelope(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The event as rules see it and targets receive it; InvalidArgument / MalformedDetail
        for a bad entry."""
        for field in ("Source", "DetailType", "Detail"):
            if not entry.get(field):
                raise InvalidArgument(f"Parameter {field} is not valid. Reason: {field} is a required argument.")
        try:
            detail = json.loads(entry["Detail"])
        except ValueError:
            detail = None
        if not isinstance(detail, dict):  # AWS requires a JSON object here
            raise MalformedDetail("Detail is malformed.")
        when = entry.get("Time")
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": self.cloud.config.account_id,
            "time": _iso(float(when) if when is not None else _now()),
            "region": self.cloud.config.region,
            "resources": entry.get("Resources") or [],
            "detail": detail,
        }

    def _pattern_rules(self) -> list[tuple[dict[str, Any], Pattern]]:
        rules = [
            r
            for r in self.cloud.state.list(RULE, _key(DEFAULT_BUS, ""))
            if r["State"] == "ENABLED" and r.get("EventPattern")
        ]
        return [(r, compile_pattern(r["EventPattern"])) for r in rules]

    def _route(self, event: dict[str, Any], compiled: list[tuple[dict[str, Any], Pattern]]) -> None:
        self.event_log.add_event(event, DEFAULT_BUS)
        for rule, pattern in compiled:
            if pattern.matches(event):
                self.deliver_to_rule(event, rule)

    def deliver_to_rule(self, event: dict[str, Any], rule: dict[str, Any]) -> None:
        """Send an (already logged) event to every target of one rule (a RULE document),
        logging each outcome."""
        for target in rule["_Targets"]:
            self.event_log.add_match(
                event["id"], rule["Name"], target["Id"], target["Arn"], self._deliver(event, rule, target)
            )

    def put_events(self, *, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """PutEvents' result entries, one per entry ({"EventId"} or {"ErrorCode",
        "ErrorMessage"}). An entry for a bus that does not exist gets an EventId, as on AWS,
        and goes nowhere."""
        compiled = self._pattern_rules()
        results: list[dict[str, Any]] = []
        for entry in entries:
            try:
                event = self._envelope(entry)
            except AwsError as error:
                results.append({"ErrorCode": error.code, "ErrorMessage": error.message})
                continue
            results.append({"EventId": event["id"]})
            if not self._bus_exists(entry.get("EventBusName")):
                continue
            self._route(event, compiled)
        return results

    def put_service_event(
        self,
        source: str,
        detail_type: str,
        detail: dict[str, Any],
        resources: list[str] | None = None,
        when: float | None = None,
    ) -> None:
        """An event an AWS service puts on the default bus (CloudWatch's alarm state changes):
        the same envelope and rule matching as PutEvents, without PutEvents' refusal of `aws.`
        sources, which only applies to customers. `when` (epoch s) stamps the event; now by
        default."""
        stamp = when if when is not None else _now()
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "account": self.cloud.config.account_id,
            "time": _iso(stamp),
            "region": self.cloud.config.region,
            "resources": resources or [],
            "detail": detail,
        }
        self._route(event, self._pattern_rules())

    def _deliver(self, event: dict[str, Any], rule: dict[str, Any], target: dict[str, Any]) -> str:
        """Send one event to one rule's target; the outcome string is what the log records."""
        arn: str = target["Arn"]
        parts = arn.split(":", 5)
        if len(parts) == 6 and parts[2] == "sagemaker" and parts[5].startswith("pipeline/"):
            return self._start_pipeline(event, rule, target, parts[5].split("/", 1)[1])
        return "unsupported target"

    def _start_pipeline(self, event: dict[str, Any], rule: dict[str, Any], target: dict[str, Any], name: str) -> str:
        cloud = self.cloud
        overrides = (target.get("SageMakerPipelineParameters") or {}).get("PipelineParameterList") or []
        # One token per (event, rule, target) — a target Id is unique only within its rule: a
        # redelivery would not start a second execution, two rules matching one event start two.
        key = f"{event['id']}/{rule.get('EventBusName', 'default')}/{rule['Name']}/{target['Id']}"
        token = hashlib.sha256(key.encode()).hexdigest()[:40]
        request: dict[str, Any] = {
            "PipelineName": target["Arn"],
            "ClientRequestToken": token,
            "PipelineExecutionDescription": f"EventBridge event {event['id']}",
        }
        if overrides:
            request["PipelineParameters"] = [{"Name": p["Name"], "Value": p["Value"]} for p in overrides]
        if cloud.recorder is not None:  # EventBridge calls the target as the target's RoleArn
            cloud.recorder.call(
                target.get("RoleArn") or "",
                "sagemaker",
                "StartPipelineExecution",
                request,
                via=f"events target {target['Id']}",
            )
        try:
            result = cloud.client("sagemaker").call("StartPipelineExecution", request)
        except AwsError as error:
            if error.code in ("ResourceNotFound", "ResourceNotFoundException"):
                return f"failed: pipeline {name} does not exist"
            return f"failed: {error.code}: {error.message}"
        except Exception as error:  # noqa: BLE001 — a target bug must not fail PutEvents
            return f"failed: {type(error).__name__}: {error}"
        return f"started {result['PipelineExecutionArn']}"

    # -- schedules -----------------------------------------------------------------------------

    def _fire_if_due(self, rule: dict[str, Any], now: float) -> int:
        """Fire one scheduled rule if it is due at `now`; 1 if it fired. A schedule with no run
        left (a cron whose years are all past, which PutRule accepts as AWS does) never fires."""
        cloud = self.cloud
        key = f"{rule['EventBusName']}/{rule['Name']}"
        try:
            schedule = parse(rule["ScheduleExpression"])
        except ScheduleError:
            return 0  # PutRule refuses these; an old state file could still hold one
        with cloud.state.transaction():
            state = cloud.state.get(SCHEDULE, key)
            if state is None or state["expression"] != schedule.expression:
                state = {
                    "rule": key,
                    "expression": schedule.expression,
                    "created": now,
                    "next": _next_run(schedule, now, now),
                }
                cloud.state.put(SCHEDULE, key, state)
                return 0
            due = state["next"]
            if due is None or due > now + 0.001:  # datetime round trips cost a microsecond now and then
                return 0
            # Missed runs (localcloud stopped) are skipped, not made up.
            state["next"] = _next_run(schedule, max(now, due), state["created"])
            cloud.state.put(SCHEDULE, key, state)
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": cloud.config.account_id,
            "time": _iso(due),
            "region": cloud.config.region,
            "resources": [rule["Arn"]],
            "detail": {},
        }
        self.event_log.add_event(event, rule["EventBusName"])
        self.deliver_to_rule(event, rule)
        log.info("rule %s (%s) fired", rule["Name"], schedule.expression)
        return 1

    def tick(self, now: float) -> int:
        """Fire every enabled scheduled rule that is due at `now` (epoch s); the number fired.
        Called every second by the server's clock."""
        cloud = self.cloud
        fired = 0
        rules = [r for r in cloud.state.list(RULE) if r.get("ScheduleExpression") and r.get("State") == "ENABLED"]
        live = set()
        for rule in rules:
            live.add(f"{rule['EventBusName']}/{rule['Name']}")
            try:
                fired += self._fire_if_due(rule, now)
            except Exception:  # noqa: BLE001 — one rule never stops the clock for the others
                log.exception("rule %s: schedule tick failed", rule.get("Name"))
        # A deleted or disabled rule forgets its schedule: re-enabled, it counts from then.
        for doc in cloud.state.list(SCHEDULE):
            if doc["rule"] not in live:
                cloud.state.delete(SCHEDULE, doc["rule"])
        return fired

    # -- the log -------------------------------------------------------------------------------

    def list_events(self, limit: int = 20) -> list[dict[str, Any]]:
        """Recent events, newest first, each with its rule matches and their outcomes."""
        return self.event_log.events(limit)

    def list_matches(self, limit: int = 50) -> list[dict[str, Any]]:
        """Recent rule matches (event id, rule, target, outcome), newest first."""
        return self.event_log.matches(limit)
