"""SageMaker's stored documents as the API returns them.

SageMaker's resources (pipelines, executions, jobs, models, endpoints...) are stored one document
per resource in localcloud's StateStore, shaped like its Describe*/List* entry, times as epoch
seconds; keys starting with "_" are bookkeeping that never goes over the wire. `wire` renders
such a document for a response.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any


def now() -> float:
    return time.time()


def wire(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document as the API returns it: no bookkeeping keys, times as datetimes."""
    return {key: _render(key, value) for key, value in doc.items() if not key.startswith("_")}


def _render(key: str, value: Any) -> Any:
    if key.endswith("Time") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    if isinstance(value, dict):
        return {k: _render(k, v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_render("", v) for v in value]
    return value
