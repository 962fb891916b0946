"""`mlgw stack status|events|outputs|delete` and `mlgw localcloud apply`: the CloudFormation stack
localcloud applies from infra/ml-gateway.yaml, through its CloudFormation API (boto3's
`cloudformation` client, as on AWS)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from mlgw.args import CliError, config_from, parse_pairs, running, with_home

DEFAULT_STACK = "ml-gateway"
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "ml-gateway.yaml"
# IAM resources need the capability acknowledged, as `aws cloudformation deploy --capabilities`.
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
FAILED = {
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "DELETE_FAILED",
    "UPDATE_FAILED",
}
WAIT_LIMIT_S = 600.0


def register(subparsers) -> None:
    stack = subparsers.add_parser(
        "stack",
        help="the CloudFormation stack localcloud applied (status, events, outputs, delete)",
        description="Show or delete the stack `mlgw localcloud apply` applied from the template.",
    )
    stack.add_argument(
        "action",
        choices=["status", "events", "outputs", "delete"],
        help="status: the stack's status and reason; events: its events, oldest first; "
        "outputs: its Outputs; delete: delete it and wait",
    )
    stack.add_argument("--stack-name", default=DEFAULT_STACK, help=f"the stack (default {DEFAULT_STACK})")
    with_home(stack)
    stack.set_defaults(func=cmd_stack)


def add_apply_flags(p: argparse.ArgumentParser) -> None:
    """The flags of `mlgw localcloud apply`."""
    p.add_argument(
        "--template",
        default=None,
        metavar="FILE",
        help="apply: the CloudFormation template (default infra/ml-gateway.yaml)",
    )
    p.add_argument("--stack-name", default=None, help=f"apply: the stack (default {DEFAULT_STACK})")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="apply: a template parameter (repeatable); others keep their previous value or default",
    )


def _client(config) -> Any:
    from mlgw.target import Target

    return Target.local(config).client("cloudformation")


def _call(what: str, call: Any, **params: Any) -> Any:
    try:
        return call(**params)
    except ClientError as error:
        raise CliError(f"{what}: {error.response['Error'].get('Message', error)}") from None


def _stack(cfn: Any, name: str) -> dict[str, Any] | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in error.response["Error"].get("Message", ""):
            return None
        raise CliError(f"DescribeStacks {name}: {error.response['Error'].get('Message')}") from None


def _line(event: dict[str, Any], start: float) -> str:
    when = event["Timestamp"].timestamp() - start
    reason = event.get("ResourceStatusReason") or ""
    return (
        f"[{max(when, 0.0):6.1f}s] {event['LogicalResourceId']:<28} {event['ResourceType']:<36} "
        f"{event['ResourceStatus']:<28} {reason}".rstrip()
    )


def _follow(cfn: Any, stack_id: str, seen: set[str], start: float) -> dict[str, Any]:
    """Print the stack's new events until it leaves *_IN_PROGRESS; the stack at that point."""
    deadline = time.monotonic() + WAIT_LIMIT_S
    while True:
        stack = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
        events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        for event in reversed(events):
            if event["EventId"] not in seen:
                seen.add(event["EventId"])
                print(_line(event, start), flush=True)
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return dict(stack)
        if time.monotonic() > deadline:
            raise CliError(f"stack {stack['StackName']} still {stack['StackStatus']} after {WAIT_LIMIT_S:.0f} s")
        time.sleep(0.1)


def _failures(cfn: Any, stack_id: str) -> list[str]:
    events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    return [
        f"{e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason', '')}"
        for e in reversed(events)
        if e["ResourceStatus"].endswith("_FAILED") and e["ResourceType"] != "AWS::CloudFormation::Stack"
    ]


def _print_outputs(stack: dict[str, Any]) -> None:
    outputs = stack.get("Outputs") or []
    if not outputs:
        print("(no outputs)")
    width = max((len(o["OutputKey"]) for o in outputs), default=0)
    for output in outputs:
        print(f"{output['OutputKey']:<{width}}  {output['OutputValue']}")


