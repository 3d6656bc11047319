"""The workspace stand-in with the real engine: Sail's Unity Catalog provider creating, appending to and
reading MANAGED (catalog-managed) Delta tables in Azurite through the stand-in, and SQL statements 2.0
executed on Sail through databricks-sdk. Azurite, Sail and the stand-in run as the local stack runs them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import requests
from azure.storage.blob import BlobServiceClient
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, NotFound
from databricks.sdk.service.sql import (
    ExecuteStatementRequestOnWaitTimeout,
    StatementParameterListItem,
    StatementState,
)

from emulators.stack import Stack, wait_until
from emulators.workspace.server import storage_options
from tests.helpers.catalog_stack import catalog_stack

pytestmark = pytest.mark.stack
CATALOG = "climatelake"  # the catalog the stack's Sail is configured with
WAREHOUSE = "local"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(Path(tmp_path_factory.mktemp("ws-sail")), in_memory=True)
    yield from catalog_stack(stack, CATALOG)


@pytest.fixture(scope="module")
def spark(stack: Stack):
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(f"sc://127.0.0.1:{stack.ports['sail']}").create()
    session.conf.set("spark.sql.sources.default", "delta")
    yield session
    session.stop()


@pytest.fixture()
def schema(stack: Stack) -> str:
    name = f"s_{uuid.uuid4().hex[:8]}"
    stack.workspace_client().schemas.create(name=name, catalog_name=CATALOG)
    return f"{CATALOG}.{name}"


def _blobs(stack: Stack, location: str) -> list[str]:
    path = location.split(".dfs.core.windows.net/", 1)[1]
    container = BlobServiceClient.from_connection_string(stack.connection_string).get_container_client("lake")
    return [b.name[len(path) + 1 :] for b in container.list_blobs(name_starts_with=path + "/")]


def test_sail_creates_appends_and_reads_managed_tables_through_the_catalog(stack, spark, schema):
    w = stack.workspace_client()
    table = f"{schema}.readings"
    spark.range(3).selectExpr("id", "concat('v', id) AS v").write.saveAsTable(table)  # a new table
    spark.createDataFrame([(10, "x")], "id long, v string").write.mode("append").saveAsTable(table)
    spark.sql(f"INSERT INTO {table} VALUES (11, 'y')")
    rows = [tuple(r) for r in spark.table(table).orderBy("id").collect()]
    assert rows == [(0, "v0"), (1, "v1"), (2, "v2"), (10, "x"), (11, "y")]

    info = w.tables.get(table)
    assert info.table_type.value == "MANAGED" and info.data_source_format.value == "DELTA"
    assert [c.name for c in info.columns] == ["id", "v"]
    assert "/__unitystorage/catalogs/" in info.storage_location
    commits = w.api_client.do(
        "GET",
        "/api/2.1/unity-catalog/delta/preview/commits",
        body={"table_id": info.table_id, "table_uri": info.storage_location, "start_version": 0},
    )
    assert commits["latest_table_version"] == 3  # the catalog ratified every version after the first
    files = _blobs(stack, info.storage_location)
    assert "_delta_log/00000000000000000000.json" in files
    assert any(f.startswith("_delta_log/_staged_commits/") for f in files)
    assert any(f.endswith(".parquet") for f in files)

    spark.sql(f"CREATE TABLE {schema}.summary AS SELECT count(*) AS n FROM {table}")
    assert spark.table(f"{schema}.summary").collect()[0].n == 5
    shown = {r.tableName for r in spark.sql(f"SHOW TABLES IN {schema}").collect()}
    assert shown == {"readings", "summary"}
    spark.sql(f"DROP TABLE {schema}.summary")
    with pytest.raises(NotFound):
        w.tables.get(f"{schema}.summary")


@pytest.mark.xfail(
    strict=True,
    reason="Sail 0.7.2: saveAsTable of a NEW managed table from a DataFrame with nullable columns fails "
    "after the catalog created it ('Delta table already exists with different metadata'); the same with "
    "non-nullable columns, CTAS, CREATE TABLE + append all work. Flips when Sail fixes it.",
)
def test_sail_saves_a_new_table_from_nullable_columns(spark, schema):
    spark.createDataFrame([(1, "a")], "id long, v string").write.saveAsTable(f"{schema}.nullable")
    assert spark.table(f"{schema}.nullable").count() == 1


def _run(w: WorkspaceClient, statement: str, **kwargs):
    kwargs.setdefault("wait_timeout", "30s")
    return w.statement_execution.execute_statement(statement=statement, warehouse_id=WAREHOUSE, **kwargs)


def test_statements_bind_parameters_and_format_values_as_databricks(stack):
    w = stack.workspace_client()
    hostile = "x'; DROP TABLE nothing; --"
    answer = _run(
        w,
        "SELECT :n + 1 AS n, :day AS day, :text AS text, :missing AS missing",
        parameters=[
            StatementParameterListItem(name="n", value="41", type="INT"),
            StatementParameterListItem(name="day", value="2024-02-29", type="DATE"),
            StatementParameterListItem(name="text", value=hostile),
            StatementParameterListItem(name="missing", type="BIGINT"),
        ],
    )
    assert answer.status.state == StatementState.SUCCEEDED
    columns = answer.manifest.schema.columns
    assert [(c.name, c.type_name.value, c.position) for c in columns] == [
        ("n", "INT", 0),
        ("day", "DATE", 1),
        ("text", "STRING", 2),
        ("missing", "LONG", 3),
    ]
    assert answer.result.data_array == [["42", "2024-02-29", hostile, None]]  # bound, never spliced
    assert answer.manifest.total_row_count == 1

    typed = _run(
        w,
        "SELECT true AS b, 1.5D AS d, CAST(1.25 AS DECIMAL(10,2)) AS dec, "
        "TIMESTAMP'2024-01-02 03:04:05.123' AS ts, array(1, 2) AS a, map('k', 1) AS m, "
        "named_struct('x', 1) AS s, X'0102' AS bin",
    )
    assert typed.result.data_array == [
        ["true", "1.5", "1.25", "2024-01-02T03:04:05.123Z", "[1,2]", '{"k":1}', '{"x":1}', "AQI="]
    ]
    decimal = typed.manifest.schema.columns[2]
    assert (decimal.type_name.value, decimal.type_precision, decimal.type_scale) == ("DECIMAL", 10, 2)


def test_a_failing_statement_reports_databricks_error_shape(stack):
    answer = _run(stack.workspace_client(), f"SELECT * FROM {CATALOG}.nowhere.nothing")
    assert answer.status.state == StatementState.FAILED
    assert answer.status.error.error_code.value == "BAD_REQUEST"
    assert "not found" in answer.status.error.message.lower()
    assert answer.result is None


def test_ddl_statements_keep_the_catalog_in_step(stack, schema):
    w = stack.workspace_client()
    catalog_name, schema_name = schema.split(".")
    _run(
        w,
        "CREATE TABLE events (id BIGINT, kind STRING) USING delta",
        catalog=catalog_name,
        schema=schema_name,
    )
    info = w.tables.get(f"{schema}.events")
    assert [(c.name, c.type_name.value) for c in info.columns] == [("id", "LONG"), ("kind", "STRING")]
    inserted = _run(w, f"INSERT INTO {schema}.events VALUES (7, 'start')")
    assert inserted.status.state == StatementState.SUCCEEDED
    # Sail 0.7.2 binds parameters in queries only; a command with parameters fails, and says so
    bound = _run(
        w,
        f"INSERT INTO {schema}.events VALUES (:id, 'x')",
        parameters=[StatementParameterListItem(name="id", value="8", type="BIGINT")],
    )
    assert bound.status.state == StatementState.FAILED and "parameters" in bound.status.error.message
    counted = _run(w, "SELECT count(*) AS n FROM events", catalog=catalog_name, schema=schema_name)
    assert counted.result.data_array == [["1"]]
    _run(w, f"DROP TABLE {schema}.events")
    with pytest.raises(NotFound):
        w.tables.get(f"{schema}.events")


def test_statements_run_asynchronously_and_can_be_cancelled(stack):
    w = stack.workspace_client()
    started = _run(w, "SELECT 1 AS one", wait_timeout="0s")
    assert started.status.state in (StatementState.PENDING, StatementState.RUNNING, StatementState.SUCCEEDED)
    wait_until(
        lambda: (
            w.statement_execution.get_statement(started.statement_id).status.state == StatementState.SUCCEEDED
        ),
        30,
        "the statement succeeded",
    )
    assert w.statement_execution.get_statement(started.statement_id).result.data_array == [["1"]]

    control = f"{stack.url('workspace')}/api/2.0/local/sql"
    headers = {"Authorization": f"Bearer {stack.workspace_token}"}
    requests.post(control, json={"start_delay_seconds": 60}, headers=headers, timeout=5).raise_for_status()
    try:
        held = _run(w, "SELECT 2 AS two", wait_timeout="0s")
        assert held.status.state in (StatementState.PENDING, StatementState.RUNNING)
        w.statement_execution.cancel_execution(held.statement_id)
        assert w.statement_execution.get_statement(held.statement_id).status.state == StatementState.CANCELED
        timed_out = _run(
            w,
            "SELECT 3 AS three",
            wait_timeout="5s",
            on_wait_timeout=ExecuteStatementRequestOnWaitTimeout.CANCEL,
        )
        assert timed_out.status.state == StatementState.CANCELED
    finally:
        requests.post(control, json={"start_delay_seconds": 0}, headers=headers, timeout=5).raise_for_status()
    with pytest.raises(NotFound):
        w.statement_execution.get_statement(str(uuid.uuid4()))


def test_if_not_exists_is_satisfied_through_sail_and_statements(stack, spark, schema):
    """Sail's ``IF NOT EXISTS`` needs a 409 for an existing schema/table (its User-Agent gets one), while
    databricks-sdk sees Databricks' 400 ``*_ALREADY_EXISTS`` (BadRequest) for the very same duplicate."""
    w = stack.workspace_client()
    catalog_name, schema_name = schema.split(".")
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for _ in range(2):
        for statement in (
            f"CREATE SCHEMA IF NOT EXISTS {schema}",
            f"CREATE TABLE IF NOT EXISTS {schema}.once (id BIGINT) USING delta",
        ):
            answer = _run(w, statement)
            assert answer.status.state == StatementState.SUCCEEDED, (statement, answer.status.error)
    spark.sql(f"CREATE TABLE IF NOT EXISTS {schema}.once (id BIGINT) USING delta")
    assert [t.name for t in w.tables.list(catalog_name=catalog_name, schema_name=schema_name)] == ["once"]
    with pytest.raises(BadRequest, match="already exists") as duplicate:
        w.schemas.create(name=schema_name, catalog_name=catalog_name)
    assert duplicate.value.error_code == "SCHEMA_ALREADY_EXISTS"


