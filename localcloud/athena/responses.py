"""Athena over JSON 1.1 (`AmazonAthena.<Op>`): the subset PyAthena's cursors call
(StartQueryExecution, GetQueryExecution, GetQueryResults, StopQueryExecution; PyAthena 4's
PandasCursor makes no Glue call, and reads the result CSV with S3 HeadObject/GetObject). Input is
validated against botocore's `athena` model by json_api before these run; state and execution
are in models.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud


def start_query_execution(cloud: LocalCloud, params: dict[str, Any]) -> dict[str, Any]:
    context = params.get("QueryExecutionContext") or {}
    return {
        "QueryExecutionId": cloud.athena.start(
            query_string=params["QueryString"],
            output_location=(params.get("ResultConfiguration") or {}).get("OutputLocation"),
            catalog=context.get("Catalog"),
            database=context.get("Database"),
            work_group=params.get("WorkGroup", "primary"),
            execution_parameters=params.get("ExecutionParameters"),
        )
    }


def get_query_execution(cloud: LocalCloud, params: dict[str, Any]) -> dict[str, Any]:
    return {"QueryExecution": cloud.athena.get(params["QueryExecutionId"])}


def get_query_results(cloud: LocalCloud, params: dict[str, Any]) -> dict[str, Any]:
    # MaxResults: 1-1000 per botocore's model (checked before this runs); 1000 when absent.
    return cloud.athena.results(params["QueryExecutionId"], params.get("MaxResults", 1000), params.get("NextToken"))


def stop_query_execution(cloud: LocalCloud, params: dict[str, Any]) -> dict[str, Any]:
    cloud.athena.stop(params["QueryExecutionId"])
    return {}


OPERATIONS: dict[str, Callable[[LocalCloud, dict[str, Any]], dict[str, Any] | None]] = {
    "StartQueryExecution": start_query_execution,
    "GetQueryExecution": get_query_execution,
    "GetQueryResults": get_query_results,
    "StopQueryExecution": stop_query_execution,
}
