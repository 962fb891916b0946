"""Walking a pipeline definition's steps, those nested in condition steps' branches included."""

from __future__ import annotations

from collections.abc import Iterator


def all_steps(definition: dict) -> Iterator[dict]:
    """Every step of the definition (a dict with "Steps"), depth first, branches included."""
    stack = list(reversed(definition["Steps"]))
    while stack:
        step = stack.pop()
        yield step
        for branch in ("ElseSteps", "IfSteps"):
            stack.extend(reversed(step.get("Arguments", {}).get(branch, [])))


def step_named(definition: dict, name: str) -> dict:
    """The step called `name`, wherever it is nested; KeyError when there is none."""
    for step in all_steps(definition):
        if step["Name"] == name:
            return step
    raise KeyError(f"no step {name!r} in the definition")
