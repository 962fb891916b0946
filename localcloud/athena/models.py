"""Athena query executions: state and execution (the wire shapes are in responses.py).

A query runs asynchronously, as on Athena: StartQueryExecution answers with an id in state
QUEUED, a worker moves it to RUNNING and then SUCCEEDED, FAILED or CANCELLED. The SQL is Trino's
(Athena engine version 3); it is transpiled with sqlglot and run on DuckDB over the Feature Store
offline store (each group's Glue table, `"<database>"."<table>"`, see
localcloud.featurestore.offline). Results are written where Athena writes them
(https://docs.aws.amazon.com/athena/latest/ug/querying.html, "Working with query results"):
`<OutputLocation>/<QueryExecutionId>.csv` (header row, every value double-quoted, NULL as an
empty unquoted field) and `<QueryExecutionId>.csv.metadata` beside it. Athena's metadata file is
an undocumented binary format; ours holds the same ResultSetMetadata as JSON (no client reads it:
PyAthena takes column types from GetQueryResults).

GetQueryResults pages over a private Parquet copy of the result in the state directory, because
the CSV cannot be read back with NULL and "" kept apart by Python's csv module (3.11).

Failed queries carry Athena's error shape (Status.StateChangeReason, Status.AthenaError with
ErrorCategory 2 = USER and ErrorType 1000 = "User error", from the Athena error catalog,
https://docs.aws.amazon.com/athena/latest/ug/error-reference.html).
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud.athena.exceptions import InvalidRequestException
from localcloud.errors import AwsError

if TYPE_CHECKING:
    import duckdb

    from localcloud.cloud import LocalCloud

KIND = "athena-query-execution"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
ENGINE = {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"}
USER_ERROR = {"ErrorCategory": 2, "ErrorType": 1000, "Retryable": False}


class QueryFailed(Exception):
    """A query Athena would run and fail: the reason becomes Status.StateChangeReason."""


class AthenaBackend:
    """Query executions of one localcloud home, reached as `cloud.athena`. Documents (kind
    "athena-query-execution") are shaped like GetQueryExecution's QueryExecution. Errors:
    InvalidRequestException (localcloud.athena.exceptions)."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self.state = cloud.state
        self.results_dir = cloud.config.home / "athena" / "results"
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="athena-query")
        self._lock = threading.Lock()
        self._running: dict[str, duckdb.DuckDBPyConnection] = {}  # query id -> its DuckDB connection
        self._recover()

    def _recover(self) -> None:
        # A query running when the process died fails, as Athena fails queries on internal errors.
        for doc in self.state.list(KIND):
            if doc["Status"]["State"] not in TERMINAL:
                self._finish(
                    doc["QueryExecutionId"],
                    "FAILED",
                    reason="INTERNAL_ERROR_QUERY_ENGINE: the query engine restarted",
                    error={"ErrorCategory": 1, "ErrorType": 100, "Retryable": True},
                )

    # -- API
    def start(
        self,
        *,
        query_string: str,
        output_location: str | None = None,
        catalog: str | None = None,
        database: str | None = None,
        work_group: str = "primary",
        execution_parameters: list[str] | None = None,
    ) -> str:
        """StartQueryExecution -> the QueryExecutionId; the query runs on a worker.
        `output_location`: ResultConfiguration.OutputLocation; `catalog`, `database`: the
        QueryExecutionContext; `execution_parameters`: the values of the query's `?`
        placeholders, each SQL literal text (a string is `'abc'`). InvalidRequestException
        without a usable OutputLocation."""
        output = output_location
        if not output:
            raise InvalidRequestException(
                "No output location provided. An output location is required "
                "either through the Workgroup result configuration setting or "
                "as an API input."
            )
        if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?", output):
            raise InvalidRequestException(f"The S3 location provided to save your query results is invalid: {output}")
        query_id = str(uuid.uuid4())
        now = time.time()
        doc = {
            "QueryExecutionId": query_id,
            "Query": query_string,
            "StatementType": "DML",
            "ResultConfiguration": {"OutputLocation": f"{output.rstrip('/')}/{query_id}.csv"},
            "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
            "QueryExecutionContext": {
                "Catalog": catalog if catalog is not None else "awsdatacatalog",
                "Database": database if database is not None else "default",
            },
            "Status": {"State": "QUEUED", "SubmissionDateTime": now},
            "Statistics": {
                "EngineExecutionTimeInMillis": 0,
                "DataScannedInBytes": 0,
                "TotalExecutionTimeInMillis": 0,
                "QueryQueueTimeInMillis": 0,
                "ServicePreProcessingTimeInMillis": 0,
                "QueryPlanningTimeInMillis": 0,
                "ServiceProcessingTimeInMillis": 0,
                "ResultReuseInformation": {"ReusedPreviousResult": False},
            },
            "WorkGroup": work_group,
            "EngineVersion": ENGINE,
            "SubstatementType": "SELECT",
        }
        if execution_parameters:
            doc["ExecutionParameters"] = list(execution_parameters)
        self.state.insert(KIND, query_id, doc)
        self._pool.submit(self._run, query_id)
        return query_id

    def get(self, query_id: str) -> dict[str, Any]:
        """GetQueryExecution's QueryExecution (InvalidRequestException if there is none)."""
        doc = self.state.get(KIND, query_id)
        if doc is None:
            raise InvalidRequestException(f"QueryExecution {query_id} was not found")
        return doc

    def stop(self, query_id: str) -> None:
        """StopQueryExecution: CANCELLED, and the engine interrupted, unless already finished."""
        with self._lock:
            doc = self.get(query_id)
            if doc["Status"]["State"] not in TERMINAL:
                self._finish(query_id, "CANCELLED", reason="Query cancelled by user")
                con = self._running.get(query_id)
                if con is not None:
                    con.interrupt()  # stop the engine too, not only the state

    def results(self, query_id: str, max_results: int, next_token: str | None) -> dict[str, Any]:
        """GetQueryResults' response: a page of rows (the first begins with the header row).
        InvalidRequestException for a query that has not succeeded or a foreign NextToken."""
        import pyarrow.parquet as pq

        doc = self.get(query_id)
        state = doc["Status"]["State"]
        if state in ("QUEUED", "RUNNING"):
            raise InvalidRequestException(f"Query has not yet finished. Current state: {state}")
        if state != "SUCCEEDED":
            raise InvalidRequestException(f"Query did not finish successfully. Final query state: {state}")
        columns = doc["ResultSetMetadata"]["ColumnInfo"]
        start = 0
        if next_token:
            try:
                token = json.loads(next_token)
                if token.get("q") != query_id:
                    raise ValueError
                start = int(token["row"])
            except (ValueError, KeyError, TypeError):
                raise InvalidRequestException("The NextToken is invalid for this query") from None
        rows: list[dict[str, Any]] = []
        if start == 0:  # the first page begins with the header row, as Athena's does for SELECT
            rows.append({"Data": [{"VarCharValue": c["Name"]} for c in columns]})
        take = max_results - len(rows)
        table = pq.read_table(self.results_dir / f"{query_id}.parquet")
        page = table.slice(start, take)
        values = [page.column(i).to_pylist() for i in range(page.num_columns)]
        for r in range(page.num_rows):
            rows.append({"Data": [{} if col[r] is None else {"VarCharValue": col[r]} for col in values]})
        out: dict[str, Any] = {
            "ResultSet": {"Rows": rows, "ResultSetMetadata": doc["ResultSetMetadata"]},
            "UpdateCount": 0,
        }
        if start + page.num_rows < table.num_rows:
            out["NextToken"] = json.dumps({"q": query_id, "row": start + page.num_rows})
        return out

    # -- execution
    def _run(self, query_id: str) -> None:
        try:
            self._execute(query_id)
        finally:
            with self._lock:
                self._running.pop(query_id, None)

    def _execute(self, query_id: str) -> None:
        with self._lock:
            doc = self.get(query_id)
            if doc["Status"]["State"] != "QUEUED":
                return
            doc["Status"]["State"] = "RUNNING"
            self.state.put(KIND, query_id, doc)
        started = time.time()
        try:
            from localcloud.athena.engine import execute

            with tempfile.TemporaryDirectory(dir=self.results_dir) as work:
                result = execute(
                    self.cloud,
                    doc["Query"],
                    doc["QueryExecutionContext"]["Database"],
                    Path(work),
                    started=lambda con: self._started(query_id, con),
                    parameters=doc.get("ExecutionParameters"),
                )
                bucket, key = _split(doc["ResultConfiguration"]["OutputLocation"])
                with self._lock:
                    if self.get(query_id)["Status"]["State"] == "CANCELLED":
                        return
                    try:
                        with open(result.csv, "rb") as f:
                            self.cloud.s3.put_object(
                                bucket, key, iter(lambda: f.read(1 << 20), b""), content_type="text/csv"
                            )
                        meta = {"ResultSetMetadata": {"ColumnInfo": result.columns}}
                        self.cloud.s3.put_object(bucket, f"{key}.metadata", json.dumps(meta).encode())
                    except AwsError as error:
                        raise QueryFailed(
                            f"Unable to write query results to s3://{bucket}/{key}: {error.message}"
                        ) from None
                    result.parquet.replace(self.results_dir / f"{query_id}.parquet")
                    self._finish(query_id, "SUCCEEDED", columns=result.columns, scanned=result.scanned, started=started)
        except QueryFailed as failure:
            with self._lock:
                if self.get(query_id)["Status"]["State"] != "CANCELLED":
                    self._finish(
                        query_id,
                        "FAILED",
                        reason=str(failure),
                        error={**USER_ERROR, "ErrorMessage": str(failure)},
                        started=started,
                    )
        except Exception as exc:  # an engine fault is Athena's internal error, never a crash
            with self._lock:
                if self.get(query_id)["Status"]["State"] == "CANCELLED":
                    return
                self._finish(
                    query_id,
                    "FAILED",
                    reason=f"INTERNAL_ERROR_QUERY_ENGINE: {exc}",
                    error={"ErrorCategory": 1, "ErrorType": 200, "Retryable": True, "ErrorMessage": str(exc)},
                    started=started,
                )

    def _started(self, query_id: str, con: duckdb.DuckDBPyConnection) -> bool:
        # Called just before the statement runs: False if it was stopped already. A stop landing
        # in the microseconds between this and the statement's start only costs engine time: the
        # result of a CANCELLED query is never written.
        with self._lock:
            self._running[query_id] = con
            return self.get(query_id)["Status"]["State"] != "CANCELLED"

    def _finish(
        self,
        query_id: str,
        state: str,
        *,
        reason: str | None = None,
        error: dict[str, Any] | None = None,
        columns: list[dict[str, Any]] | None = None,
        scanned: int = 0,
        started: float | None = None,
    ) -> None:
        doc = self.get(query_id)
        now = time.time()
        doc["Status"]["State"] = state
        doc["Status"]["CompletionDateTime"] = now
        if reason:
            doc["Status"]["StateChangeReason"] = reason
        if error:
            doc["Status"]["AthenaError"] = error
        if columns is not None:
            doc["ResultSetMetadata"] = {"ColumnInfo": columns}
        stats = doc["Statistics"]
        total = int((now - doc["Status"]["SubmissionDateTime"]) * 1000)
        engine = int((now - started) * 1000) if started else 0
        stats.update(
            {
                "EngineExecutionTimeInMillis": engine,
                "TotalExecutionTimeInMillis": total,
                "QueryQueueTimeInMillis": max(0, total - engine),
                "DataScannedInBytes": scanned,
            }
        )
        self.state.put(KIND, query_id, doc)

    def close(self) -> None:
        with self._lock:
            for con in self._running.values():  # a query left running would hold shutdown
                con.interrupt()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key
