"""The studio's pages: pipelines (graph, executions, steps), S3 objects, model registry,
endpoints, monitoring and Feature Store. GET handlers are plain functions (Starlette runs them
in its thread pool, as boto3 blocks); POST actions check the cross-site token first, then do
what `mlgw pipeline|endpoint` would and redirect (303) back to the page with a note.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import quote, urlencode

from botocore.exceptions import ClientError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from mlgw import registry_view
from mlgw.approval import STATUSES as APPROVAL
from mlgw.executions_view import started_by
from mlgw.run_config import RunConfigError
from mlgw.studio import charts, graph, monitoring_view
from mlgw.studio.app import InvalidRequest, form, render
from mlgw.studio.backend import TERMINAL, NotFound, optional
from pipelines.ml_gateway.parameters import ParameterError


def _backend(request: Request):
    return request.app.state.backend


def _back(url: str, note: str = "", error: str = "") -> RedirectResponse:
    query = urlencode({k: v for k, v in (("note", note), ("error", error)) if v})
    return RedirectResponse(f"{url}?{query}" if query else url, status_code=303)


def _aws_message(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code')}: {error.get('Message')}"


# -- pipelines ---------------------------------------------------------------------------------


def home(request: Request):
    return RedirectResponse("/pipelines", status_code=307)


def pipelines(request: Request):
    return render(request, "pipelines_list.html", {"pipelines": _backend(request).pipelines()})


def pipeline(request: Request):
    backend, name = _backend(request), request.path_params["name"]
    described = backend.pipeline(name)
    definition = json.loads(described["PipelineDefinition"])
    executions, token = backend.executions(name, request.query_params.get("token"))
    defaults = {p["Name"]: str(p.get("DefaultValue", "")) for p in definition.get("Parameters", [])}
    drawn = graph.from_definition(definition)
    # Durations, overrides and AUCs take a few calls per execution: the page shows those
    # already known (finished executions, read once) and studio.js fetches the rest.
    facts = backend.execution_facts(executions, defaults, known_only=True)
    return render(
        request,
        "pipelines_detail.html",
        {
            "pipeline": described,
            "name": name,
            "graph": drawn,
            "executions": executions,
            "next_token": token,
            **_executions_table(name, executions, facts, request.query_params.get("token")),
            "parameters": definition.get("Parameters", []),
            "configured": backend.configured_parameters(name),
            "started_by": started_by,
            "note": request.query_params.get("note"),
            "error": request.query_params.get("error"),
        },
    )


def _executions_table(name: str, executions: list[dict], facts: dict, token: str | None) -> dict:
    complete = all(
        arn in facts and not facts[arn]["running"] for arn in (e["PipelineExecutionArn"] for e in executions)
    )
    live = f"/pipelines/{quote(name, safe='')}/executions-table" + (f"?{urlencode({'token': token})}" if token else "")
    return {
        "facts": facts,
        "complete": complete,
        "table_url": live,
        "started_by": started_by,
        "name": name,
        "executions": executions,
    }


def executions_table(request: Request):
    """The executions table with every execution's facts (fetched by studio.js; refreshed
    while an execution runs)."""
    backend, name = _backend(request), request.path_params["name"]
    definition = json.loads(backend.pipeline(name)["PipelineDefinition"])
    defaults = {p["Name"]: str(p.get("DefaultValue", "")) for p in definition.get("Parameters", [])}
    executions, _ = backend.executions(name, request.query_params.get("token"))
    facts = backend.execution_facts(executions, defaults)
    return render(
        request,
        "pipelines_executions.html",
        _executions_table(name, executions, facts, request.query_params.get("token")),
    )


def _execution_view(request: Request) -> dict:
    backend = _backend(request)
    name, eid = request.path_params["name"], request.path_params["eid"]
    execution = backend.execution(name, eid)
    arn = execution["PipelineExecutionArn"]
    try:
        definition = backend.execution_definition(arn)
    except (ClientError, NotImplementedError):
        definition = json.loads(backend.pipeline(name)["PipelineDefinition"])
    steps, steps_error = optional(backend.steps, arn)
    base = f"/pipelines/{quote(name)}/executions/{quote(eid)}/steps/"
    drawn = graph.colour(graph.from_definition(definition), steps or [], href=lambda step: base + quote(step, safe=""))
    return {
        "name": name,
        "eid": eid,
        "execution": execution,
        "graph": drawn,
        "steps": steps or [],
        "definition": definition,
        "steps_error": steps_error,
        "terminal": execution.get("PipelineExecutionStatus") in TERMINAL,
    }


def execution(request: Request):
    view = _execution_view(request)
    params, params_error = optional(_backend(request).parameters, view["execution"]["PipelineExecutionArn"])
    return render(
        request,
        "pipelines_execution.html",
        {
            **view,
            "parameters": params or [],
            "params_error": params_error,
            "started_by": started_by,
            "note": request.query_params.get("note"),
            "error": request.query_params.get("error"),
        },
    )


def execution_live(request: Request):
    """The parts of the execution page that change while it runs (fetched by studio.js)."""
    return render(request, "pipelines_live.html", _execution_view(request))


def step(request: Request):
    backend = _backend(request)
    eid, step_name = request.path_params["eid"], request.path_params["step"]
    view = _execution_view(request)
    found = next((s for s in view["steps"] if s["StepName"] == step_name), None)
    definition_step = next(
        (s for s in graph.flatten(view["definition"].get("Steps", [])) if s["Name"] == step_name), None
    )
    if found is None and definition_step is None:
        raise NotFound("step", f"{step_name} in execution {eid}")
    job, job_error = (None, None)
    if found:
        job, job_error = optional(backend.job, found.get("Metadata", {}))
    log = backend.job_log(job["name"]) if job else None
    reports = {}
    for prop in (definition_step or {}).get("PropertyFiles", []):
        outputs = (job or {}).get("ProcessingOutputConfig", {}).get("Outputs", [])
        uri = next((o["S3Output"]["S3Uri"] for o in outputs if o["OutputName"] == prop["OutputName"]), None)
        if uri:
            reports[prop["PropertyFileName"]] = (
                f"{uri.rstrip('/')}/{prop['FilePath']}",
                backend.read_json(f"{uri.rstrip('/')}/{prop['FilePath']}"),
            )
    return render(
        request,
        "pipelines_step.html",
        {
            **view,
            "step": found,
            "step_name": step_name,
            "definition_step": definition_step,
            "job": job,
            "job_error": job_error,
            "log": log,
            "reports": reports,
            "log_url": backend.log_console_url(job["kind"], job["name"]) if job and log is None else None,
            "arguments": json.dumps((definition_step or {}).get("Arguments", {}), indent=2, default=str),
        },
    )


async def start(request: Request):
    fields = await form(request)
    name = request.path_params["name"]
    overrides = {k.removeprefix("param:"): v for k, v in fields.items() if k.startswith("param:") and v != ""}
    page = f"/pipelines/{quote(name)}"
    try:
        arn = await run_in_threadpool(_backend(request).start, name, overrides)
    except ClientError as exc:
        return _back(page, error=_aws_message(exc))
    except (ParameterError, RunConfigError) as exc:
        return _back(page, error=str(exc))
    return _back(f"{page}/executions/{quote(arn.rsplit('/', 1)[-1])}", note="execution started")


async def _execution_action(request: Request, action: str):
    await form(request)
    backend = _backend(request)
    name, eid = request.path_params["name"], request.path_params["eid"]
    page = f"/pipelines/{quote(name)}/executions/{quote(eid)}"
    arn = await run_in_threadpool(backend.execution_arn, name, eid)
    try:
        await run_in_threadpool(getattr(backend, action), arn)
    except ClientError as exc:
        return _back(page, error=_aws_message(exc))
    return _back(page, note={"retry": "retrying from the failed step", "stop": "stop requested"}[action])


async def retry(request: Request):
    return await _execution_action(request, "retry")


async def stop(request: Request):
    return await _execution_action(request, "stop")


# -- S3 object browser ---------------------------------------------------------------------------

# What the SDK accepts as a bucket name (botocore's own check, which also allows the legacy
# us-east-1 names with capitals and underscores); S3 itself then refuses names outside its rules
# (InvalidBucketName, a 400 page). Access point and Object Lambda ARNs are not browsed here:
# botocore would send those requests to another host.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_BUCKET_NAME = re.compile(r"[a-zA-Z0-9.\-_]{1,255}")


def s3_object(request: Request):
    backend = _backend(request)
    bucket, key = request.path_params["bucket"], request.path_params.get("key", "")
    if not _BUCKET_NAME.fullmatch(bucket):
        raise InvalidRequest(
            f"invalid bucket name {bucket!r} in the URL /s3/<bucket>/<key>: a bucket name is 3 to 63 "
            "lowercase letters, digits, dots and hyphens (S3's bucket naming rules)",
        )
    if key == "" or key.endswith("/"):
        prefixes, objects = backend.list_objects(bucket, key)
        if key and not prefixes and not objects:
            raise NotFound("S3 prefix", f"s3://{bucket}/{key}")
        return render(request, "s3.html", {"bucket": bucket, "key": key, "prefixes": prefixes, "objects": objects})
    try:
        body, size = backend.read_object(bucket, key)
    except NotFound:
        # An S3 URI in a job's inputs/outputs is often a prefix written without its slash.
        prefixes, objects = backend.list_objects(bucket, key + "/")
        if not prefixes and not objects:
            raise
        return render(
            request, "s3.html", {"bucket": bucket, "key": key + "/", "prefixes": prefixes, "objects": objects}
        )
    try:
        text = body.decode()
        if key.endswith(".json"):
            text = json.dumps(json.loads(text), indent=2)
    except (UnicodeDecodeError, ValueError):
        text = None if b"\0" in body else body.decode(errors="replace")
    return render(
        request, "s3.html", {"bucket": bucket, "key": key, "text": text, "size": size, "truncated": size > len(body)}
    )


# -- model registry --------------------------------------------------------------------------------


def models(request: Request):
    return render(request, "models_list.html", {"groups": _backend(request).model_groups()})


def model_group(request: Request):
    backend, group = _backend(request), request.path_params["group"]
    summaries, token = backend.model_packages(group, request.query_params.get("token"))
    packages = backend.packages_with_metrics(summaries)
    return render(
        request,
        "models_group.html",
        {
            "group": group,
            "packages": packages,
            "next_token": token,
            "note": request.query_params.get("note"),
            "error": request.query_params.get("error"),
        },
    )


def _version(request: Request, key: str = "version") -> int:
    try:
        return int(request.path_params.get(key) or request.query_params.get(key, ""))
    except ValueError:
        raise NotFound(
            "model package version", request.path_params.get(key) or request.query_params.get(key, "")
        ) from None


def _package_view(backend, group: str, version: int) -> dict:
    package = backend.model_package(group, version)
    report = backend.package_metrics(package) or {}
    metrics = report.get("binary_classification_metrics", {})
    matrix = metrics.get("confusion_matrix")
    lineage = registry_view.lineage_of(package, report)
    return {
        "package": package,
        "version": version,
        "metrics": metrics,
        "report": report,
        "matrix_svg": charts.confusion(matrix["0"]["0"], matrix["0"]["1"], matrix["1"]["0"], matrix["1"]["1"])
        if matrix
        else None,
        # Evaluate writes which MLflow run it logged into the report the package carries.
        "mlflow": report.get("mlflow") if (report.get("mlflow") or {}).get("run_id") else None,
        # what `mlgw models describe` shows: one view of the lineage (mlgw/registry_view.py)
        "lineage": lineage,
        "lineage_rows": registry_view.lineage_rows(lineage),
        "champion": report.get("champion") if isinstance((report.get("champion") or {}).get("auc"), float) else None,
    }


def model_package(request: Request):
    backend, group = _backend(request), request.path_params["group"]
    return render(
        request,
        "models_package.html",
        {
            "group": group,
            **_package_view(backend, group, _version(request)),
            "approvals": APPROVAL,
            "note": request.query_params.get("note"),
            "error": request.query_params.get("error"),
        },
    )


def compare(request: Request):
    backend, group = _backend(request), request.path_params["group"]
    left = _package_view(backend, group, _version(request, "a"))
    right = _package_view(backend, group, _version(request, "b"))
    names = sorted(set(left["metrics"]) | set(right["metrics"]) - {"confusion_matrix", "threshold"})
    return render(request, "models_compare.html", {"group": group, "left": left, "right": right, "names": names})


async def approval(request: Request):
    from mlgw.approval import ApprovalError

    fields = await form(request)
    backend, group = _backend(request), request.path_params["group"]
    version = _version(request)
    page = f"/models/{quote(group)}/{version}"
    status = fields.get("status", "")
    try:
        change = await run_in_threadpool(
            backend.set_approval, group, version, status, fields.get("description", ""), fields.get("force") == "1"
        )
    except ApprovalError as exc:
        return _back(page, error=str(exc))
    except ClientError as exc:
        return _back(page, error=_aws_message(exc))
    return _back(page, note=f"version {version} is now {change.status}")


# -- endpoints -------------------------------------------------------------------------------------


def endpoints(request: Request):
    return render(request, "endpoints_list.html", {"endpoints": _backend(request).endpoints()})


def _endpoint_view(request: Request) -> dict:
    backend, name = _backend(request), request.path_params["name"]
    endpoint = backend.endpoint(name)
    config = backend.endpoint_config(endpoint["EndpointConfigName"])
    variants = endpoint.get("ProductionVariants", [])
    total = sum(v.get("CurrentWeight", 0) for v in variants) or 1
    now = dt.datetime.now(dt.timezone.utc)
    counts, counts_error = optional(
        backend.variant_metrics, name, [v["VariantName"] for v in variants], now - dt.timedelta(days=1), now
    )
    return {
        "name": name,
        "endpoint": endpoint,
        "config": config,
        "variants": variants,
        "total": total,
        "counts": counts or {},
        "counts_error": counts_error,
        "terminal": endpoint.get("EndpointStatus") not in ("Creating", "Updating", "SystemUpdating", "RollingBack"),
    }


def endpoint(request: Request):
    view = _endpoint_view(request)
    history, history_error = optional(_backend(request).config_history, view["name"])
    return render(
        request,
        "endpoints_detail.html",
        {
            **view,
            "history": history or [],
            "history_error": history_error,
            "note": request.query_params.get("note"),
            "error": request.query_params.get("error"),
        },
    )


def endpoint_live(request: Request):
    return render(request, "endpoints_live.html", _endpoint_view(request))


async def _endpoint_action(request: Request, promote: bool):
    fields = await form(request)
    name = request.path_params["name"]
    page = f"/endpoints/{quote(name)}"
    from processing.job import JobError

    try:
        kept = await run_in_threadpool(_backend(request).promote, name, fields.get("variant"), promote)
    except JobError as exc:
        return _back(page, error=str(exc))
    except ClientError as exc:
        return _back(page, error=_aws_message(exc))
    return _back(page, note=f"{kept} now takes all traffic")


async def promote(request: Request):
    return await _endpoint_action(request, True)


async def rollback(request: Request):
    return await _endpoint_action(request, False)


async def weights(request: Request):
    fields = await form(request)
    name = request.path_params["name"]
    page = f"/endpoints/{quote(name)}"
    desired = {}
    for key, value in fields.items():
        if key.startswith("weight:"):
            try:
                desired[key.removeprefix("weight:")] = float(value)
            except ValueError:
                return _back(page, error=f"weight of {key.removeprefix('weight:')} must be a number, got {value!r}")
    try:
        await run_in_threadpool(_backend(request).set_weights, name, desired)
    except ClientError as exc:
        return _back(page, error=_aws_message(exc))
    return _back(page, note="weights updated")


# -- monitoring and feature store ------------------------------------------------------------------


def monitoring(request: Request):
    backend = _backend(request)
    return render(request, "monitoring.html", monitoring_view.build(backend, request.query_params))


def features(request: Request):
    groups, error = optional(_backend(request).feature_groups)
    return render(request, "features_list.html", {"groups": groups or [], "error": error})


def feature_group(request: Request):
    backend, name = _backend(request), request.path_params["name"]
    group = backend.feature_group(name)
    record_id = request.query_params.get("record", "").strip()
    record, record_error = (None, None)
    if record_id:
        record, record_error = optional(backend.get_record, name, record_id)
        if record is None and record_error is None:
            record_error = f"no record with {group['RecordIdentifierFeatureName']} = {record_id!r} in the online store"
    (offline_uri, rows), offline_error = (None, []), None
    result, offline_error = optional(backend.offline_rows, group)
    if result:
        offline_uri, rows = result
    count, count_error = optional(backend.offline_record_count, group)
    return render(
        request,
        "features_detail.html",
        {
            "group": group,
            "record_id": record_id,
            "record": record,
            "record_error": record_error,
            "offline_uri": offline_uri,
            "rows": rows,
            "offline_error": offline_error,
            "count": count,
            "count_error": count_error,
        },
    )


def routes() -> list[Route]:
    return [
        Route("/", home),
        Route("/pipelines", pipelines),
        Route("/pipelines/{name}", pipeline),
        Route("/pipelines/{name}/start", start, methods=["POST"]),
        Route("/pipelines/{name}/executions-table", executions_table),
        Route("/pipelines/{name}/executions/{eid}", execution),
        Route("/pipelines/{name}/executions/{eid}/live", execution_live),
        Route("/pipelines/{name}/executions/{eid}/retry", retry, methods=["POST"]),
        Route("/pipelines/{name}/executions/{eid}/stop", stop, methods=["POST"]),
        Route("/pipelines/{name}/executions/{eid}/steps/{step}", step),
        Route("/s3/{bucket}", s3_object),
        Route("/s3/{bucket}/{key:path}", s3_object),
        Route("/models", models),
        Route("/models/{group}", model_group),
        Route("/models/{group}/compare", compare),
        Route("/models/{group}/{version}", model_package),
        Route("/models/{group}/{version}/approval", approval, methods=["POST"]),
        Route("/endpoints", endpoints),
        Route("/endpoints/{name}", endpoint),
        Route("/endpoints/{name}/live", endpoint_live),
        Route("/endpoints/{name}/promote", promote, methods=["POST"]),
        Route("/endpoints/{name}/rollback", rollback, methods=["POST"]),
        Route("/endpoints/{name}/weights", weights, methods=["POST"]),
        Route("/monitoring", monitoring),
        Route("/features", features),
        Route("/features/{name}", feature_group),
    ]
