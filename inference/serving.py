"""The SageMaker inference contract for the fraud model, as SageMaker's XGBoost 1.7-1 container
calls it for a script-mode module: `model_fn` once, then `transform_fn` per request.

Why transform_fn and not input_fn/predict_fn/output_fn: in the container, sagemaker-containers'
`Transformer` wraps each user function with `_functions.error_wrapper(fn, ClientError)`, so any
exception they raise -- even the library's own `UnsupportedFormatError` -- reaches Flask as a
ClientError and the client gets 500 with Flask's HTML page (sagemaker_containers/_transformer.py,
`_default_transform_fn`; 2.8.6.post2). A request the model cannot serve is the client's fault,
so `transform_fn` answers it itself with the library's `worker.Response` and the status
(400, or 415 for an unsupported Content-Type or Accept), the body our message as text/plain: the
runtime then answers ModelError (424) with OriginalStatusCode 400 and that message, on AWS and
locally alike. A module may not define transform_fn together with input_fn, predict_fn or
output_fn (the container refuses: serving.py `_user_module_transformer`), so the steps are
`decode` → `predict` → `encode`, which a host without the library (localcloud's in-process
multi-model server, the benchmarks) calls directly.

The model directory (model.tar.gz extracted) holds `xgboost-model` (a Booster saved as JSON)
and `features.json` (`{"features": [ordered names], "label": "fraud"}`), and `schema.json`, the
data contract raw JSON records are encoded with (absent: the one shipped in the source
directory). An unknown category is encoded as no category, as the gateway does. numpy and xgboost are
imported at call time so importing this module (localcloud does, at startup) stays cheap;
CALL_TIME_IMPORTS names them, so a host that idles before its first model_fn can import them
ahead (localcloud's daemon does, on a background thread at start).
"""

from __future__ import annotations

import contextvars
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CALL_TIME_IMPORTS = ("numpy", "xgboost")  # what model_fn / predict_fn import (~2 s together)
CSV = "text/csv"
JSON = "application/json"
MODEL_FILE = "xgboost-model"
FEATURES_FILE = "features.json"


# The SageMaker Model's Environment for the current call (the host sets it; a container would
# have it in os.environ, but one localcloud process serves many models).
ENVIRONMENT: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("ENVIRONMENT", default={})


