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
    assert execution["Statistics"]["DataScannedInBytes"] > 0  # the offline store's Parquet objects

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


@pytest.fixture
def pyathena_cursor(localcloud, offline_table, monkeypatch):
    """PyAthena's default Cursor: it converts each value by GetQueryResults' ColumnInfo.Type
    (pyathena.converter), so a type Athena would not report comes back wrong or raises."""
    from pyathena import connect

    monkeypatch.setenv("AWS_ENDPOINT_URL", localcloud.url)
    with connect(
        s3_staging_dir=OUTPUT + "/", region_name="us-east-1", schema_name="sagemaker_featurestore", poll_interval=0.05
    ) as connection:
        yield connection.cursor()


def test_result_types_are_athenas_so_pyathena_converts_them(pyathena_cursor):
    """Athena's result metadata and values (issue 25 class 6):
    - DECIMAL: ColumnInfo Type `decimal` with Precision and Scale
      (https://docs.aws.amazon.com/athena/latest/APIReference/API_ColumnInfo.html: Precision "for
      DECIMAL data types, specifies the total number of digits", Scale "the number of digits in the
      fractional part"; type names: https://docs.aws.amazon.com/athena/latest/ug/data-types.html),
      and `DECIMAL '1.2345'` is decimal(5,4) as in Trino, every digit kept;
    - varbinary: hex bytes separated by spaces, as PyAthena's `_to_binary` reads Athena's;
    - row / array / map: Athena's text, `{field0=Bob, field1=38}` for ROW('Bob', 38)
      (https://docs.aws.amazon.com/athena/latest/ug/creating-row.html), `[1, 2]`, `{k=1}`."""
    from decimal import Decimal

    cursor = pyathena_cursor
    cursor.execute(
        "SELECT CAST(10.5 AS DECIMAL(10, 1)) AS amount, DECIMAL '1.2345' AS exact, X'6869' AS raw, "
        "ROW('Bob', 38) AS users, ARRAY[1, 2] AS ids, MAP(ARRAY['k'], ARRAY[1]) AS counts, "
        "ARRAY[ROW(1, NULL)] AS nested, CAST(ROW(1, 'x') AS ROW(n INTEGER, s VARCHAR)) AS typed, "
        "CAST(1.5 AS DECIMAL) AS bare"
    )
    described = {d[0]: d for d in cursor.description}
    assert [(d[1], d[4], d[5]) for d in (described["amount"], described["exact"])] == [
        ("decimal", 10, 1),
        ("decimal", 5, 4),
    ]
    assert [described[n][1] for n in ("raw", "users", "ids", "counts")] == ["varbinary", "row", "array", "map"]
    row = cursor.fetchone()
    assert row[0] == Decimal("10.5") and isinstance(row[0], Decimal)
    assert row[1] == Decimal("1.2345") and isinstance(row[1], Decimal)
    assert row[2] == b"hi"
    assert row[3] == {"field0": "Bob", "field1": "38"}  # what PyAthena makes of Athena's text
    assert row[4] == [1, 2]
    assert row[5] == {"k": "1"}
    text = cursor.connection.client.get_query_results(QueryExecutionId=cursor.query_id)["ResultSet"]["Rows"][1]
    assert [d["VarCharValue"] for d in text["Data"][2:]] == [
        "68 69",
        "{field0=Bob, field1=38}",
        "[1, 2]",
        "{k=1}",
        "[{field0=1, field1=null}]",
        "{n=1, s=x}",
        "2",  # a bare DECIMAL is decimal(38,0) in Trino (data-types.html: default precision 38, scale 0)
    ]
    assert (described["bare"][1], described["bare"][4], described["bare"][5]) == ("decimal", 38, 0)


def test_unaliased_columns_are_named_as_athena_names_them(pyathena_cursor, offline_table):
    """An expression without an alias is named `_col<its 0-based position>` in the result, as
    Athena (Trino) names it (https://docs.aws.amazon.com/athena/latest/ug/creating-row.html and
    https://docs.aws.amazon.com/athena/latest/ug/querying-with-prepared-statements-querying-using-execution-parameters.html
    show `_col0`); a column reference keeps its name."""
    cursor = pyathena_cursor
    cursor.execute(f"SELECT policy_id, 1 + 1, count(*) OVER (), 'x' AS named FROM \"{offline_table}\" LIMIT 1")
    assert [d[0] for d in cursor.description] == ["policy_id", "_col1", "_col2", "named"]
    assert cursor.fetchone()[1:] == (2, 25, "x")
    cursor.execute("SELECT *, 1 FROM (SELECT 1 AS a, 2 AS b)")  # positions after * is expanded
    assert [d[0] for d in cursor.description] == ["a", "b", "_col2"]
    cursor.execute("SELECT count(*) FROM (SELECT 1)")
    assert [d[0] for d in cursor.description] == ["_col0"]
    cursor.execute("SELECT CAST(ROW(1) AS ROW(a INTEGER)).a, 2")  # a field reference: the field's name
    assert [d[0] for d in cursor.description] == ["a", "_col1"]


def test_execution_parameters_fill_the_placeholders(pyathena_cursor, offline_table):
    """StartQueryExecution's ExecutionParameters fill the `?` placeholders in order, each value SQL
    literal text: strings in single quotes
    (https://docs.aws.amazon.com/athena/latest/ug/querying-with-prepared-statements-querying-using-execution-parameters.html,
    API_StartQueryExecution.html). PyAthena sends them with paramstyle="qmark"; its default
    (pyformat) formats a Decimal as `DECIMAL '<digits>'`: neither loses a digit."""
    from decimal import Decimal

    from pyathena.error import OperationalError

    cursor = pyathena_cursor
    sql = f'SELECT policy_id, claim_amount FROM "{offline_table}" WHERE policy_id = ? AND claim_amount = ?'
    cursor.execute(sql, ["'p00'", "10.5"], paramstyle="qmark")
    assert cursor.fetchall() == [("p00", 10.5)]
    execution = cursor.connection.client.get_query_execution(QueryExecutionId=cursor.query_id)["QueryExecution"]
    assert execution["ExecutionParameters"] == ["'p00'", "10.5"]
    cursor.execute("SELECT ? AS s, ? AS d, ? AS n", ["'it''s ?'", "DECIMAL '123.456789'", "7"], paramstyle="qmark")
    assert cursor.fetchone() == ("it's ?", Decimal("123.456789"), 7)
    cursor.execute("SELECT %(d)s AS d", {"d": Decimal("0.000123456789")})  # pyformat
    assert cursor.fetchone() == (Decimal("0.000123456789"),)
    with pytest.raises(OperationalError, match=r"INVALID_PARAMETER_USAGE: .*expected 2 but found 1"):
        cursor.execute(sql, ["'p00'"], paramstyle="qmark")
    with pytest.raises(OperationalError, match=r"INVALID_PARAMETER_USAGE: .*ExecutionParameters\[0\]"):
        cursor.execute("SELECT ? AS x", ["1) OR (1 = 1"], paramstyle="qmark")
    with pytest.raises(OperationalError, match=r"EXPRESSION_NOT_CONSTANT: .*ExecutionParameters\[1\].*single quotes"):
        cursor.execute(sql, ["'p00'", "p00"], paramstyle="qmark")  # a string not given as a literal
    cursor.execute("SELECT 'é€' AS t, ? AS x -- ?\n", ["'ü'"], paramstyle="qmark")  # offsets past non-ASCII text
    assert cursor.fetchone() == ("é€", "ü")
