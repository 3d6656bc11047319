"""Lineage without an engine: what sqlglot extracts from each kind of statement (``*`` and unqualified
columns resolved with catalog schemas), the store surviving a restart, the lineage-tracking routes' errors
and entity infos, and the SQL runner's splitting. The real path (Sail, databricks-sdk) is test_lineage.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk.errors import InvalidParameterValue, NotFound

from climatelake.sql_runner import split_statements, substitute
from emulators.common.records import RecordStore
from emulators.workspace.lineage import Extracted, Lineage, extract
from emulators.workspace.testing import InProcessWorkspace

SCHEMAS = {
    "c.s.menu": ["recipe_id", "app", "main", "dessert"],
    "c.s.orders": ["id", "recipe_id", "qty"],
    "c.s.totals": ["recipe_id", "app", "qty"],
}
MENU, ORDERS, TOTALS = "c.s.menu", "c.s.orders", "c.s.totals"


def lineage_of(sql: str, catalog: str | None = "c", schema: str | None = "s") -> Extracted | None:
    return extract(sql, catalog, schema, SCHEMAS.get)


def test_ctas_with_unqualified_columns_uses_the_default_catalog_and_schema():
    found = lineage_of(
        "CREATE TABLE dinner AS SELECT recipe_id, concat(app, main, dessert) AS full FROM menu"
    )
    assert found == Extracted(
        "c.s.dinner",
        {MENU},
        {"recipe_id": {(MENU, "recipe_id")}, "full": {(MENU, "app"), (MENU, "main"), (MENU, "dessert")}},
    )


def test_star_expands_with_the_catalog_schema_and_joins_resolve_each_column():
    found = lineage_of(
        "CREATE TABLE wide AS SELECT m.*, qty FROM menu m JOIN orders o ON m.recipe_id = o.recipe_id"
    )
    assert found.sources == {MENU, ORDERS}
    assert found.columns == {
        "recipe_id": {(MENU, "recipe_id")},
        "app": {(MENU, "app")},
        "main": {(MENU, "main")},
        "dessert": {(MENU, "dessert")},
        "qty": {(ORDERS, "qty")},
    }


def test_insert_select_maps_by_position_or_by_the_column_list():
    by_position = lineage_of(
        "INSERT INTO totals SELECT m.recipe_id, app, sum(qty) FROM menu m JOIN orders "
        "USING (recipe_id) GROUP BY m.recipe_id, app"
    )
    assert by_position.target == TOTALS and by_position.sources == {MENU, ORDERS}
    assert by_position.columns["qty"] == {(ORDERS, "qty")}
    assert by_position.columns["app"] == {(MENU, "app")}
    listed = lineage_of(
        "INSERT INTO c.s.totals (qty, recipe_id) SELECT count(*), recipe_id FROM c.s.orders", None, None
    )
    assert listed.columns == {"recipe_id": {(ORDERS, "recipe_id")}}  # count(*) reads no column


def test_merge_update_from_view_and_ctes():
    merge = lineage_of(
        "MERGE INTO totals t USING (SELECT recipe_id, sum(qty) AS qty FROM orders GROUP BY recipe_id) o "
        "ON t.recipe_id = o.recipe_id WHEN MATCHED THEN UPDATE SET t.qty = t.qty + o.qty "
        "WHEN NOT MATCHED THEN INSERT (recipe_id, qty) VALUES (o.recipe_id, o.qty)"
    )
    assert merge.target == TOTALS and merge.sources == {ORDERS}
    assert merge.columns == {"qty": {(ORDERS, "qty")}, "recipe_id": {(ORDERS, "recipe_id")}}
    star = lineage_of(
        "MERGE INTO totals t USING totals_staging s ON t.recipe_id = s.recipe_id "
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
    )
    assert star.sources == {"c.s.totals_staging"}
    update = lineage_of("UPDATE totals SET app = m.app FROM menu m WHERE totals.recipe_id = m.recipe_id")
    assert update == Extracted(TOTALS, {MENU}, {"app": {(MENU, "app")}})
    view = lineage_of(
        "CREATE OR REPLACE VIEW v AS WITH big AS (SELECT * FROM orders WHERE qty > 5) "
        "SELECT recipe_id, qty * 2 AS double_qty FROM big"
    )
    assert view == Extracted(
        "c.s.v", {ORDERS}, {"recipe_id": {(ORDERS, "recipe_id")}, "double_qty": {(ORDERS, "qty")}}
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM menu",
        "INSERT INTO menu VALUES (1, 'a', 'b', 'c')",
        "CREATE TABLE t (a INT)",
        "UPDATE menu SET app = 'x'",
        "DELETE FROM menu WHERE recipe_id = 1",
        "DROP TABLE menu",
        "this is not sql at all (",
    ],
)
def test_statements_that_write_nothing_from_a_query_give_no_lineage(sql: str):
    assert lineage_of(sql) is None


def test_the_store_keeps_events_across_a_restart(tmp_path: Path):
    path = tmp_path / "workspace.sqlite"
    store = RecordStore(path)
    Lineage(store, lambda name: "MANAGED").record(
        Extracted("c.s.b", {"c.s.a"}, {"x": {("c.s.a", "y")}}), "ada", job={"job_id": 7, "run_id": 9}
    )
    store.close()
    reopened = Lineage(RecordStore(path), lambda name: "MANAGED")
    answer = reopened.table_lineage("C.S.B", include_entity_lineage=True)
    assert [u["tableInfo"]["name"] for u in answer["upstreams"]] == ["a"]
    assert answer["upstreams"][0]["jobInfos"] == [{"workspace_id": 0, "job_id": 7, "run_id": 9}]
    assert reopened.column_lineage("c.s.a", "y")["downstream_cols"][0]["name"] == "x"


@pytest.fixture()
def workspace(tmp_path: Path) -> Iterator[InProcessWorkspace]:
    server = InProcessWorkspace(tmp_path / "ws").start()
    yield server
    server.stop()


def test_routes_validate_names_and_answer_404_for_unknown_tables(workspace: InProcessWorkspace):
    w = workspace.client()
    path = "/api/2.0/lineage-tracking/table-lineage"
    with pytest.raises(InvalidParameterValue):
        w.api_client.do("GET", path, query={})
    with pytest.raises(InvalidParameterValue):
        w.api_client.do("GET", path, query={"table_name": "just_a_name"})
    with pytest.raises(NotFound):
        w.api_client.do("GET", path, query={"table_name": "c.s.nowhere"})
    with pytest.raises(InvalidParameterValue):
        w.api_client.do("GET", "/api/2.0/lineage-tracking/column-lineage", query={"table_name": "c.s.t"})
    model = workspace.app.extensions["workspace"].lineage
    model.record(Extracted("c.s.b", {"c.s.a"}, {}), "ada", statement_id="q1")
    model.record(Extracted("c.s.b", {"c.s.a"}, {}), "ada", job={"job_id": 1, "run_id": 2, "task_key": "t"})
    answer = w.api_client.do("GET", path, body={"table_name": "c.s.a", "include_entity_lineage": True})
    (down,) = answer["downstreams"]
    assert down["tableInfo"]["name"] == "b" and answer["upstreams"] == []
    assert down["queryInfos"] == [{"workspace_id": 0, "query_id": "q1"}]
    assert down["jobInfos"] == [{"workspace_id": 0, "job_id": 1, "run_id": 2, "task_key": "t"}]


def test_the_runner_splits_scripts_outside_quotes_and_comments():
    script = substitute(
        "-- head; note\nSELECT ';' AS a;\n/* x; */ INSERT INTO ${catalog}.s.t\nSELECT 1;;\n", "c"
    )
    assert [(s.line, s.text) for s in split_statements(script)] == [
        (2, "SELECT ';' AS a"),
        (3, "INSERT INTO c.s.t\nSELECT 1"),
    ]
