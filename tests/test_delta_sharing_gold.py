"""Delta Sharing on the whole local stack: the real ``delta-sharing`` client reads the gold weather table the
weather jobs wrote (EXTERNAL), and a MANAGED table made through SQL statements on Sail whose later versions
exist only as catalog-ratified staged commits — both through a profile made by recipient activation, and
both compared with what the lake holds (polars over the same Delta table) or SQL answers."""

from __future__ import annotations

import uuid

import polars as pl
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sql import StatementState
from test_delta_sharing import ensure_sharing_python, plain_rows, run_recipient  # tests/ is on sys.path

from climatelake.lake import storage_options

pytestmark = pytest.mark.stack
WAREHOUSE = "local"


@pytest.fixture(scope="module")
def sharing_python() -> str:
    return ensure_sharing_python()


def _sql(w: WorkspaceClient, statement: str):
    answer = w.statement_execution.execute_statement(
        statement=statement, warehouse_id=WAREHOUSE, wait_timeout="50s"
    )
    assert answer.status.state == StatementState.SUCCEEDED, (statement, answer.status)
    return answer


def _profile(w: WorkspaceClient, share: str) -> dict:
    recipient = f"gold_{uuid.uuid4().hex[:6]}"
    link = _sql(w, f"CREATE RECIPIENT {recipient}").result.data_array[0][4]
    _sql(w, f"GRANT SELECT ON SHARE {share} TO RECIPIENT {recipient}")
    token = w.recipient_activation.retrieve_token(link.rsplit("?", 1)[1])
    return {
        "shareCredentialsVersion": token.share_credentials_version,
        "endpoint": token.endpoint,
        "bearerToken": token.bearer_token,
        "expirationTime": token.expiration_time,
    }


def test_recipient_reads_the_gold_weather_table_exactly(local_stack, sharing_python: str):
    w = local_stack.stack.workspace_client()
    settings = local_stack.stack.settings()
    gold = f"{settings.catalog}.gold.weather_daily"
    share = f"weather_{uuid.uuid4().hex[:6]}"
    _sql(w, f"CREATE SHARE {share} COMMENT 'daily weather for partners'")
    _sql(w, f"ALTER SHARE {share} ADD TABLE {gold} AS weather.daily WITH HISTORY")
    profile = _profile(w, share)

    location = w.tables.get(gold).storage_location
    expected = pl.read_delta(location, storage_options=storage_options(settings))
    (read,) = run_recipient(sharing_python, profile, [{"do": "load", "table": f"{share}.weather.daily"}])
    assert "error" not in read, read
    assert read["columns"] == expected.columns and read["row_count"] == expected.height > 0
    assert sorted(read["rows"], key=repr) == plain_rows(expected)
    count = _sql(w, f"SELECT count(*) FROM {gold}").result.data_array[0][0]
    assert int(count) == read["row_count"]


def test_recipient_time_travels_a_managed_table_made_through_sql(local_stack, sharing_python: str):
    w = local_stack.stack.workspace_client()
    catalog = local_stack.stack.settings().catalog
    schema = f"share_{uuid.uuid4().hex[:6]}"
    table = f"{catalog}.{schema}.menu"
    _sql(w, f"CREATE SCHEMA IF NOT EXISTS {catalog}.{schema}")
    _sql(w, f"CREATE TABLE {table} (recipe_id INT, app STRING, main STRING)")
    _sql(w, f"INSERT INTO {table} VALUES (1, 'Ceviche', 'Tacos'), (2, 'Tomato Soup', 'Souffle')")
    _sql(w, f"INSERT INTO {table} VALUES (3, 'Chips', 'Grilled Cheese')")
    assert w.tables.get(table).table_type.value == "MANAGED"

    share = f"menu_{uuid.uuid4().hex[:6]}"
    _sql(w, f"CREATE SHARE {share}")
    _sql(w, f"ALTER SHARE {share} ADD TABLE {table} WITH HISTORY")
    profile = _profile(w, share)
    name = f"{share}.{schema}.menu"
    latest, second = run_recipient(
        sharing_python, profile, [{"do": "load", "table": name}, {"do": "load", "table": name, "version": 1}]
    )
    assert "error" not in latest and "error" not in second, (latest, second)
    selected = _sql(w, f"SELECT recipe_id, app, main FROM {table}").result.data_array
    assert sorted(latest["rows"]) == sorted([int(r[0]), r[1], r[2]] for r in selected)
    assert sorted(row[0] for row in second["rows"]) == [1, 2]
