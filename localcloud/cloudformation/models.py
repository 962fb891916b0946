"""CloudFormation's backend, reached as `cloud.cloudformation`: stacks, their resources and events.

A stack operation is checked when it is asked for (the template, its parameters, the
capabilities, the resource types, the dependency graph: CloudFormation's synchronous
ValidationErrors), then runs on a background thread as CloudFormation runs it, so
DescribeStacks shows CREATE_IN_PROGRESS, UPDATE_IN_PROGRESS ... while it works:

- create: each resource whose Condition holds, after the resources it depends on (DependsOn,
  Ref, Fn::GetAtt, Fn::Sub), through its handler (handlers.py); then the Outputs. A failure:
  CREATE_FAILED for the resource, ROLLBACK_IN_PROGRESS "The following resource(s) failed to
  create: [X]. Rollback requested by user.", the created resources deleted in reverse order
  (DeletionPolicy Retain: DELETE_SKIPPED), ROLLBACK_COMPLETE (OnFailure=DO_NOTHING: CREATE_FAILED;
  OnFailure=DELETE: DELETE_COMPLETE).
- update: new resources created, changed ones updated (or replaced when a create-only property
  changed: the new one is created first, the old one deleted in UPDATE_COMPLETE_CLEANUP_IN_PROGRESS),
  removed ones deleted in the cleanup. A failure rolls every change back
  (UPDATE_ROLLBACK_IN_PROGRESS ... UPDATE_ROLLBACK_COMPLETE). An update that changes nothing is
  refused: "No updates are to be performed."
- delete: every resource in reverse dependency order; DELETE_COMPLETE (the stack then answers
  only to its StackId), or DELETE_FAILED "The following resource(s) failed to delete: [X]. ".

Resources are created one at a time in dependency order (CloudFormation creates independent ones
in parallel), so no resource is ever in progress when another fails and "Resource creation
cancelled" never appears. Wording of statuses and reasons: AWS's (CloudFormation User Guide, "Stack status codes" and
"Troubleshooting"; the reasons as AWS's console and DescribeStackEvents show them, e.g.
"Resource creation cancelled", "The following resource(s) failed to create: [X]. Rollback
requested by user."). State: stacks (kind `cfn-stack`, by StackId) and events (kind `cfn-event`)
in the StateStore; a stack interrupted by a stop of localcloud is marked failed when localcloud
starts again, with the reason saying so.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import os
import re
import threading
import uuid
from typing import TYPE_CHECKING, Any

from localcloud.cloudformation import schemas
from localcloud.cloudformation.exceptions import (
    AlreadyExistsException,
    InsufficientCapabilitiesException,
    ValidationError,
)
from localcloud.cloudformation.handlers import HANDLERS, Context, Handler, HandlerError
from localcloud.cloudformation.template import NO_VALUE, Resolver, TemplateError, loads, order
from localcloud.errors import AwsError
from localcloud.shapes import compiled

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

log = logging.getLogger("localcloud.cloudformation")

STACK = "cfn-stack"
EVENT = "cfn-event"
STACK_TYPE = "AWS::CloudFormation::Stack"
UPDATABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
INTERRUPTED = {
    "CREATE_IN_PROGRESS": "CREATE_FAILED",
    "ROLLBACK_IN_PROGRESS": "ROLLBACK_FAILED",
    "UPDATE_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_ROLLBACK_FAILED",
    "DELETE_IN_PROGRESS": "DELETE_FAILED",
}
NOT_SUPPORTED = "Resource type {} is not supported locally (localcloud)"
# Resource attributes localcloud acts on (CreationPolicy, UpdatePolicy: refused, naming them).
RESOURCE_ATTRIBUTES = {
    "Type",
    "Properties",
    "DependsOn",
    "Condition",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "Metadata",
}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Failed(Exception):
    """A resource failed: its logical id and the reason."""

    def __init__(self, logical_id: str, reason: str):
        super().__init__(reason)
        self.logical_id, self.reason = logical_id, reason


class CloudFormationBackend:
    """Stacks of one LocalCloud. Stack documents are shaped like DescribeStacks' Stack, plus
    `_Template` (the body), `_Resources` (logical id -> record) and `_Worker` (the process
    running an operation). Errors: ValidationError, AlreadyExistsException,
    InsufficientCapabilitiesException (localcloud.cloudformation.exceptions)."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self.config = cloud.config
        self._lock = threading.Lock()  # one stack operation's bookkeeping at a time
        self._threads: dict[str, threading.Thread] = {}
        self._mark_interrupted()

    # -- lookup ----------------------------------------------------------------------------------
    def _stacks(self) -> list[dict[str, Any]]:
        return self.cloud.state.list(STACK)

    def find(self, name_or_id: str, *, deleted: bool = True) -> dict[str, Any]:
        """The stack by name (live stacks only) or StackId (deleted ones too): ValidationError
        "Stack with id X does not exist"."""
        if name_or_id.startswith("arn:"):
            found = self.cloud.state.get(STACK, name_or_id)
            if found is not None and (deleted or found["StackStatus"] != "DELETE_COMPLETE"):
                return found
        else:
            for doc in self._stacks():
                if doc["StackName"] == name_or_id and doc["StackStatus"] != "DELETE_COMPLETE":
                    return doc
        raise ValidationError(f"Stack with id {name_or_id} does not exist")

    def describe_stacks(self, name: str | None = None) -> list[dict[str, Any]]:
        """DescribeStacks' Stacks (NoEcho parameters as "****"); every live stack without a name."""
        docs = [self.find(name)] if name else [d for d in self._stacks() if d["StackStatus"] != "DELETE_COMPLETE"]
        return [self._public(d) for d in docs]

    def _public(self, doc: dict[str, Any]) -> dict[str, Any]:
        template = loads(doc["_Template"])
        params = template.get("Parameters") or {}
        out = {k: copy.deepcopy(v) for k, v in doc.items() if not k.startswith("_")}
        for parameter in out.get("Parameters", []):
            if str(params.get(parameter["ParameterKey"], {}).get("NoEcho", "false")).lower() == "true":
                parameter["ParameterValue"] = "****"
        return out

    def events(self, name: str) -> list[dict[str, Any]]:
        """DescribeStackEvents' StackEvents, newest first."""
        stack = self.find(name)
        return list(reversed(self.cloud.state.list(EVENT, stack["StackId"] + "|")))

    def resources(self, name: str, logical_id: str | None = None) -> list[dict[str, Any]]:
        """DescribeStackResources' StackResources (each resource the stack has)."""
        stack = self.find(name)
        out = []
        for record in stack["_Resources"].values():
            if logical_id and record["LogicalResourceId"] != logical_id:
                continue
            out.append(
                {
                    "StackName": stack["StackName"],
                    "StackId": stack["StackId"],
                    **{k: v for k, v in record.items() if not k.startswith("_")},
                }
            )
        return out

    def template_body(self, name: str) -> str:
        return str(self.find(name)["_Template"])

    # -- validation ------------------------------------------------------------------------------
    def validate_template(self, body: str) -> dict[str, Any]:
        """ValidateTemplate's result: Parameters, Description, Capabilities, CapabilitiesReason."""
        template = self._parse(body)
        out: dict[str, Any] = {
            "Parameters": [
                {
                    "ParameterKey": key,
                    **({"DefaultValue": str(spec["Default"])} if "Default" in spec else {}),
                    "NoEcho": str(spec.get("NoEcho", "false")).lower() == "true",
                    **({"Description": spec["Description"]} if "Description" in spec else {}),
                }
                for key, spec in (template.get("Parameters") or {}).items()
            ],
        }
        if "Description" in template:
            out["Description"] = template["Description"]
        needed = self._capability(template)
        if needed:
            out["Capabilities"] = [needed]
            out["CapabilitiesReason"] = "The following resource(s) require capabilities: [AWS::IAM::Role]"
        return out

    def _parse(self, body: str) -> dict[str, Any]:
        try:
            template = loads(body)
        except TemplateError as error:
            raise ValidationError(str(error)) from None
        for section in ("Transform", "Rules"):
            if section in template:  # macros (SAM) and template rules: refused, never ignored
                raise ValidationError(f"Template section {section} is not supported locally (localcloud)")
        resources = template.get("Resources")
        if not isinstance(resources, dict) or not resources:
            raise ValidationError("Template format error: At least one Resources member must be defined.")
        _check_sections(template)
        unknown = [
            r.get("Type") for r in resources.values() if not schemas.known(str(r.get("Type")), self.config.region)
        ]
        if unknown:
            raise ValidationError(
                f"Template format error: Unrecognized resource types: [{', '.join(map(str, unknown))}]"
            )
        try:
            order(template)
        except TemplateError as error:
            raise ValidationError(str(error)) from None
        except (TypeError, AttributeError, IndexError, KeyError):  # an intrinsic function's arguments
            raise ValidationError("Template format error: malformed intrinsic function arguments") from None
        return template

    @staticmethod
    def _capability(template: dict[str, Any]) -> str | None:
        """The capability the template's IAM resources need: CAPABILITY_NAMED_IAM for a named
        role, CAPABILITY_IAM otherwise (CloudFormation User Guide, "Acknowledging IAM resources")."""
        roles = [r for r in template["Resources"].values() if r.get("Type") == "AWS::IAM::Role"]
        if any("RoleName" in (r.get("Properties") or {}) for r in roles):
            return "CAPABILITY_NAMED_IAM"
        return "CAPABILITY_IAM" if roles else None

    def _parameters(
        self, template: dict[str, Any], given: list[dict[str, Any]], previous: dict[str, str] | None = None
    ) -> dict[str, str]:
        """The stack's parameter values, checked as CloudFormation checks them."""
        specs = template.get("Parameters") or {}
        values: dict[str, str] = {}
        unknown = [p["ParameterKey"] for p in given if p["ParameterKey"] not in specs]
        if unknown:
            raise ValidationError(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
        for item in given:
            key = item["ParameterKey"]
            if item.get("UsePreviousValue"):
                if previous is None or key not in previous:
                    raise ValidationError(
                        f"Invalid input for parameter key {key}. Cannot specify usePreviousValue "
                        "as true for a parameter key not in the previous template"
                    )
                values[key] = previous[key]
            elif "ParameterValue" in item:
                values[key] = str(item["ParameterValue"])
        missing = []
        for key, spec in specs.items():
            if key not in values:
                if "Default" in spec:
                    values[key] = str(spec["Default"])
                else:
                    missing.append(key)
        if missing:
            raise ValidationError(f"Parameters: [{', '.join(missing)}] must have values")
        for key, spec in specs.items():
            self._check_parameter(key, spec, values[key])
        return values

    @staticmethod
    def _check_parameter(key: str, spec: dict[str, Any], value: str) -> None:
        kind = spec.get("Type", "String")
        if kind not in ("String", "Number", "CommaDelimitedList", "List<Number>"):
            raise ValidationError(f"Parameter '{key}': type {kind} is not supported locally (localcloud)")
        allowed = spec.get("AllowedValues")
        items = value.split(",") if kind in ("CommaDelimitedList", "List<Number>") else [value]
        for item in items:
            if allowed is not None and item not in [str(a) for a in allowed]:
                raise ValidationError(f"Parameter '{key}' must be one of AllowedValues")
            if "AllowedPattern" in spec and not compiled(str(spec["AllowedPattern"])).fullmatch(item):
                raise ValidationError(f"Parameter '{key}' must match pattern {spec['AllowedPattern']}")
            if kind in ("Number", "List<Number>"):
                try:
                    number = float(item)
                except ValueError:
                    raise ValidationError(f"Parameter '{key}' must be a number.") from None
                if "MinValue" in spec and number < float(spec["MinValue"]):
                    raise ValidationError(f"Parameter '{key}' must be a number not less than {spec['MinValue']}")
                if "MaxValue" in spec and number > float(spec["MaxValue"]):
                    raise ValidationError(f"Parameter '{key}' must be a number not greater than {spec['MaxValue']}")
        if "MinLength" in spec and len(value) < int(spec["MinLength"]):
            raise ValidationError(f"Parameter '{key}' must contain at least {spec['MinLength']} characters")
        if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
            raise ValidationError(f"Parameter '{key}' must contain at most {spec['MaxLength']} characters")

    def _check_capabilities(self, template: dict[str, Any], capabilities: list[str]) -> None:
        needed = self._capability(template)
        if needed == "CAPABILITY_NAMED_IAM" and needed not in capabilities:
            raise InsufficientCapabilitiesException(f"Requires capabilities : [{needed}]")
        if needed == "CAPABILITY_IAM" and not {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} & set(capabilities):
            raise InsufficientCapabilitiesException(f"Requires capabilities : [{needed}]")

    def _resolver(self, stack: dict[str, Any], template: dict[str, Any], values: dict[str, str]) -> Resolver:
        specs = template.get("Parameters") or {}
        typed: dict[str, Any] = {
            k: (v.split(",") if specs[k].get("Type") in ("CommaDelimitedList", "List<Number>") else v)
            for k, v in values.items()
        }
        resources = stack.get("_Resources", {})
        return Resolver(
            template,
            self.config.account_id,
            self.config.region,
            typed,
            {k: r["PhysicalResourceId"] for k, r in resources.items()},
            attributes={(k, a): v for k, r in resources.items() for a, v in r.get("_Attributes", {}).items()},
            stack_name=stack["StackName"],
            stack_id=stack["StackId"],
            strict=True,
        )

    def _check_conditions(self, template: dict[str, Any], resolver: Resolver) -> None:
        try:
            for name in template.get("Conditions") or {}:
                resolver.condition(name)
            for resource in template["Resources"].values():
                if "Condition" in resource:
                    resolver.condition(resource["Condition"])
        except TemplateError as error:
            raise ValidationError(str(error)) from None

    # -- operations --------------------------------------------------------------------------------
    def create_stack(
        self,
        name: str,
        body: str,
        parameters: list[dict[str, Any]] | None = None,
        capabilities: list[str] | None = None,
        on_failure: str | None = None,
        disable_rollback: bool = False,
        tags: list[dict[str, str]] | None = None,
        wait: bool = False,
    ) -> str:
        """CreateStack: the new StackId; the work runs on a thread (`wait`: on this one)."""
        if not re.fullmatch(r"[a-zA-Z][-a-zA-Z0-9]{0,127}", name):
            # AWS's answer for a name outside its pattern (CreateStack, StackName: "must start with
            # an alphabetical character", at most 128 characters).
            raise ValidationError(
                f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*|arn:[-a-zA-Z0-9:/._+]*"
            )
        template = self._parse(body)
        values = self._parameters(template, parameters or [])
        self._check_capabilities(template, capabilities or [])
        stack_id = self.config.arn("cloudformation", f"stack/{name}/{uuid.uuid4()}")
        stack: dict[str, Any] = {
            "StackId": stack_id,
            "StackName": name,
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
            "CreationTime": _now(),
            "StackStatus": "CREATE_IN_PROGRESS",
            "DisableRollback": bool(disable_rollback or on_failure == "DO_NOTHING"),
            "Capabilities": list(capabilities or []),
            "Tags": list(tags or []),
            "Outputs": [],
            "_Template": body,
            "_Resources": {},
            "_OnFailure": on_failure or ("DO_NOTHING" if disable_rollback else "ROLLBACK"),
            "_Worker": os.getpid(),
        }
        if "Description" in template:
            stack["Description"] = template["Description"]
        self._check_conditions(template, self._resolver(stack, template, values))
        with self._lock, self.cloud.state.transaction():
            if any(d["StackName"] == name and d["StackStatus"] != "DELETE_COMPLETE" for d in self._stacks()):
                raise AlreadyExistsException(f"Stack [{name}] already exists")
            self.cloud.state.put(STACK, stack_id, stack)
        self._event(stack, "CREATE_IN_PROGRESS", "User Initiated")
        self._run(stack_id, self._create, wait)
        return stack_id

    def update_stack(
        self,
        name: str,
        body: str | None,
        parameters: list[dict[str, Any]] | None = None,
        capabilities: list[str] | None = None,
        wait: bool = False,
    ) -> str:
        """UpdateStack (body None: UsePreviousTemplate): the StackId."""
        stack = self.find(name, deleted=False)
        if stack["StackStatus"] not in UPDATABLE:
            raise ValidationError(
                f"Stack:{stack['StackId']} is in {stack['StackStatus']} state and can not be updated."
            )
        body = stack["_Template"] if body is None else body
        template = self._parse(body)
        previous = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
        values = self._parameters(template, parameters or [], previous)
        self._check_capabilities(template, capabilities or [])
        self._check_conditions(template, self._resolver(stack, template, values))
        if loads(stack["_Template"]) == template and previous == values:
            raise ValidationError("No updates are to be performed.")
        with self._lock, self.cloud.state.transaction():
            current = self.find(stack["StackId"])
            if current["StackStatus"] not in UPDATABLE:
                raise ValidationError(
                    f"Stack:{stack['StackId']} is in {current['StackStatus']} state and can not be updated."
                )
            current["_Previous"] = {
                "_Template": current["_Template"],
                "Parameters": current["Parameters"],
                "_Resources": current["_Resources"],
                "Outputs": current["Outputs"],
            }
            current.update(
                {
                    "_Template": body,
                    "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
                    "Capabilities": list(capabilities or []),
                    "StackStatus": "UPDATE_IN_PROGRESS",
                    "LastUpdatedTime": _now(),
                    "_Worker": os.getpid(),
                }
            )
            current.pop("StackStatusReason", None)
            self.cloud.state.put(STACK, current["StackId"], current)
        self._event(current, "UPDATE_IN_PROGRESS", "User Initiated")
        self._run(current["StackId"], self._update, wait)
        return str(current["StackId"])

    def delete_stack(self, name: str, retain: list[str] | None = None, wait: bool = False) -> None:
        """DeleteStack; a stack that does not exist is no error (CloudFormation answers 200)."""
        try:
            stack = self.find(name, deleted=False)
        except ValidationError:
            return
        if retain and stack["StackStatus"] != "DELETE_FAILED":
            raise ValidationError(
                f"Invalid operation on stack {stack['StackId']}. RetainResources "
                "can only be specified when the stack is in the DELETE_FAILED state"
            )
        with self._lock:
            stack = self.find(stack["StackId"])
            if stack["StackStatus"].endswith("_IN_PROGRESS"):
                raise ValidationError(
                    f"Stack {stack['StackId']} is in {stack['StackStatus']} state and "
                    "can not be deleted now (localcloud waits for the operation to end)"
                )
            stack["StackStatus"] = "DELETE_IN_PROGRESS"
            stack["_Retain"] = list(retain or [])
            stack["_Worker"] = os.getpid()
            stack.pop("StackStatusReason", None)
            self.cloud.state.put(STACK, stack["StackId"], stack)
        self._event(stack, "DELETE_IN_PROGRESS", "User Initiated")
        self._run(stack["StackId"], self._delete, wait)

    def wait(self, stack_id: str, timeout: float | None = None) -> None:
        """Wait for this process's operation on the stack to end (tests, the CLI in-process)."""
        thread = self._threads.get(stack_id)
        if thread is not None:
            thread.join(timeout)

    # -- the worker ----------------------------------------------------------------------------------
    def _run(self, stack_id: str, work: Any, wait: bool) -> None:
        def target() -> None:
            try:
                work(stack_id)
            except Exception:  # a fault of localcloud's: the stack must not stay IN_PROGRESS
                log.exception("stack operation on %s failed", stack_id)
                stack = self.find(stack_id)
                failed = INTERRUPTED.get(stack["StackStatus"], stack["StackStatus"])
                self._status(stack, failed, "Internal failure in localcloud (see its log)")
            finally:
                _RUNNING.discard(stack_id)

        thread = threading.Thread(target=target, name=f"cfn-{stack_id.rsplit('/', 2)[-2]}", daemon=True)
        self._threads[stack_id] = thread
        _RUNNING.add(stack_id)
        thread.start()
        if wait:
            thread.join()

    def _save(self, stack: dict[str, Any]) -> None:
        self.cloud.state.put(STACK, stack["StackId"], stack)

    def _status(self, stack: dict[str, Any], status: str, reason: str | None = None) -> None:
        stack["StackStatus"] = status
        if reason:
            stack["StackStatusReason"] = reason
        else:
            stack.pop("StackStatusReason", None)
        if not status.endswith("_IN_PROGRESS"):
            stack.pop("_Worker", None)
        if status == "DELETE_COMPLETE":
            stack["DeletionTime"] = _now()
        self._save(stack)
        self._event(stack, status, reason)

    def _event(
        self,
        stack: dict[str, Any],
        status: str,
        reason: str | None = None,
        logical_id: str | None = None,
        resource_type: str = STACK_TYPE,
        physical_id: str | None = None,
    ) -> None:
        event = {
            "StackId": stack["StackId"],
            "EventId": str(uuid.uuid4()),
            "StackName": stack["StackName"],
            "LogicalResourceId": logical_id or stack["StackName"],
            "PhysicalResourceId": physical_id if logical_id else stack["StackId"],
            "ResourceType": resource_type,
            "Timestamp": _now(),
            "ResourceStatus": status,
        }
        if event["PhysicalResourceId"] is None:
            event["PhysicalResourceId"] = ""
        if reason:
            event["ResourceStatusReason"] = reason
        seq = self.cloud.state.next_value(f"cfn-event/{stack['StackId']}")
        self.cloud.state.put(EVENT, f"{stack['StackId']}|{seq:010d}", event)

    def _record(
        self, stack: dict[str, Any], logical_id: str, status: str, reason: str | None = None, **fields: Any
    ) -> None:
        record = stack["_Resources"].setdefault(logical_id, {"LogicalResourceId": logical_id})
        record.update(fields)
        record.update({"ResourceStatus": status, "Timestamp": _now(), "LastUpdatedTimestamp": _now()})
        if reason:
            record["ResourceStatusReason"] = reason
        else:
            record.pop("ResourceStatusReason", None)
        self._save(stack)
        self._event(
            stack,
            status,
            reason,
            logical_id,
            record.get("ResourceType", ""),
            record.get("PhysicalResourceId", ""),
        )

    def _handler(self, resource_type: str) -> Handler:
        factory = HANDLERS.get(resource_type)
        if factory is None:
            raise HandlerError(NOT_SUPPORTED.format(resource_type))
        return factory()

    def _properties(self, logical_id: str, resource: dict[str, Any], resolver: Resolver) -> dict[str, Any]:
        """The resource's properties resolved, checked against AWS's schema and the handler."""
        kind = resource["Type"]
        for attribute in set(resource) - RESOURCE_ATTRIBUTES:
            raise HandlerError(f"Resource attribute {attribute} is not supported locally (localcloud)")
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if resource.get(policy, "Delete") not in ("Delete", "Retain", "RetainExceptOnCreate"):
                raise HandlerError(f"{policy} {resource[policy]} is not supported locally (localcloud)")
        try:
            props = resolver.resolve(resource.get("Properties") or {})
        except TemplateError as error:
            raise HandlerError(str(error)) from None
        except (TypeError, AttributeError, IndexError, KeyError, ValueError) as error:
            raise HandlerError(
                f"Template error: an intrinsic function of {logical_id} is malformed ({error})"
            ) from None
        handler = self._handler(kind)
        region = self.config.region
        allowed = schemas.properties(kind, region)
        for key in props:
            if key not in allowed:
                raise HandlerError(f"Encountered unsupported property {key}")
        missing = [key for key in schemas.required(kind, region) if key not in props]
        if missing:
            raise HandlerError(
                f"Properties validation failed for resource {logical_id} "
                f"with message: #: required key [{missing[0]}] not found"
            )
        for key in props:
            if key not in handler.emulated | handler.recorded:
                raise HandlerError(f"Property {key} of {kind} is not supported locally (localcloud)")
        return schemas.coerce(kind, region, props)

    def _included(self, template: dict[str, Any], resolver: Resolver) -> list[str]:
        resources = template["Resources"]

        def holds(name: str) -> bool:
            condition = resources[name].get("Condition")
            return condition is None or resolver.condition(condition)

        return order(template, holds)

    def _context(self, stack: dict[str, Any], logical_id: str) -> Context:
        return Context(self.cloud, stack["StackName"], logical_id)

    def _create_resource(
        self, stack: dict[str, Any], logical_id: str, resource: dict[str, Any], resolver: Resolver
    ) -> None:
        kind = resource["Type"]
        self._record(stack, logical_id, "CREATE_IN_PROGRESS", ResourceType=kind, PhysicalResourceId="")
        try:
            props = self._properties(logical_id, resource, resolver)
            stack["_Resources"][logical_id]["_Properties"] = props
            created = self._handler(kind).create(self._context(stack, logical_id), props)
        except (HandlerError, AwsError) as error:  # AwsError: a service refused it
            self._record(stack, logical_id, "CREATE_FAILED", error.message)
            raise _Failed(logical_id, error.message) from None
        self._record(
            stack,
            logical_id,
            "CREATE_COMPLETE",
            PhysicalResourceId=created.physical_id,
            _Attributes=created.attributes,
            _DeletionPolicy=resource.get("DeletionPolicy", "Delete"),
            _UpdateReplacePolicy=resource.get("UpdateReplacePolicy", "Delete"),
        )
        resolver.physical_ids[logical_id] = created.physical_id
        resolver.attributes.update({(logical_id, a): v for a, v in created.attributes.items()})

    def _delete_resource(self, stack: dict[str, Any], logical_id: str, *, creating: bool, retain: bool = False) -> bool:
        """Delete one resource of the stack's record; False if it failed (DELETE_FAILED)."""
        record = stack["_Resources"][logical_id]
        policy = record.get("_DeletionPolicy", "Delete")
        if record["ResourceStatus"] == "CREATE_FAILED" or not record.get("PhysicalResourceId"):
            stack["_Resources"].pop(logical_id)
            self._save(stack)
            return True
        if retain or policy == "Retain" or (policy == "RetainExceptOnCreate" and not creating):
            self._record(stack, logical_id, "DELETE_SKIPPED")
            stack["_Resources"].pop(logical_id)
            self._save(stack)
            return True
        self._record(stack, logical_id, "DELETE_IN_PROGRESS")
        try:
            self._handler(record["ResourceType"]).delete(
                self._context(stack, logical_id), record["PhysicalResourceId"], record.get("_Properties", {})
            )
        except (HandlerError, AwsError) as error:  # AwsError: a service refused it
            self._record(stack, logical_id, "DELETE_FAILED", error.message)
            return False
        self._record(stack, logical_id, "DELETE_COMPLETE")
        stack["_Resources"].pop(logical_id)
        self._save(stack)
        return True

    def _outputs(self, stack: dict[str, Any], template: dict[str, Any], resolver: Resolver) -> list[dict[str, Any]]:
        outputs = []
        for key, spec in (template.get("Outputs") or {}).items():
            if "Condition" in spec and not resolver.condition(spec["Condition"]):
                continue
            value = resolver.resolve(spec.get("Value"))
            if value is NO_VALUE:
                continue
            out = {
                "OutputKey": key,
                "OutputValue": ",".join(map(str, value)) if isinstance(value, list) else str(value),
            }
            if "Description" in spec:
                out["Description"] = spec["Description"]
            if "Export" in spec:
                export = str(resolver.resolve(spec["Export"]["Name"]))
                for other in self._stacks():
                    if other["StackId"] == stack["StackId"] or other["StackStatus"] == "DELETE_COMPLETE":
                        continue
                    if any(o.get("ExportName") == export for o in other.get("Outputs", [])):
                        raise TemplateError(
                            f"Export with name {export} is already exported by stack {other['StackName']}"
                        )
                out["ExportName"] = export
            outputs.append(out)
        return outputs

    def _create(self, stack_id: str) -> None:
        stack = self.find(stack_id)
        template = loads(stack["_Template"])
        values = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
        resolver = self._resolver(stack, template, values)
        try:
            for logical_id in self._included(template, resolver):
                self._create_resource(stack, logical_id, template["Resources"][logical_id], resolver)
            try:
                stack["Outputs"] = self._outputs(stack, template, resolver)
            except TemplateError as error:
                raise _Failed("", str(error)) from None
        except _Failed as failure:
            failed = [failure.logical_id] if failure.logical_id else []
            reason = (
                f"The following resource(s) failed to create: [{', '.join(failed)}]. "
                if failed
                else f"{failure.reason}. "
            )
            if stack["_OnFailure"] == "DO_NOTHING":
                self._status(stack, "CREATE_FAILED", reason)
                return
            if stack["_OnFailure"] == "DELETE":
                self._status(stack, "DELETE_IN_PROGRESS", reason + "Delete requested by user.")
                self._delete_all(stack, creating=True)
                return
            self._status(stack, "ROLLBACK_IN_PROGRESS", reason + "Rollback requested by user.")
            ok = self._delete_in_reverse(stack, template, creating=True)
            self._status(stack, "ROLLBACK_COMPLETE" if ok else "ROLLBACK_FAILED")
            return
        self._status(stack, "CREATE_COMPLETE")

    def _delete_in_reverse(
        self, stack: dict[str, Any], template: dict[str, Any], *, creating: bool, only: set[str] | None = None
    ) -> bool:
        ok = True
        known = [name for name in order(template) if name in stack["_Resources"]]
        rest = [name for name in stack["_Resources"] if name not in known]
        retain = set(stack.get("_Retain", []))
        for logical_id in reversed(known + rest):
            if only is not None and logical_id not in only:
                continue
            ok = self._delete_resource(stack, logical_id, creating=creating, retain=logical_id in retain) and ok
        return ok

    def _delete_all(self, stack: dict[str, Any], *, creating: bool = False) -> None:
        template = loads(stack["_Template"])
        if self._delete_in_reverse(stack, template, creating=creating):
            stack["Outputs"] = []
            self._status(stack, "DELETE_COMPLETE")
        else:
            failed = [k for k, r in stack["_Resources"].items() if r["ResourceStatus"] == "DELETE_FAILED"]
            self._status(stack, "DELETE_FAILED", f"The following resource(s) failed to delete: [{', '.join(failed)}]. ")

    def _delete(self, stack_id: str) -> None:
        self._delete_all(self.find(stack_id))

    def _update(self, stack_id: str) -> None:
        stack = self.find(stack_id)
        previous = stack["_Previous"]
        template = loads(stack["_Template"])
        old_template = loads(previous["_Template"])
        values = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
        resolver = self._resolver(stack, template, values)
        replaced: dict[str, dict[str, Any]] = {}  # logical id -> the old record it replaced
        updated: dict[str, dict[str, Any]] = {}  # logical id -> the record before the update
        created: list[str] = []
        try:
            included = self._included(template, resolver)
            for logical_id in included:
                resource = template["Resources"][logical_id]
                old = stack["_Resources"].get(logical_id)
                if old is None:
                    created.append(logical_id)  # before: a failed creation is rolled back too
                    self._create_resource(stack, logical_id, resource, resolver)
                    continue
                self._update_resource(stack, logical_id, resource, resolver, replaced, updated)
            stack["Outputs"] = self._outputs(stack, template, resolver)
        except (_Failed, TemplateError) as failure:
            failed = failure.logical_id if isinstance(failure, _Failed) else ""
            verb = "create" if failed in created else "update"
            reason = f"The following resource(s) failed to {verb}: [{failed}]. " if failed else f"{failure}. "
            self._status(stack, "UPDATE_ROLLBACK_IN_PROGRESS", reason)
            self._roll_back_update(stack, old_template, previous, resolver, replaced, updated, created)
            return
        self._status(stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        removed = [k for k in stack["_Resources"] if k not in included]
        ok = True
        for logical_id in reversed([k for k in order(old_template) if k in removed]):
            ok = self._delete_resource(stack, logical_id, creating=False) and ok
        for logical_id, old_record in replaced.items():
            ok = self._delete_replaced(stack, logical_id, old_record) and ok
        stack.pop("_Previous", None)
        self._status(stack, "UPDATE_COMPLETE")

    def _update_resource(
        self,
        stack: dict[str, Any],
        logical_id: str,
        resource: dict[str, Any],
        resolver: Resolver,
        replaced: dict[str, dict[str, Any]],
        updated: dict[str, dict[str, Any]],
    ) -> None:
        old = stack["_Resources"][logical_id]
        kind = resource["Type"]
        try:
            props = self._properties(logical_id, resource, resolver)
        except (HandlerError, AwsError) as error:  # AwsError: a service refused it
            self._record(stack, logical_id, "UPDATE_FAILED", error.message)
            raise _Failed(logical_id, error.message) from None
        if kind == old["ResourceType"] and props == old.get("_Properties"):
            return  # unchanged: no event, as CloudFormation
        before = copy.deepcopy(old)
        if kind != old["ResourceType"]:
            message = (
                "Update of resource type is not permitted. The new template "
                f"modifies resource type of the following resources: [{logical_id}]"
            )
            self._record(stack, logical_id, "UPDATE_FAILED", message)
            raise _Failed(logical_id, message)
        handler = self._handler(kind)
        create_only = schemas.create_only(kind, self.config.region)
        changed = {
            k for k in set(props) | set(old.get("_Properties", {})) if props.get(k) != old.get("_Properties", {}).get(k)
        }
        context = self._context(stack, logical_id)
        self._record(stack, logical_id, "UPDATE_IN_PROGRESS", _Properties=props)
        try:
            if changed & create_only:
                # A custom name that stays while the resource must be replaced would clash.
                before_props = before.get("_Properties", {})
                kept = [k for k in create_only if k.endswith("Name") and k in props and props[k] == before_props.get(k)]
                if kept:
                    raise HandlerError(
                        "CloudFormation cannot update a stack when a custom-named resource requires "
                        f"replacing. Rename {props[kept[0]]} and update the stack again."
                    )
                self._record(
                    stack,
                    logical_id,
                    "UPDATE_IN_PROGRESS",
                    "Requested update requires the creation of a new physical resource; hence creating one.",
                )
                made = handler.create(context, props)
                replaced[logical_id] = before
                physical, attributes = made.physical_id, made.attributes
            else:
                attributes = handler.update(context, old["PhysicalResourceId"], old.get("_Properties", {}), props)
                physical = old["PhysicalResourceId"]
                updated[logical_id] = before
        except (HandlerError, AwsError) as error:  # AwsError: a service refused it
            if logical_id not in replaced:
                updated.setdefault(logical_id, before)
            self._record(stack, logical_id, "UPDATE_FAILED", error.message)
            raise _Failed(logical_id, error.message) from None
        self._record(
            stack,
            logical_id,
            "UPDATE_COMPLETE",
            PhysicalResourceId=physical,
            _Attributes=attributes,
            _DeletionPolicy=resource.get("DeletionPolicy", "Delete"),
            _UpdateReplacePolicy=resource.get("UpdateReplacePolicy", "Delete"),
        )
        resolver.physical_ids[logical_id] = physical
        resolver.attributes.update({(logical_id, a): v for a, v in attributes.items()})

    def _delete_replaced(self, stack: dict[str, Any], logical_id: str, old_record: dict[str, Any]) -> bool:
        """Delete the physical resource a replacement superseded (the stack's record keeps the new one),
        unless its UpdateReplacePolicy retains it."""
        if old_record.get("_UpdateReplacePolicy", "Delete") == "Retain":
            return True
        self._event(
            stack, "DELETE_IN_PROGRESS", None, logical_id, old_record["ResourceType"], old_record["PhysicalResourceId"]
        )
        try:
            self._handler(old_record["ResourceType"]).delete(
                self._context(stack, logical_id), old_record["PhysicalResourceId"], old_record.get("_Properties", {})
            )
        except (HandlerError, AwsError) as error:  # AwsError: a service refused it
            self._event(
                stack,
                "DELETE_FAILED",
                error.message,
                logical_id,
                old_record["ResourceType"],
                old_record["PhysicalResourceId"],
            )
            return False
        self._event(
            stack, "DELETE_COMPLETE", None, logical_id, old_record["ResourceType"], old_record["PhysicalResourceId"]
        )
        return True

    def _roll_back_update(
        self,
        stack: dict[str, Any],
        old_template: dict[str, Any],
        previous: dict[str, Any],
        resolver: Resolver,
        replaced: dict[str, dict[str, Any]],
        updated: dict[str, dict[str, Any]],
        created: list[str],
    ) -> None:
        ok = True
        for logical_id, before in reversed(list(updated.items())):
            record = stack["_Resources"][logical_id]
            if record.get("_Properties") == before.get("_Properties") and record["ResourceStatus"] != "UPDATE_FAILED":
                continue
            self._record(stack, logical_id, "UPDATE_IN_PROGRESS")
            try:
                self._handler(before["ResourceType"]).update(
                    self._context(stack, logical_id),
                    before["PhysicalResourceId"],
                    record.get("_Properties", {}),
                    before.get("_Properties", {}),
                )
                stack["_Resources"][logical_id] = before
                self._record(stack, logical_id, "UPDATE_COMPLETE")
            except (HandlerError, AwsError) as error:  # AwsError: a service refused it
                self._record(stack, logical_id, "UPDATE_FAILED", error.message)
                ok = False
        self._status(stack, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        for logical_id, before in replaced.items():
            record = stack["_Resources"][logical_id]
            if record["PhysicalResourceId"] != before["PhysicalResourceId"]:
                ok = self._delete_replaced(stack, logical_id, record) and ok
            stack["_Resources"][logical_id] = before
        for logical_id in reversed(created):
            if logical_id in stack["_Resources"]:
                ok = self._delete_resource(stack, logical_id, creating=True) and ok
        stack.update(
            {
                "_Template": previous["_Template"],
                "Parameters": previous["Parameters"],
                "Outputs": previous["Outputs"],
            }
        )
        for logical_id, record in previous["_Resources"].items():
            stack["_Resources"].setdefault(logical_id, record)
        stack.pop("_Previous", None)
        self._status(stack, "UPDATE_ROLLBACK_COMPLETE" if ok else "UPDATE_ROLLBACK_FAILED")

    # -- restart -----------------------------------------------------------------------------------
    def _mark_interrupted(self) -> None:
        """A stack left IN_PROGRESS by a process that is gone ends in the operation's failed state."""
        for stack in self._stacks():
            failed = INTERRUPTED.get(stack["StackStatus"])
            if failed is None or _alive(stack.get("_Worker"), stack["StackId"]):
                continue
            self._status(stack, failed, "localcloud stopped while the stack operation was in progress")


def _check_sections(template: dict[str, Any]) -> None:
    """The shape of each section (Template anatomy, CloudFormation User Guide): ValidationError
    naming the section or entry that is not what CloudFormation accepts."""
    for section in ("Parameters", "Conditions", "Outputs", "Mappings"):
        if section in template and not isinstance(template[section], dict):
            raise ValidationError(f"Template format error: {section} must be an object")
    for name, resource in template["Resources"].items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise ValidationError(
                f"Template format error: [/Resources/{name}] Every Resources object must contain a Type member."
            )
        if not isinstance(resource.get("Properties", {}), dict):
            raise ValidationError(f"Template format error: [/Resources/{name}/Properties] must be an object")
        depends = resource.get("DependsOn", [])
        if not isinstance(depends, str) and not (
            isinstance(depends, list) and all(isinstance(d, str) for d in depends)
        ):
            raise ValidationError(
                f"Template format error: [/Resources/{name}/DependsOn] must be a string or a list of strings"
            )
    for name, spec in (template.get("Parameters") or {}).items():
        if not isinstance(spec, dict):
            raise ValidationError(f"Template format error: [/Parameters/{name}] must be an object")
    for name, spec in (template.get("Outputs") or {}).items():
        if not isinstance(spec, dict) or "Value" not in spec:
            raise ValidationError(f"Template format error: Every Outputs member must contain a Value object ({name})")


_RUNNING: set[str] = set()  # stack ids with an operation running in this process


def _alive(pid: int | None, stack_id: str) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return stack_id in _RUNNING
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
