"""Delta Sharing pieces that need no storage: the SQL grammar (partition filters, quoting, comments), the
share's partition filters and the protocol's JSON predicate hints on partition values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk.service.sql import StatementState

from emulators.workspace.routes.delta_sharing import _limited, _may_match
from emulators.workspace.sharing import _in_partitions
from emulators.workspace.testing import InProcessWorkspace


@pytest.fixture()
def workspace(tmp_path: Path) -> Iterator[InProcessWorkspace]:
    # sharing commands are answered by the workspace itself: the engine address is never dialled
    ws = InProcessWorkspace(tmp_path / "ws", sql_engine_remote="sc://127.0.0.1:9").start()
    w = ws.client()
    w.catalogs.create(name="shop")
    w.schemas.create(name="sales", catalog_name="shop")
    columns = [
        {"name": "id", "type_name": "LONG", "type_text": "bigint", "position": 0},
        {"name": "region", "type_name": "STRING", "type_text": "string", "position": 1, "partition_index": 0},
        {"name": "city_id", "type_name": "INT", "type_text": "int", "position": 2, "partition_index": 1},
    ]
    w.api_client.do(
        "POST",
        "/api/2.1/unity-catalog/tables",
        body={
            "catalog_name": "shop",
            "schema_name": "sales",
            "name": "orders",
            "table_type": "EXTERNAL",
            "data_source_format": "DELTA",
            "storage_location": "abfss://lake@devstoreaccount1.dfs.core.windows.net/orders",
            "columns": columns,
        },
    )
    yield ws
    ws.stop()


def _sql(ws: InProcessWorkspace, statement: str, expect: str = "SUCCEEDED"):
    answer = ws.client().statement_execution.execute_statement(
        statement=statement, warehouse_id="local", wait_timeout="10s"
    )
    assert answer.status.state == StatementState[expect], (statement, answer.status)
    return answer


def test_alter_share_reads_partition_filters_aliases_quoting_and_comments(workspace: InProcessWorkspace):
    _sql(workspace, "-- partners\nCREATE SHARE `Partners` COMMENT 'it\\'s' ;")
    _sql(
        workspace,
        "ALTER SHARE partners ADD TABLE `shop`.sales.`orders` COMMENT 'EU, and city 2' "
        "PARTITION (region LIKE 'eu%', city_id = 1), PARTITION (city_id = 2) AS eu.orders WITHOUT HISTORY",
    )
    (data_object,) = workspace.client().shares.get("partners", include_shared_data=True).objects
    assert data_object.shared_as == "eu.orders" and data_object.comment == "EU, and city 2"
    assert [[(v.name, v.op.value, v.value) for v in p.values] for p in data_object.partitions] == [
        [("region", "LIKE", "eu%"), ("city_id", "EQUAL", "1")],
        [("city_id", "EQUAL", "2")],
    ]
    assert data_object.history_data_sharing_status.value == "DISABLED"
    assert workspace.client().shares.get("partners").comment == "it's"
    shown = _sql(workspace, "SHOW ALL IN SHARE partners").result.data_array[0]
    assert shown[6] == "(region LIKE 'eu%', city_id = '1'), (city_id = '2')"

    _sql(workspace, "CREATE SHARE other")
    not_partition = _sql(
        workspace, "ALTER SHARE other ADD TABLE shop.sales.orders PARTITION (id = 1)", expect="FAILED"
    )
    assert "not a partition column" in not_partition.status.error.message
    garbled = _sql(
        workspace, "ALTER SHARE partners ADD TABLE shop.sales.orders WITH SOMETHING", expect="FAILED"
    )
    assert "PARSE_SYNTAX_ERROR" in garbled.status.error.message
    twice = _sql(workspace, "ALTER SHARE partners ADD TABLE shop.sales.orders AS x.y", expect="FAILED")
    assert "already in share" in twice.status.error.message
    _sql(workspace, "ALTER SHARE partners REMOVE TABLE eu.orders")  # by its shared name too
    assert _sql(workspace, "SHOW ALL IN SHARE partners").result.data_array is None


def test_share_partition_filters_are_ors_of_ands():
    partitions = [
        {
            "values": [
                {"name": "region", "op": "LIKE", "value": "eu%"},
                {"name": "city_id", "op": "EQUAL", "value": "1"},
            ]
        },
        {"values": [{"name": "city_id", "op": "EQUAL", "value": "2"}]},
    ]

    def file(region, city):
        return {"partitionValues": {"region": region, "city_id": city}}

    assert _in_partitions(file("eu-west", "1"), partitions)
    assert _in_partitions(file("us", "2"), partitions)
    assert not _in_partitions(file("us", "1"), partitions)
    assert not _in_partitions(file(None, "1"), partitions)
    assert _in_partitions(file("us", "1"), None)


def test_json_predicate_hints_prune_only_what_is_surely_false():
    def file(city, day=None):
        return {"partitionValues": {"city_id": city, "day": day}}

    def column(name, kind="int"):
        return {"op": "column", "name": name, "valueType": kind}

    def literal(value, kind="int"):
        return {"op": "literal", "value": value, "valueType": kind}

    equal = {"op": "equal", "children": [column("city_id"), literal("2")]}
    assert _may_match(json.dumps(equal), file("2")) and not _may_match(json.dumps(equal), file("10"))
    ranged = {
        "op": "and",
        "children": [
            {"op": "greaterThanOrEqual", "children": [column("city_id"), literal("2")]},
            {"op": "lessThan", "children": [column("city_id"), literal("10")]},
        ],
    }
    assert _may_match(ranged, file("9")) and not _may_match(ranged, file("10"))  # 10 > 9 as numbers
    on_data = {"op": "equal", "children": [column("amount", "double"), literal("1.5", "double")]}
    assert _may_match(on_data, file("1"))  # not a partition column: unknown, kept
    either = {"op": "or", "children": [equal, {"op": "isNull", "children": [column("day", "date")]}]}
    assert _may_match(either, file("7")) and not _may_match(either, file("7", "2024-01-01"))
    negated = {"op": "not", "children": [equal]}
    assert not _may_match(negated, file("2"))
    assert _may_match("{not json", file("2")) and _may_match({"op": "weird"}, file("2"))


def test_limit_hint_keeps_files_until_their_rows_reach_it():
    files = [{"path": str(i), "stats": json.dumps({"numRecords": 10})} for i in range(5)]
    assert [f["path"] for f in _limited(files, 15)] == ["0", "1"]
    assert _limited(files, 0) == []
    assert _limited([{"path": "x"}, *files], 5) == [{"path": "x"}, *files]  # no stats: everything