def _delta_features(stack: Stack, location: str) -> set[str]:
    """The reader and writer table features of a table's first commit (its protocol action)."""
    path = location.split(".dfs.core.windows.net/", 1)[1]
    container = BlobServiceClient.from_connection_string(stack.connection_string).get_container_client("lake")
    first = container.download_blob(f"{path}/_delta_log/00000000000000000000.json").readall().decode()
    actions = [json.loads(line) for line in first.splitlines() if line.strip()]
    protocol = next(action["protocol"] for action in actions if "protocol" in action)
    return set(protocol.get("readerFeatures") or []) | set(protocol.get("writerFeatures") or [])


def _scan(stack: Stack, full_name: str) -> list[tuple]:
    """The table as polars reads it through Unity Catalog: table info, vended SAS, then delta-rs."""
    endpoint = {"azure_storage_endpoint": f"{stack.url('blob')}/devstoreaccount1", "azure_allow_http": "true"}
    catalog = pl.Catalog(stack.url("workspace"), bearer_token=stack.workspace_token, require_https=False)
    frame = catalog.scan_table(*full_name.split("."), storage_options=endpoint).collect()
    return sorted(frame.select("id", "v").rows())


def test_managed_tables_made_each_way_read_in_polars_and_sail(stack, spark, schema):
    """A MANAGED table is plain Delta unless it opts in to catalog-managed commits, as on Databricks, where
    catalog-managed commits are a table feature a table is created with (``TBLPROPERTIES
    ('delta.feature.catalogManaged' = 'supported')``, "Catalog-managed commits" in Databricks' Delta docs).
    So delta-rs (polars' ``scan_table``) reads managed tables made with SQL statements or REST and written
    with SQL or DataFrames, and Sail keeps writing and reading them through the catalog; only a table Sail
    itself creates is catalog-managed (Sail 0.7.2 insists), which delta-rs cannot read."""
    w = stack.workspace_client()
    expected = [(1, "a"), (2, "b"), (3, "c")]

    _run(w, f"CREATE TABLE {schema}.by_sql (id BIGINT, v STRING) USING delta")
    assert _run(w, f"INSERT INTO {schema}.by_sql VALUES (1, 'a'), (2, 'b')").status.state.value == "SUCCEEDED"
    _run(w, f"INSERT INTO {schema}.by_sql VALUES (3, 'c')")

    _run(w, f"CREATE TABLE IF NOT EXISTS {schema}.by_dataframe (id BIGINT, v STRING)")
    spark.createDataFrame([(1, "a"), (2, "b")], "id long, v string").write.mode("append").saveAsTable(
        f"{schema}.by_dataframe"
    )
    spark.createDataFrame([(3, "c")], "id long, v string").write.mode("append").saveAsTable(
        f"{schema}.by_dataframe"
    )

    catalog_name, schema_name = schema.split(".")
    staged = w.api_client.do(
        "POST",
        "/api/2.1/unity-catalog/staging-tables",
        body={"catalog_name": catalog_name, "schema_name": schema_name, "name": "by_rest"},
    )
    pl.DataFrame({"id": [1, 2], "v": ["a", "b"]}).write_delta(
        staged["staging_location"], storage_options=storage_options(stack.connection_string)
    )
    w.api_client.do(
        "POST",
        "/api/2.1/unity-catalog/tables",
        body={
            "catalog_name": catalog_name,
            "schema_name": schema_name,
            "name": "by_rest",
            "table_type": "MANAGED",
            "data_source_format": "DELTA",
            "storage_location": staged["staging_location"],
            "columns": [
                {"name": "id", "type_name": "LONG", "type_text": "bigint", "position": 0},
                {"name": "v", "type_name": "STRING", "type_text": "string", "position": 1},
            ],
        },
    )
    spark.sql(f"INSERT INTO {schema}.by_rest VALUES (3, 'c')")

    for name in ("by_sql", "by_dataframe", "by_rest"):
        info = w.tables.get(f"{schema}.{name}")
        assert info.table_type.value == "MANAGED" and info.table_id, name
        assert "catalogManaged" not in _delta_features(stack, info.storage_location), name
        assert _scan(stack, f"{schema}.{name}") == expected, name
        assert (
            sorted(tuple(r) for r in spark.table(f"{schema}.{name}").select("id", "v").collect()) == expected
        )

    # a new table saved straight on Sail: Sail 0.7.2 makes it catalog-managed whatever the catalog answers
    spark.sql("SELECT CAST(1 AS BIGINT) AS id, 'a' AS v").write.saveAsTable(f"{schema}.by_sail")
    info = w.tables.get(f"{schema}.by_sail")
    assert "catalogManaged" in _delta_features(stack, info.storage_location)
    assert [tuple(r) for r in spark.table(f"{schema}.by_sail").collect()] == [(1, "a")]
    with pytest.raises(Exception, match="[Cc]atalog.managed|catalog version"):  # a known limit (README)
        _scan(stack, f"{schema}.by_sail")


