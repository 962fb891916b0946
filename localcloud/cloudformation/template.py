"""The CloudFormation template language: loading a template and resolving its intrinsic functions.

One resolver for localcloud: CloudFormation's stacks (models.py) resolve with the physical ids
and attributes of the resources they created; IAM's starting roles (localcloud/iam/template.py)
resolve the template's roles before any stack exists, with the names CloudFormation would give.

Functions (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html):
Ref, Fn::GetAtt, Fn::Sub (`${!Literal}` escapes), Fn::Join, Fn::Select, Fn::Split, Fn::If,
Fn::FindInMap, Fn::Base64, and in Conditions Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition;
pseudo parameters AWS::AccountId, AWS::Region, AWS::Partition, AWS::URLSuffix, AWS::StackName,
AWS::StackId, AWS::NoValue. Anything else raises TemplateError naming it (never guessed).

The YAML loader is a few lines over PyYAML, not cfn-lint's decoder (`cfnlint.decode.cfn_yaml`):
importing cfn-lint takes 1.2 s (measured with `python -X importtime`, warm cache, 2 cores), a
quarter of the 5 s stack-create target and paid on the first IAM call too. Like cfn-lint's
decoder (and CloudFormation) it refuses a mapping with a duplicate key.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "ml-gateway.yaml"


class TemplateError(Exception):
    """The template uses something the resolver does not understand or cannot resolve."""


# libyaml's parser where PyYAML was built with it (10x faster on the 1,300-line template).
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_BaseLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise TemplateError(
                    f"Template format error: duplicate key {key!r} (line {key_node.start_mark.line + 1})"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def loads(text: str) -> dict[str, Any]:
    """A template body (YAML or JSON, which is YAML) as a dict, short-form tags in their
    Fn:: long forms. TemplateError for text that is not a template. A new dict each call."""
    return copy.deepcopy(_loads(text))


@lru_cache(maxsize=16)
def _loads(text: str) -> dict[str, Any]:
    try:
        template = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as error:
        raise TemplateError(f"Template format error: YAML not well-formed. {error}") from None
    if not isinstance(template, dict):
        raise TemplateError("Template format error: unsupported structure.")
    return template


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template file as a dict (see `loads`)."""
    return loads(path.read_text())


NO_VALUE = object()  # AWS::NoValue: the property or list item is removed


def pseudo_parameters(account: str, region: str, stack_name: str, stack_id: str) -> dict[str, Any]:
    """The pseudo parameters of a stack (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html)."""
    return {
        "AWS::AccountId": account,
        "AWS::Region": region,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": stack_name,
        "AWS::StackId": stack_id,
        "AWS::NotificationARNs": [],
        "AWS::NoValue": NO_VALUE,
    }


