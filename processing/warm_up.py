"""Warm-up requests: marked so that the drift check leaves them out of monitoring.

Deploy invokes every variant a few times so the first user request does not pay for loading
the model. Those requests are captured like any other (data capture has no per-request
opt-out), and their fixed, partial body would read as missing features and drifted values.
Each one therefore carries InvokeEndpoint's `InferenceId` = `WARM_UP_PREFIX` + a suffix;
SageMaker records it in the capture as `eventMetadata.inferenceId` ("Capture data from
real-time endpoint", model-monitor-data-capture-endpoint.html; API_runtime_InvokeEndpoint),
and the capture reader (monitoring/capture.py) skips records with that prefix.

Why a marker rather than warming before capture is enabled: on AWS, capture is part of the
endpoint config, so turning it on after the warm-up would be a second UpdateEndpoint (minutes,
and a window in which real traffic goes uncaptured). The marker works the same on AWS and
locally, and costs nothing. InferenceId rather than CustomAttributes: InvokeEndpoint's
documentation says the InferenceId "is added to the captured data"; CustomAttributes is an
opaque value forwarded to the model container.
"""

from __future__ import annotations

WARM_UP_PREFIX = "mlgw-warm-up-"


def inference_id(variant: str, n: int) -> str:
    """The InferenceId of warm-up request `n` to `variant` (at most 64 printable
    characters, InvokeEndpoint's limit)."""
    return f"{WARM_UP_PREFIX}{variant}-{n}"[:64]


def is_warm_up(inference_id: str | None) -> bool:
    return bool(inference_id) and inference_id.startswith(WARM_UP_PREFIX)