def test_a_table_made_catalog_managed_commits_through_the_catalog(stack, spark, schema):
    """Opting in (``delta.feature.catalogManaged``) gives Sail the table id, so it writes the catalogManaged
    feature and ratifies every later version with the catalog (``/delta/preview/commits``)."""
    w = stack.workspace_client()
    table = f"{schema}.coordinated"
    created = _run(
        w,
        f"CREATE TABLE {table} (id BIGINT, v STRING) USING delta "
        "TBLPROPERTIES ('delta.feature.catalogManaged' = 'supported')",
    )
    assert created.status.state == StatementState.SUCCEEDED, created.status.error
    spark.sql(f"INSERT INTO {table} VALUES (1, 'a')")
    spark.createDataFrame([(2, "b")], "id long, v string").write.mode("append").saveAsTable(table)
    assert sorted(tuple(r) for r in spark.table(table).collect()) == [(1, "a"), (2, "b")]
    info = w.tables.get(table)
    assert "catalogManaged" in _delta_features(stack, info.storage_location)
    commits = w.api_client.do(
        "GET",
        "/api/2.1/unity-catalog/delta/preview/commits",
        body={"table_id": info.table_id, "table_uri": info.storage_location, "start_version": 0},
    )
    assert commits["latest_table_version"] == 2
