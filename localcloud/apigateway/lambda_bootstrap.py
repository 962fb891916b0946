"""The runtime loop of one local Lambda execution environment (localcloud/apigateway/function.py
starts it as `python -I -S -B lambda_bootstrap.py`): standard library only, so nothing of the checkout
or the venv is importable in it except what the function's environment puts on sys.path.

As the python3.11 runtime does (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html,
https://docs.aws.amazon.com/lambda/latest/dg/python-handler.html): sys.path is the unpacked
deployment package (LAMBDA_TASK_ROOT) first, then the standard library, then the runtime's own
packages (LAMBDA_RUNTIME_DIR: boto3 and its dependencies); the handler `_HANDLER`
("module.function") is imported once (the Init phase), then called once per invocation.

Protocol with the gateway (one JSON document per line): on stdout, after Init, either
`{"init": "ok", "pid", "sys_path", "handler_file"}` or `{"init": "error", "errorType",
"errorMessage"}` (Lambda's Runtime.ImportModuleError / Runtime.HandlerNotFound); then per line read
from stdin (`{"event", "request_id", "deadline_ms"}`) one line `{"result": ...}` or Lambda's
error shape `{"errorType", "errorMessage", "stackTrace"}`. What the handler prints goes to stderr
(the function's log), never into the protocol.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
import traceback
from typing import Any


class Context:
    """The Lambda context object's fields the python runtime gives a handler
    (https://docs.aws.amazon.com/lambda/latest/dg/python-context.html)."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.invoked_function_arn = ""
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _send(out: Any, message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def main() -> int:
    # The function's MemorySize, as a cap on the process's data segment (heap and anonymous
    # mappings): an allocation past it fails (MemoryError) instead of growing.
    limit = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    sys.path.append(os.environ["LAMBDA_RUNTIME_DIR"])
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # print() in the function goes to its log, as on Lambda
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # what the runtime reports for a package that cannot import
        _send(
            protocol,
            {
                "init": "error",
                "errorType": "Runtime.ImportModuleError",
                "errorMessage": f"Unable to import module '{module_name}': {exc}",
            },
        )
        return 1
    handler = getattr(module, function_name, None)
    if not callable(handler):
        _send(
            protocol,
            {
                "init": "error",
                "errorType": "Runtime.HandlerNotFound",
                "errorMessage": f"Handler '{function_name}' missing on module '{module_name}'",
            },
        )
        return 1
    _send(
        protocol,
        {"init": "ok", "pid": os.getpid(), "sys_path": sys.path, "handler_file": getattr(module, "__file__", None)},
    )
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result = handler(request["event"], Context(request["request_id"], request["deadline_ms"]))
        except Exception as exc:
            _send(protocol, _error(exc))
            continue
        try:
            _send(protocol, {"result": result})
        except (TypeError, ValueError) as exc:  # a result JSON cannot carry
            _send(protocol, _error(exc, "Runtime.MarshalError"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
