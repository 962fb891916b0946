"""The gateway function's environment, as Lambda's UpdateFunctionConfiguration sets it.

On AWS the function's environment variables (ENDPOINT_NAME, CLAIMS_FEATURE_GROUP,
CUSTOMERS_FEATURE_GROUP, MLGW_SCHEMA) are part of its configuration, and "invocations after
the update use the new environment" (UpdateFunctionConfiguration,
https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html). Locally the
configuration is the JSON object in `<home>/apigateway/function-environment.json`, written by
mlgw from the run configuration (mlgw/function_env.py); the gateway process applies it before
each invocation when the file changed (one stat per request).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("ml_gateway.apigateway")


def default_path(home: Path) -> Path:
    """Where a state directory's gateway function environment lives."""
    return home / "apigateway" / "function-environment.json"


class FunctionEnvironment:
    """Applies the file at `path` ({name: value}, strings) to os.environ when it changes; the
    variables it set before and no longer lists are removed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._applied: dict[str, str] = {}

    @property
    def variables(self) -> dict[str, str]:
        """The variables applied now ({name: value})."""
        return dict(self._applied)

    def refresh(self) -> bool:
        """Apply the file if it changed since the last call; whether anything changed. A file
        that is unreadable or not a JSON object of strings is logged and left unapplied (the
        previous environment stays), never an error for the request being served."""
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        wanted: dict[str, str] = {}
        if stamp is not None:
            try:
                data = json.loads(self.path.read_text())
                if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                    raise ValueError("not a JSON object of strings")
                wanted = {str(k): v for k, v in data.items()}
            except (OSError, ValueError) as exc:
                log.error("function environment %s not applied: %s", self.path, exc)
                return False
        if wanted == self._applied:
            return False
        for name in set(self._applied) - set(wanted):
            os.environ.pop(name, None)
        os.environ.update(wanted)
        self._applied = wanted
        log.info("function environment: %s", ", ".join(f"{k}={v}" for k, v in sorted(wanted.items())) or "(empty)")
        return True