def apply(args: argparse.Namespace, config) -> int:
    """Create or update the stack from the template, print its events as they happen and its
    outputs; 1 with the failing resources and reasons when it fails."""
    template = Path(args.template) if args.template else DEFAULT_TEMPLATE
    if not template.is_file():
        raise CliError(f"--template {template}: no such file")
    body = template.read_text()
    name = args.stack_name or DEFAULT_STACK
    given = parse_pairs(args.param)
    cfn = _client(config)
    existing = _stack(cfn, name)
    start = time.time()
    seen: set[str] = set()
    if existing is not None:
        seen.update(e["EventId"] for e in cfn.describe_stack_events(StackName=existing["StackId"])["StackEvents"])
        if existing["StackStatus"] in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED"):
            raise CliError(
                f"stack {name} is {existing['StackStatus']} (its creation failed) and cannot be updated; "
                f"`mlgw stack delete --stack-name {name}` then apply again"
            )
        # Parameters not given keep their value if the template still has them (else its default).
        declared = {
            p["ParameterKey"] for p in _call("ValidateTemplate", cfn.validate_template, TemplateBody=body)["Parameters"]
        }
        previous = {p["ParameterKey"] for p in existing.get("Parameters", [])} & declared
        parameters: list[dict[str, Any]] = [{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()]
        parameters += [{"ParameterKey": k, "UsePreviousValue": True} for k in sorted(previous - set(given))]
        try:
            stack_id = cfn.update_stack(
                StackName=name, TemplateBody=body, Parameters=parameters, Capabilities=CAPABILITIES
            )["StackId"]
        except ClientError as error:
            message = error.response["Error"].get("Message", "")
            if message == "No updates are to be performed.":
                print(f"stack {name}: no changes ({existing['StackStatus']})")
                _print_outputs(existing)
                return 0
            raise CliError(f"UpdateStack {name}: {message}") from None
        print(f"updating stack {name} from {template}")
    else:
        parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()]
        stack_id = _call(
            f"CreateStack {name}",
            cfn.create_stack,
            StackName=name,
            TemplateBody=body,
            Parameters=parameters,
            Capabilities=CAPABILITIES,
        )["StackId"]
        print(f"creating stack {name} from {template}")
    stack = _follow(cfn, stack_id, seen, start)
    status = stack["StackStatus"]
    if status in FAILED:
        print(f"stack {name} {status}" + (f": {stack['StackStatusReason']}" if stack.get("StackStatusReason") else ""))
        for failure in _failures(cfn, stack_id)[:5]:
            print(f"  failed: {failure}")
        return 1
    print(f"stack {name} {status} in {time.time() - start:.1f} s")
    _print_outputs(stack)
    return 0


def cmd_stack(args: argparse.Namespace) -> int:
    config = running(config_from(args))
    cfn = _client(config)
    stack = _stack(cfn, args.stack_name)
    if stack is None:
        raise CliError(f"no stack {args.stack_name} in localcloud ({config.home}); `mlgw localcloud apply` creates it")
    if args.action == "status":
        reason = f": {stack['StackStatusReason']}" if stack.get("StackStatusReason") else ""
        print(f"{stack['StackName']}  {stack['StackStatus']}{reason}")
        print(f"stack id  {stack['StackId']}")
        return 1 if stack["StackStatus"] in FAILED else 0
    if args.action == "events":
        events = cfn.describe_stack_events(StackName=stack["StackId"])["StackEvents"]
        start = events[-1]["Timestamp"].timestamp() if events else 0.0
        for event in reversed(events):
            print(_line(event, start))
        return 0
    if args.action == "outputs":
        _print_outputs(stack)
        return 0
    seen = {e["EventId"] for e in cfn.describe_stack_events(StackName=stack["StackId"])["StackEvents"]}
    _call(f"DeleteStack {args.stack_name}", cfn.delete_stack, StackName=stack["StackId"])
    final = _follow(cfn, stack["StackId"], seen, time.time())
    print(f"stack {args.stack_name} {final['StackStatus']}")
    return 1 if final["StackStatus"] in FAILED else 0