class InputError(ValueError):
    """A request the model cannot serve; `status` is the HTTP status the container answers."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Model:
    booster: Any  # xgboost.Booster
    features: list[str]
    label: str = "fraud"
    contract: Any = None  # processing.contract.Contract from the model's schema.json

    @property
    def index(self) -> dict[str, int]:
        cached = self.__dict__.get("_index")
        if cached is None:
            cached = self.__dict__["_index"] = {name: i for i, name in enumerate(self.features)}
        return cached


def model_fn(model_dir: str | Path) -> Model:
    import xgboost as xgb

    root = Path(model_dir)
    meta = json.loads((root / FEATURES_FILE).read_text())
    features = list(meta["features"])
    booster = xgb.Booster()
    # Bytes, not a path: the name has no extension, and xgboost warns on every path load.
    booster.load_model(bytearray((root / MODEL_FILE).read_bytes()))
    booster.set_param({"nthread": 1})  # one request, a few rows: threads cost more than they save
    contract = None
    if (root / "schema.json").is_file():
        try:
            from processing.contract import load
        except ImportError:
            pass
        else:
            contract = load(root / "schema.json")
    return Model(booster, features, meta.get("label", "fraud"), contract)


def _media_type(value: str | None, default: str) -> str:
    # "application/json; charset=utf-8" → "application/json"; "*/*" or absent → the default.
    kind = (value or "").split(";", 1)[0].strip().lower()
    return default if kind in ("", "*/*") else kind


def decode(request_body: bytes | str, content_type: str | None) -> Any:
    """CSV → a float matrix in features.json order; JSON → a list of records (dicts)."""
    kind = _media_type(content_type, CSV)
    try:
        text = request_body.decode("utf-8") if isinstance(request_body, (bytes, bytearray)) else request_body
    except UnicodeDecodeError as exc:
        raise InputError(f"The request body is not UTF-8 text (invalid byte at offset {exc.start})") from None
    if kind == CSV:
        return _parse_csv(text)
    if kind == JSON:
        return _parse_json(text)
    raise InputError(f"Content type {content_type} is not supported; use {CSV} or {JSON}", 415)


def _parse_csv(text: str) -> Any:
    import numpy as np

    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append([float(cell) if cell.strip() else math.nan for cell in line.split(",")])
        except ValueError:
            raise InputError(f"CSV line {number} has a value that is not a number") from None
    if not rows:
        raise InputError("The request has no CSV rows")
    if len({len(r) for r in rows}) != 1:
        raise InputError("CSV rows have different numbers of columns")
    return np.asarray(rows, dtype=np.float32)


def _parse_json(text: str) -> list[dict[str, Any]]:
    try:
        payload = json.loads(text)
    except RecursionError:
        raise InputError("The request body is JSON nested too deeply") from None
    except ValueError as exc:
        raise InputError(f"The request body is not valid JSON: {exc}") from None
    if isinstance(payload, Mapping) and "instances" in payload:
        records = payload["instances"]
    elif isinstance(payload, Mapping):
        records = [payload]
    else:
        records = payload
    if not isinstance(records, list) or not records or not all(isinstance(r, Mapping) for r in records):
        raise InputError('JSON input must be {"instances": [objects]}, an object or a list of objects')
    return [dict(r) for r in records]


def _encoder():
    """processing.features.encode_record when it is importable, else identity on numbers."""
    try:
        from processing.features import FeatureError, encode_record
    except ImportError:
        return None, ()
    return encode_record, (FeatureError,)


def _matrix(records: Sequence[Mapping[str, Any]], model: Model) -> Any:
    import numpy as np

    encode, errors = _encoder()
    index = model.index
    matrix = np.full((len(records), len(model.features)), np.nan, dtype=np.float32)
    for row, record in enumerate(records):
        if encode is not None:
            try:
                values = encode(record, model.contract, [])  # unknown category → no category
            except errors as exc:
                raise InputError(f"Record {row}: {exc}") from None
        else:
            values = record
        for name, value in values.items():
            column = index.get(name)
            if column is None:
                raise InputError(f"Record {row}: unknown feature {name!r}")
            if value is None:
                continue
            try:
                matrix[row, column] = float(value)
            except (TypeError, ValueError):
                raise InputError(f"Record {row}: feature {name!r} is not a number") from None
    return matrix


def predict(data: Any, model: Model) -> Any:
    """Probabilities of the positive class, one per row."""
    import numpy as np

    if isinstance(data, list):
        data = _matrix(data, model)
    if data.ndim != 2 or data.shape[1] != len(model.features):
        raise InputError(f"Expected {len(model.features)} features per row, got {data.shape[-1]}")
    # inplace_predict: no DMatrix copy, and thread-safe on a shared Booster.
    return np.asarray(
        model.booster.inplace_predict(data, missing=np.nan, validate_features=False), dtype=np.float64
    ).reshape(-1)


def _threshold() -> float:
    value = ENVIRONMENT.get().get("SERVING_THRESHOLD") or os.environ.get("SERVING_THRESHOLD", "0.5")
    try:
        return float(value)
    except ValueError:
        raise RuntimeError(f"SERVING_THRESHOLD {value!r} is not a number") from None


def encode(prediction: Any, accept: str | None) -> tuple[bytes, str]:
    """The response body and its content type."""
    kind = _media_type(accept, JSON)
    scores = [float(p) for p in prediction]
    if kind == JSON:
        threshold = _threshold()
        body = {"predictions": [{"score": s, "predicted_label": int(s >= threshold)} for s in scores]}
        return json.dumps(body).encode(), JSON
    if kind == CSV:
        return "".join(f"{s}\n" for s in scores).encode(), CSV
    raise InputError(f"Accept type {accept} is not supported; use {CSV} or {JSON}", 415)


def transform_fn(model: Model, content: bytes | str, content_type: str | None, accept: str | None) -> Any:
    """sagemaker-containers' transform_fn: the response to one /invocations request, a
    `sagemaker_containers.beta.framework.worker.Response` (a Flask response): 200 with the
    encoded predictions and their content type, or InputError's status (400/415) with its
    message as text/plain. Any other exception propagates (the container answers 500)."""
    from sagemaker_containers.beta.framework import worker

    try:
        body, kind = encode(predict(decode(content, content_type), model), accept)
    except InputError as exc:
        return worker.Response(response=str(exc), status=exc.status, mimetype="text/plain")
    return worker.Response(response=body, status=200, mimetype=kind)