class Resolver:
    """Resolves intrinsic functions against parameters and the stack's physical ids.

    `physical_ids` maps a logical id to what `Ref` returns; `attributes` maps (logical id,
    attribute) to what `Fn::GetAtt` returns. With `strict` (a stack being applied) a resource
    missing from them is a TemplateError; otherwise (IAM's starting roles, before any stack)
    Ref and GetAtt answer the names and ARNs CloudFormation would give the resource."""

    def __init__(
        self,
        template: dict[str, Any],
        account: str,
        region: str,
        parameters: dict[str, Any] | None = None,
        physical_ids: dict[str, str] | None = None,
        *,
        attributes: dict[tuple[str, str], Any] | None = None,
        stack_name: str = "ml-gateway",
        stack_id: str = "",
        strict: bool = False,
    ):
        self.template = template
        self.account, self.region = account, region
        self.params = {name: spec.get("Default") for name, spec in (template.get("Parameters") or {}).items()}
        self.params.update(parameters or {})
        self.params.update(pseudo_parameters(account, region, stack_name, stack_id))
        self.physical_ids = physical_ids if physical_ids is not None else {}
        self.attributes = attributes if attributes is not None else {}
        self.strict = strict

    @property
    def resources(self) -> dict[str, Any]:
        return self.template.get("Resources") or {}

    # -- names of resources -----------------------------------------------------------------
    def ref(self, name: str) -> Any:
        if name in self.params:
            return self.params[name]
        resource = self.resources.get(name)
        if resource is None:
            raise TemplateError(
                "Template format error: Unresolved resource dependencies "
                f"[{name}] in the Resources block of the template"
            )
        if name in self.physical_ids:
            return self.physical_ids[name]
        if self.strict:
            raise TemplateError(f"Ref {name}: the resource has not been created (its Condition is false)")
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role" and "RoleName" not in props:
            # CloudFormation generates <stack>-<logical id>-<suffix>; the local stack's suffix.
            return f"{self.params['AWS::StackName']}-{name}-local"
        if resource["Type"] == "AWS::Lambda::Alias":  # Ref of an alias is its ARN
            function = self.resolve(props["FunctionName"])
            return f"arn:aws:lambda:{self.region}:{self.account}:function:{function}:{props['Name']}"
        for key in (
            "RoleName",
            "BucketName",
            "RepositoryName",
            "FunctionName",
            "LogGroupName",
            "ModelPackageGroupName",
            "Name",
        ):
            if key in props:
                return self.resolve(props[key])
        return f"{name}-local"  # a generated physical id (keys, APIs): stable and unique

    def get_att(self, name: str, attribute: str) -> Any:
        resource = self.resources.get(name)
        if resource is None:
            raise TemplateError(f"Template error: instance of Fn::GetAtt references undefined resource {name}")
        if (name, attribute) in self.attributes:
            return self.attributes[(name, attribute)]
        if self.strict:
            raise TemplateError(
                f"Template error: resource {name} does not support attribute type {attribute} in Fn::GetAtt"
            )
        kind, physical = resource["Type"], self.ref(name)
        a, r = self.account, self.region
        arns = {
            ("AWS::S3::Bucket", "Arn"): f"arn:aws:s3:::{physical}",
            ("AWS::IAM::Role", "Arn"): f"arn:aws:iam::{a}:role/{physical}",
            ("AWS::KMS::Key", "Arn"): f"arn:aws:kms:{r}:{a}:key/{physical}",
            ("AWS::ECR::Repository", "Arn"): f"arn:aws:ecr:{r}:{a}:repository/{physical}",
            ("AWS::ECR::Repository", "RepositoryUri"): f"{a}.dkr.ecr.{r}.amazonaws.com/{physical}",
            ("AWS::Logs::LogGroup", "Arn"): f"arn:aws:logs:{r}:{a}:log-group:{physical}:*",
            ("AWS::Lambda::Function", "Arn"): f"arn:aws:lambda:{r}:{a}:function:{physical}",
            (
                "AWS::SageMaker::ModelPackageGroup",
                "ModelPackageGroupArn",
            ): f"arn:aws:sagemaker:{r}:{a}:model-package-group/{str(physical).lower()}",
            ("AWS::Events::Rule", "Arn"): f"arn:aws:events:{r}:{a}:rule/{physical}",
            ("AWS::ApiGateway::RestApi", "RootResourceId"): f"{physical}-root",
            ("AWS::Lambda::Version", "Version"): "1",
        }
        try:
            return arns[(kind, attribute)]
        except KeyError:
            raise TemplateError(f"!GetAtt {name}.{attribute} ({kind}) is not resolved locally") from None

    # -- intrinsic functions ----------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """value with every intrinsic function replaced by its result; AWS::NoValue removes
        the key or list item that holds it."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
            if key == "Condition":
                return value
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:
        if name == "Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
            return re.sub(r"\$\{(!?)([^}]*)\}", lambda m: self._sub_match(m, variables), text)
        if name == "GetAtt":
            target, attribute = (arg.split(".", 1) if isinstance(arg, str) else arg)[:2]
            return self.get_att(target, self.resolve(attribute))
        if name == "Select":
            index, items = self.resolve(arg[0]), self.resolve(arg[1])
            try:
                return items[int(index)]
            except (IndexError, ValueError, TypeError):
                raise TemplateError(f"Template error: Fn::Select cannot select index {index} of {items}") from None
        if name == "Split":
            return str(self.resolve(arg[1])).split(arg[0])
        if name == "Join":
            return arg[0].join(str(v) for v in self.resolve(arg[1]))
        if name == "If":
            return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
        if name == "FindInMap":
            mapping, first, second = (self.resolve(a) for a in arg[:3])
            try:
                return (self.template.get("Mappings") or {})[mapping][first][second]
            except (KeyError, TypeError):
                raise TemplateError(f"Template error: Unable to get mapping for {mapping}::{first}::{second}") from None
        if name == "Base64":
            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        raise TemplateError(f"Fn::{name} is not supported locally (localcloud)")

    def _sub_match(self, match: re.Match[str], variables: dict[str, Any]) -> str:
        if match.group(1):  # ${!Literal} is the literal ${Literal}
            return "${" + match.group(2) + "}"
        value = self._sub_var(match.group(2), variables)
        if isinstance(value, list):
            raise TemplateError(f"Template error: variable {match.group(2)} in Fn::Sub is a list")
        return str(value)

    def _sub_var(self, name: str, variables: dict[str, Any]) -> Any:
        if name in variables:
            return variables[name]
        if "." in name and name.split(".", 1)[0] in self.resources:
            return self.get_att(*name.split(".", 1))
        return self.ref(name)

    def condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"Template format error: Unresolved condition dependency {name}")
        return bool(self._condition_value(conditions[name]))

    def _condition_value(self, expr: Any) -> Any:
        if isinstance(expr, dict) and len(expr) == 1:
            ((key, arg),) = expr.items()
            if key == "Fn::Equals":
                return str(self._condition_value(arg[0])) == str(self._condition_value(arg[1]))
            if key == "Fn::Not":
                return not self._condition_value(arg[0])
            if key == "Fn::And":
                return all(self._condition_value(a) for a in arg)
            if key == "Fn::Or":
                return any(self._condition_value(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
        return self.resolve(expr)


def references(value: Any, resources: dict[str, Any]) -> Iterator[str]:
    """The logical ids of the resources `value` refers to (Ref, Fn::GetAtt, Fn::Sub's
    variables), in every branch of Fn::If: the implicit dependencies CloudFormation orders by."""
    if isinstance(value, list):
        for item in value:
            yield from references(item, resources)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str) and arg in resources:
                yield arg
            elif key == "Fn::GetAtt":
                target = arg.split(".", 1)[0] if isinstance(arg, str) else arg[0]
                if target in resources:
                    yield target
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                for match in re.finditer(r"\$\{([^}!][^}]*)\}", text):
                    target = match.group(1).split(".", 1)[0]
                    explicit = isinstance(arg, list) and isinstance(arg[1], dict) and match.group(1) in arg[1]
                    if target in resources and not explicit:
                        yield target
                if isinstance(arg, list):
                    yield from references(arg[1], resources)
            else:
                yield from references(arg, resources)


def dependencies(template: dict[str, Any]) -> dict[str, set[str]]:
    """logical id -> the logical ids it depends on (DependsOn and references)."""
    resources = template.get("Resources") or {}
    graph: dict[str, set[str]] = {}
    for name, resource in resources.items():
        depends = resource.get("DependsOn") or []
        needs = set([depends] if isinstance(depends, str) else depends)
        for missing in needs - set(resources):
            raise TemplateError(
                "Template format error: Unresolved resource dependencies "
                f"[{missing}] in the Resources block of the template"
            )
        needs |= set(references(resource.get("Properties") or {}, resources))
        graph[name] = needs
    return graph


def order(template: dict[str, Any], include: Callable[[str], bool] = lambda _: True) -> list[str]:
    """The logical ids in an order CloudFormation may create them (each after what it depends
    on; template order otherwise). A cycle is CloudFormation's ValidationError text
    "Circular dependency between resources: [A, B]" (as TemplateError)."""
    from graphlib import CycleError, TopologicalSorter

    graph = dependencies(template)
    position = {name: i for i, name in enumerate(graph)}
    sorter = TopologicalSorter(graph)
    try:
        sorter.prepare()
    except CycleError as error:
        cycle = sorted(set(error.args[1]), key=position.__getitem__)
        raise TemplateError(f"Circular dependency between resources: [{', '.join(cycle)}]") from None
    out: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        out.extend(name for name in ready if include(name))
        sorter.done(*ready)
    return out
