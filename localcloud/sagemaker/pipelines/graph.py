"""The definition's steps as a graph: which step waits for which, and which runs only on a
Condition step's branch.

Condition steps carry their branch steps inline (Arguments.IfSteps / ElseSteps, as the SageMaker
SDK emits them), possibly nested; they are flattened here, each remembering its gate. A step
waits for the steps it names in DependsOn and for every step whose properties its arguments
read (Get "Steps.X..."), as SageMaker orders them.
"""

from __future__ import annotations

import graphlib
import json
from dataclasses import dataclass, field
from typing import Any

from localcloud.sagemaker.pipelines import expressions, parameters

SUPPORTED_TYPES = ("Processing", "Training", "Condition", "RegisterModel", "Model", "Fail")
VERSION = "2020-12-01"


class DefinitionError(Exception):
    """A definition the executor cannot run; the message names the step or field at fault."""


@dataclass(frozen=True)
class Gate:
    """The branch of a Condition step a step belongs to: it runs only if that branch is taken."""

    condition: str
    outcome: bool


@dataclass
class StepSpec:
    name: str
    type: str
    arguments: Any
    raw: dict[str, Any]
    depends_on: set[str] = field(default_factory=set)
    gate: Gate | None = None

    @property
    def display_name(self) -> str | None:
        return self.raw.get("DisplayName")

    @property
    def description(self) -> str | None:
        return self.raw.get("Description")

    @property
    def retry_policies(self) -> list[dict[str, Any]]:
        return self.raw.get("RetryPolicies") or []

    @property
    def cache_config(self) -> dict[str, Any] | None:
        config = self.raw.get("CacheConfig")
        return config if isinstance(config, dict) and config.get("Enabled") else None

    @property
    def property_files(self) -> list[dict[str, Any]]:
        return self.raw.get("PropertyFiles") or []

    @property
    def own_arguments(self) -> Any:
        """Arguments without the branch steps (a Condition step's inline If/Else steps are
        steps of their own, not part of this step's inputs)."""
        if self.type == "Condition" and isinstance(self.arguments, dict):
            return {"Conditions": self.arguments.get("Conditions")}
        return self.arguments


@dataclass
class PipelineGraph:
    definition: dict[str, Any]
    steps: dict[str, StepSpec]
    branches: dict[str, tuple[list[str], list[str]]]  # condition → (if steps, else steps)

    def order(self) -> list[str]:
        """A valid run order (a topological sort), for listing and tests."""
        return list(
            graphlib.TopologicalSorter({name: spec.depends_on for name, spec in self.steps.items()}).static_order()
        )


def _load(source: str | dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """(definition, declared parameters, top-level steps) of a definition's text or object."""
    if isinstance(source, str):
        try:
            definition = json.loads(source)
        except ValueError as exc:
            raise DefinitionError(f"the pipeline definition is not valid JSON: {exc}") from None
    else:
        definition = source
    if not isinstance(definition, dict):
        raise DefinitionError("the pipeline definition must be a JSON object")
    version = definition.get("Version")
    if version is not None and version != VERSION:
        raise DefinitionError(f"unsupported definition Version {version!r} (expected {VERSION})")
    try:
        declared = parameters.declared(definition)
    except parameters.PipelineParameterError as exc:
        raise DefinitionError(str(exc)) from None
    top = definition.get("Steps")
    if not isinstance(top, list) or not top:
        raise DefinitionError("the pipeline definition has no Steps")
    return definition, declared, top


def parse(source: str | dict[str, Any]) -> PipelineGraph:
    """Parse and check a definition: step names unique, types supported, references known,
    no cycles. Raises DefinitionError naming what is wrong."""
    definition, declared, top = _load(source)
    steps: dict[str, StepSpec] = {}
    branches: dict[str, tuple[list[str], list[str]]] = {}
    pending_refs: list[tuple[str, Gate]] = []  # branch entries that only name a top-level step

    def add(raw: Any, gate: Gate | None, where: str) -> str | None:
        if isinstance(raw, str) or (isinstance(raw, dict) and set(raw) == {"Name"}):
            name = raw if isinstance(raw, str) else raw["Name"]
            if gate is None:
                raise DefinitionError(f"{where}: a step reference {name!r} outside a Condition")
            pending_refs.append((name, gate))
            return name
        if not isinstance(raw, dict) or not isinstance(raw.get("Name"), str) or not raw["Name"]:
            raise DefinitionError(f"{where}: a step needs a Name")
        name, kind = raw["Name"], raw.get("Type")
        if name in steps:
            raise DefinitionError(f"step name {name!r} is used twice")
        if kind not in SUPPORTED_TYPES:
            raise DefinitionError(
                f"step {name}: type {kind!r} is not supported by the local "
                f"executor (supported: {', '.join(SUPPORTED_TYPES)})"
            )
        depends = raw.get("DependsOn") or []
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise DefinitionError(f"step {name}: DependsOn must be a list of step names")
        spec = StepSpec(name, kind, raw.get("Arguments", {}), raw, set(depends), gate)
        steps[name] = spec
        if kind == "Condition":
            args = spec.arguments if isinstance(spec.arguments, dict) else {}
            if not isinstance(args.get("Conditions"), list):
                raise DefinitionError(f"step {name}: a Condition step needs Arguments.Conditions")
            chosen: list[list[str]] = []
            for key, outcome in (("IfSteps", True), ("ElseSteps", False)):
                names = [add(child, Gate(name, outcome), f"step {name} {key}") for child in args.get(key) or []]
                chosen.append([n for n in names if n])
            branches[name] = (chosen[0], chosen[1])
        return name

    for index, raw in enumerate(top):
        add(raw, None, f"Steps[{index}]")
    for name, gate in pending_refs:
        if name not in steps:
            raise DefinitionError(f"Condition step {gate.condition} names unknown step {name!r}")
        if steps[name].gate is not None and steps[name].gate != gate:
            raise DefinitionError(f"step {name} is in more than one Condition branch")
        steps[name].gate = gate
    _check_references(steps, declared)

    graph = PipelineGraph(definition, steps, branches)
    try:
        graph.order()
    except graphlib.CycleError as exc:
        raise DefinitionError(f"the steps depend on each other in a cycle: {' -> '.join(exc.args[1])}") from None
    return graph


def _check_references(steps: dict[str, StepSpec], declared: dict[str, Any]) -> None:
    """Each step's parameters declared and the steps it depends on (DependsOn, data
    references, its Condition) known; its PropertyFiles complete."""
    for spec in steps.values():
        for ref in expressions.parameter_references(spec.own_arguments):
            if ref not in declared:
                raise DefinitionError(f"step {spec.name} reads Parameters.{ref}, which the pipeline does not declare")
        spec.depends_on |= expressions.step_references(spec.own_arguments)
        if spec.gate is not None:
            spec.depends_on.add(spec.gate.condition)
        spec.depends_on.discard(spec.name)
        for dep in sorted(spec.depends_on):
            if dep not in steps:
                raise DefinitionError(f"step {spec.name} depends on unknown step {dep!r}")
        for pf in spec.property_files:
            if not isinstance(pf, dict) or not {"PropertyFileName", "OutputName", "FilePath"} <= set(pf):
                raise DefinitionError(
                    f"step {spec.name}: a PropertyFile needs PropertyFileName, OutputName and FilePath"
                )
