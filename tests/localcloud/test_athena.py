"""localcloud's Athena API with boto3's `athena` client and PyAthena (PandasCursor) as clients,
over the Feature Store offline store. Expected shapes from the Athena API Reference:
- StartQueryExecution / GetQueryExecution
  (https://docs.aws.amazon.com/athena/latest/APIReference/API_GetQueryExecution.html,
  API_QueryExecutionStatus.html): State QUEUED | RUNNING | SUCCEEDED | FAILED | CANCELLED,
  StateChangeReason, AthenaError {ErrorCategory 1 system | 2 user | 3 other, ErrorType,
  Retryable, ErrorMessage} (error catalog:
  https://docs.aws.amazon.com/athena/latest/ug/error-reference.html).
- GetQueryResults (API_GetQueryResults.html): MaxResults up to 1000, NextToken paging; for a
  SELECT the first row of the first page holds the column names.
- Query results (https://docs.aws.amazon.com/athena/latest/ug/querying.html): `<id>.csv` and
  `<id>.csv.metadata` in the output location.
"""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from tests.localcloud.test_featurestore import create_group, record

OUTPUT = "s3://athena-results/queries"


def _wait(athena, query_id: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return execution
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.fixture
def offline_table(client, localcloud):
    """A feature group with 25 replicated records (p00..p24; claim_amount null for odd ids)."""
    sm, rt = client("sagemaker"), client("sagemaker-featurestore-runtime")
    client("s3").create_bucket(Bucket="athena-results")
    table = create_group(sm)["OfflineStoreConfig"]["DataCatalogConfig"]["TableName"]
    now = time.time()
    for i in range(25):
        values = record(f"p{i:02d}", now + i)
        if i % 2:
            values = [v for v in values if v["FeatureName"] != "claim_amount"]
        rt.put_record(FeatureGroupName="claims", Record=values)
    localcloud.cloud.featurestore.flush_offline()
    return table


def test_query_lifecycle_results_in_s3_and_paging(client, offline_table):
    athena, s3 = client("athena"), client("s3")
    started = athena.start_query_execution(
        QueryString=f'SELECT policy_id, claim_amount, is_deleted FROM "{offline_table}" ORDER BY policy_id',
        QueryExecutionContext={"Database": "sagemaker_featurestore"},
        ResultConfiguration={"OutputLocation": OUTPUT},
    )
    query_id = started["QueryExecutionId"]
    execution = _wait(athena, query_id)
    assert execution["Status"]["State"] == "SUCCEEDED"
    assert execution["ResultConfiguration"]["OutputLocation"] == f"{OUTPUT}/{query_id}.csv"
    assert execution["Status"]["CompletionDateTime"] >= execution["Status"]["SubmissionDateTime"]

    csv = s3.get_object(Bucket="athena-results", Key=f"queries/{query_id}.csv")["Body"].read().decode()
    lines = csv.splitlines()
    assert lines[0] == '"policy_id","claim_amount","is_deleted"'
    assert lines[1] == '"p00","10.5","false"' and lines[2] == '"p01",,"false"'  # NULL: empty, unquoted
    assert len(lines) == 26
    s3.head_object(Bucket="athena-results", Key=f"queries/{query_id}.csv.metadata")

    first = athena.get_query_results(QueryExecutionId=query_id, MaxResults=10)
    rows = first["ResultSet"]["Rows"]
    assert [c["Type"] for c in first["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]] == [
        "varchar",
        "double",
        "boolean",
    ]
    assert rows[0]["Data"] == [
        {"VarCharValue": "policy_id"},
        {"VarCharValue": "claim_amount"},
        {"VarCharValue": "is_deleted"},
    ]
    assert rows[2]["Data"][1] == {}  # NULL has no VarCharValue
    seen = [r["Data"][0]["VarCharValue"] for r in rows[1:]]
    token = first.get("NextToken")
    while token:
        page = athena.get_query_results(QueryExecutionId=query_id, MaxResults=10, NextToken=token)
        seen += [r["Data"][0]["VarCharValue"] for r in page["ResultSet"]["Rows"]]  # no header again
        token = page.get("NextToken")
    assert seen == [f"p{i:02d}" for i in range(25)]

    with pytest.raises(ClientError) as err:
        athena.get_query_results(QueryExecutionId=query_id, MaxResults=1001)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    # Stopping a finished query changes nothing.
    athena.stop_query_execution(QueryExecutionId=query_id)
    assert _wait(athena, query_id)["Status"]["State"] == "SUCCEEDED"


@pytest.mark.parametrize(
    "sql, reason",
    [
        ("SELEC policy_id FROM t", r"^SYNTAX_ERROR: line 1:\d+: "),
        (
            'SELECT * FROM "no_such_table"',
            r"^TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.sagemaker_featurestore.no_such_table' does not exist$",
        ),
        ("SELECT 1; SELECT 2", r"^SYNTAX_ERROR: .*one sql statement"),
    ],
)
def test_failed_queries_come_back_in_athenas_shape(client, offline_table, sql, reason):
    athena = client("athena")
    query_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": "sagemaker_featurestore"},
        ResultConfiguration={"OutputLocation": OUTPUT},
    )["QueryExecutionId"]
    status = _wait(athena, query_id)["Status"]
    assert status["State"] == "FAILED"
    import re

    assert re.search(reason, status["StateChangeReason"]), status
    assert status["AthenaError"]["ErrorCategory"] == 2 and status["AthenaError"]["Retryable"] is False
    assert status["AthenaError"]["ErrorMessage"] == status["StateChangeReason"]
    with pytest.raises(ClientError) as err:
        athena.get_query_results(QueryExecutionId=query_id)
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "FAILED" in err.value.response["Error"]["Message"]


def test_requests_athena_refuses(client, localcloud):
    athena = client("athena")
    with pytest.raises(ClientError) as err:  # no OutputLocation and the primary workgroup has none
        athena.start_query_execution(QueryString="SELECT 1")
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "output location" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        athena.get_query_execution(QueryExecutionId="00000000-0000-0000-0000-000000000000")
    assert err.value.response["Error"]["Code"] == "InvalidRequestException"


def test_pyathena_pandas_cursor(client, localcloud, offline_table, monkeypatch):
    """BuildDataset's client: PyAthena's PandasCursor, reading the CSV from the output location."""
    from pyathena.error import OperationalError

    from processing import athena

    monkeypatch.setenv("AWS_ENDPOINT_URL", localcloud.url)
    query = lambda sql: athena.query(  # noqa: E731
        sql,
        output_location=OUTPUT + "/",
        region="us-east-1",  # noqa: E731
        poll_interval=0.05,
    )
    frame = query(
        f"SELECT policy_id, claim_amount, num_claims, is_deleted, write_time "
        f'FROM "sagemaker_featurestore"."{offline_table}" ORDER BY policy_id'
    )
    assert len(frame) == 25
    assert frame["claim_amount"].isna().sum() == 12 and frame["claim_amount"].iloc[0] == 10.5
    assert str(frame["write_time"].dtype).startswith("datetime64")
    assert not frame["is_deleted"].any()
    with pytest.raises(OperationalError, match="TABLE_NOT_FOUND"):
        query('SELECT * FROM "missing"')


def test_stop_query_execution_cancels_a_running_query(client, offline_table):
    """StopQueryExecution (API_StopQueryExecution.html) ends a running query in state CANCELLED;
    the engine stops too, so the workers are free for the next queries."""
    athena = client("athena")
    context = dict(
        QueryExecutionContext={"Database": "sagemaker_featurestore"}, ResultConfiguration={"OutputLocation": OUTPUT}
    )
    endless = (
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 1000000000) SELECT count(*) FROM t"
    )
    ids = [athena.start_query_execution(QueryString=endless, **context)["QueryExecutionId"] for _ in range(2)]
    for query_id, running_for in zip(ids, (0.0, 1.0)):  # stopped as it starts / while the engine runs
        deadline = time.monotonic() + 30
        while athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"] == "QUEUED":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(running_for)
        athena.stop_query_execution(QueryExecutionId=query_id)
    for query_id in ids:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        assert status["State"] == "CANCELLED"
    quick = athena.start_query_execution(QueryString=f'SELECT count(*) AS n FROM "{offline_table}"', **context)[
        "QueryExecutionId"
    ]
    assert _wait(athena, quick)["Status"]["State"] == "SUCCEEDED"
    for query_id in ids:
        assert _wait(athena, query_id)["Status"]["State"] == "CANCELLED"
