"""Lineage as Databricks gives it: the Menu/Dinner demo run through the SQL statements API by product code
(``climatelake.sql_runner``, databricks-sdk) against Azurite + Sail + the workspace stand-in, then read back
through the lineage-tracking API (databricks-sdk's ``api_client``, as users call it) and the
``system.access`` lineage tables. Parsing cases that need no engine are in test_lineage_parsing.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound

from climatelake.sql_runner import SqlRunError, run_sql, run_sql_file
from emulators.stack import Stack
from tests.helpers.catalog_stack import catalog_stack

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[1]
CATALOG = "climatelake"  # the catalog the stack's Sail is configured with
WAREHOUSE = "local"
MENU = f"{CATALOG}.lineagedemo.menu"
DINNER = f"{CATALOG}.lineagedemo.dinner"
PRINCIPAL = "local-user@climatelake.dev"  # the principal of the stack's workspace token


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # on disk, not in memory: the restart test needs the workspace's SQLite to outlive its process
    stack = Stack(Path(tmp_path_factory.mktemp("lineage")), in_memory=False)
    yield from catalog_stack(stack, CATALOG)


@pytest.fixture(scope="module")
def demo(stack: Stack) -> list:
    """The demo script, run once by product code; the CTAS is its last statement."""
    return run_sql_file(
        stack.workspace_client(), ROOT / "sql" / "lineage_demo.sql", catalog=CATALOG, warehouse_id=WAREHOUSE
    )


def table_lineage(w: WorkspaceClient, table: str, entities: bool = True) -> dict:
    query = {"table_name": table, "include_entity_lineage": "true" if entities else "false"}
    return w.api_client.do("GET", "/api/2.0/lineage-tracking/table-lineage", query=query)


def column_lineage(w: WorkspaceClient, table: str, column: str) -> dict:
    return w.api_client.do(
        "GET", "/api/2.0/lineage-tracking/column-lineage", body={"table_name": table, "column_name": column}
    )


def names(entries: list[dict]) -> list[str]:
    return [f"{e['catalog_name']}.{e['schema_name']}.{e['name']}" for e in (e["tableInfo"] for e in entries)]


def cols(entries: list[dict]) -> list[str]:
    return [f"{e['catalog_name']}.{e['schema_name']}.{e['table_name']}.{e['name']}" for e in entries]


def test_the_menu_dinner_demo_gives_table_and_column_lineage(stack, demo):
    w = stack.workspace_client()
    ctas = demo[-1]
    assert ctas.statement.text.startswith(f"CREATE TABLE {DINNER} AS")
    rows = w.statement_execution.execute_statement(
        statement=f"SELECT recipe_id, full_menu FROM {DINNER} ORDER BY recipe_id", warehouse_id=WAREHOUSE
    ).result.data_array
    assert rows[0] == ["1", "Ceviche + Tacos + Flan"]

    dinner = table_lineage(w, DINNER)
    assert names(dinner["upstreams"]) == [MENU] and dinner["downstreams"] == []
    upstream = dinner["upstreams"][0]
    assert upstream["tableInfo"]["table_type"] == "TABLE"
    assert upstream["tableInfo"]["lineage_timestamp"]
    assert upstream["queryInfos"] == [{"workspace_id": 0, "query_id": ctas.statement_id}]
    assert "jobInfos" not in upstream
    menu = table_lineage(w, MENU, entities=False)
    assert names(menu["downstreams"]) == [DINNER]
    assert menu["upstreams"] == []  # INSERT … VALUES reads no table
    assert "queryInfos" not in menu["downstreams"][0]

    full_menu = column_lineage(w, DINNER, "full_menu")
    assert cols(full_menu["upstream_cols"]) == [f"{MENU}.app", f"{MENU}.dessert", f"{MENU}.main"]
    assert full_menu["downstream_cols"] == []
    assert cols(column_lineage(w, DINNER, "recipe_id")["upstream_cols"]) == [f"{MENU}.recipe_id"]
    assert cols(column_lineage(w, MENU, "app")["downstream_cols"]) == [f"{DINNER}.full_menu"]
    assert cols(column_lineage(w, MENU, "recipe_id")["downstream_cols"]) == [f"{DINNER}.recipe_id"]
    assert column_lineage(w, DINNER, "nothing") == {"upstream_cols": [], "downstream_cols": []}


def test_star_and_unqualified_columns_resolve_with_the_catalog_and_defaults(stack, demo):
    w = stack.workspace_client()
    kwargs = {"warehouse_id": WAREHOUSE, "catalog": CATALOG, "schema": "lineagedemo", "wait_timeout": "30s"}
    for statement in (
        "CREATE TABLE menu_copy AS SELECT * FROM menu",
        "CREATE TABLE tasting (dish STRING, n INT)",
        "INSERT INTO tasting SELECT upper(dessert), recipe_id FROM menu_copy WHERE recipe_id > 1",
    ):
        answer = w.statement_execution.execute_statement(statement=statement, **kwargs)
        assert answer.status.state.value == "SUCCEEDED", answer.status
    copy = f"{CATALOG}.lineagedemo.menu_copy"
    for column in ("recipe_id", "app", "main", "dessert"):
        assert cols(column_lineage(w, copy, column)["upstream_cols"]) == [f"{MENU}.{column}"]
    tasting = f"{CATALOG}.lineagedemo.tasting"
    assert names(table_lineage(w, tasting)["upstreams"]) == [copy]
    assert cols(column_lineage(w, tasting, "dish")["upstream_cols"]) == [f"{copy}.dessert"]
    assert cols(column_lineage(w, tasting, "n")["upstream_cols"]) == [f"{copy}.recipe_id"]
    # no catalog given: the engine session's current catalog (the stack's default) fills it in
    names_only = w.statement_execution.execute_statement(
        statement="CREATE TABLE lineagedemo.dishes AS SELECT main FROM lineagedemo.menu",
        warehouse_id=WAREHOUSE,
        wait_timeout="30s",
    )
    assert names_only.status.state.value == "SUCCEEDED", names_only.status
    dishes = f"{CATALOG}.lineagedemo.dishes"
    assert cols(column_lineage(w, dishes, "main")["upstream_cols"]) == [f"{MENU}.main"]
    assert names(table_lineage(w, MENU)["downstreams"]) == [DINNER, dishes, copy]


def test_a_failed_statement_records_nothing(stack, demo):
    w = stack.workspace_client()
    before = table_lineage(w, MENU)
    with pytest.raises(SqlRunError, match=r"statement 2 \(line 2\) FAILED") as failed:
        run_sql(
            w,
            f"SELECT 1;\nCREATE TABLE {CATALOG}.lineagedemo.broken AS SELECT no_such_column FROM {MENU};\n"
            f"CREATE TABLE {CATALOG}.lineagedemo.never AS SELECT app FROM {MENU}",
            warehouse_id=WAREHOUSE,
        )
    assert failed.value.statement_id
    assert table_lineage(w, MENU) == before
    for table in ("broken", "never"):
        with pytest.raises(NotFound):
            table_lineage(w, f"{CATALOG}.lineagedemo.{table}")


def test_system_tables_answer_lineage_through_sql(stack, demo):
    w = stack.workspace_client()
    answer = w.statement_execution.execute_statement(
        statement="SELECT source_table_full_name, target_table_full_name, created_by, statement_id "
        f"FROM system.access.table_lineage WHERE target_table_full_name = '{DINNER}'",
        warehouse_id=WAREHOUSE,
    )
    assert answer.status.state.value == "SUCCEEDED", answer.status
    assert answer.result.data_array == [[MENU, DINNER, PRINCIPAL, demo[-1].statement_id]]
    columns = w.statement_execution.execute_statement(
        statement="SELECT target_column_name, source_column_name FROM system.access.column_lineage "
        "WHERE target_table_name = 'dinner' ORDER BY target_column_name, source_column_name",
        warehouse_id=WAREHOUSE,
    )
    assert columns.result.data_array == [
        ["full_menu", "app"],
        ["full_menu", "dessert"],
        ["full_menu", "main"],
        ["recipe_id", "recipe_id"],
    ]
    assert [c.name for c in columns.manifest.schema.columns] == ["target_column_name", "source_column_name"]
    mixed = w.statement_execution.execute_statement(
        statement=f"SELECT * FROM system.access.table_lineage JOIN {MENU}", warehouse_id=WAREHOUSE
    )
    assert mixed.status.state.value == "FAILED" and "system.access" in mixed.status.error.message


def test_lineage_survives_a_restart_of_the_workspace(stack, demo):
    w = stack.workspace_client()
    before = (table_lineage(w, DINNER), column_lineage(w, DINNER, "full_menu"))
    stack.restart("workspace")
    w = stack.workspace_client()
    assert (table_lineage(w, DINNER), column_lineage(w, DINNER, "full_menu")) == before


def test_the_demo_runs_again_on_kept_state_and_lineage_accumulates(stack, demo):
    w = stack.workspace_client()
    again = run_sql_file(w, ROOT / "sql" / "lineage_demo.sql", catalog=CATALOG, warehouse_id=WAREHOUSE)
    count = w.statement_execution.execute_statement(
        statement=f"SELECT count(*) FROM {DINNER}", warehouse_id=WAREHOUSE
    ).result.data_array
    assert count == [["3"]]  # the tables started afresh
    (upstream,) = table_lineage(w, DINNER)["upstreams"]
    assert upstream["tableInfo"]["name"] == "menu"
    assert {q["query_id"] for q in upstream["queryInfos"]} == {demo[-1].statement_id, again[-1].statement_id}
    assert cols(column_lineage(w, DINNER, "full_menu")["upstream_cols"]) == [
        f"{MENU}.app",
        f"{MENU}.dessert",
        f"{MENU}.main",
    ]
