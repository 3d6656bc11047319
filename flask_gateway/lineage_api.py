"""``/v1/tables/<full_name>/lineage``: a table's upstream and downstream tables and its columns' lineage.

Read from Unity Catalog's lineage-tracking API through databricks-sdk, which has no typed service for it
(``w.api_client.do``, as Databricks documents: GET /api/2.0/lineage-tracking/table-lineage with
``table_name`` and ``include_entity_lineage``; GET …/column-lineage with ``table_name`` and ``column_name``).
The table's columns come from Unity Catalog (``w.tables.get``), one column-lineage call each. Only tables of
the configured catalog are answered (others are 404); the answer holds names and the jobs and queries that
made each edge, never rows, so a ``reader`` may read it.

Entries that are not tables (files, notebooks, models: Databricks answers those without ``tableInfo``) are
left out: the console draws a graph of tables.
"""

from __future__ import annotations

import re
from typing import Any

from databricks.sdk.errors import NotFound
from flask import Blueprint, jsonify

from flask_gateway import clients
from flask_gateway.auth import require
from flask_gateway.errors import Problem

bp = Blueprint("lineage", __name__, url_prefix="/v1/tables")
TABLE_LINEAGE = "/api/2.0/lineage-tracking/table-lineage"
COLUMN_LINEAGE = "/api/2.0/lineage-tracking/column-lineage"
FULL_NAME = re.compile(r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+$")


def _table(entry: dict[str, Any]) -> dict[str, Any] | None:
    info = entry.get("tableInfo")
    if not info:
        return None
    return {
        "table": f"{info['catalog_name']}.{info['schema_name']}.{info['name']}",
        "table_type": info.get("table_type"),
        "lineage_timestamp": info.get("lineage_timestamp"),
        "jobs": [
            {"job_id": j.get("job_id"), "job_run_id": j.get("job_run_id")} for j in entry.get("jobInfos", [])
        ],
        "queries": [{"query_id": q.get("query_id")} for q in entry.get("queryInfos", [])],
    }


def _column(entry: dict[str, Any]) -> dict[str, str]:
    table = f"{entry['catalog_name']}.{entry['schema_name']}.{entry['table_name']}"
    return {"table": table, "column": entry["name"]}


@bp.get("/<table_name>/lineage")
@require("reader")
def table_lineage(table_name: str):
    """Upstream and downstream tables (one hop each) and, per column, its source and derived columns."""
    if not FULL_NAME.match(table_name):
        raise Problem(
            400,
            "Bad Request",
            "table_name must be catalog.schema.table (letters, digits, underscores).",
            invalid_fields=["table_name"],
        )
    if table_name.split(".")[0].lower() != clients.settings().catalog.lower():
        raise Problem(404, "Not Found", f"No table {table_name}.")
    w = clients.workspace()
    try:
        info = w.tables.get(table_name)
        tables = w.api_client.do(
            "GET", TABLE_LINEAGE, query={"table_name": table_name, "include_entity_lineage": "true"}
        )
        columns = []
        for column in info.columns or []:
            answer = w.api_client.do(
                "GET", COLUMN_LINEAGE, query={"table_name": table_name, "column_name": column.name}
            )
            columns.append(
                {
                    "name": column.name,
                    "type": column.type_text,
                    "upstream": [_column(c) for c in answer.get("upstream_cols", [])],
                    "downstream": [_column(c) for c in answer.get("downstream_cols", [])],
                }
            )
    except NotFound:
        raise Problem(404, "Not Found", f"No table {table_name}.") from None
    return jsonify(
        {
            "table": info.full_name or table_name,
            "table_type": info.table_type.value if info.table_type else None,
            "upstreams": [t for t in map(_table, tables.get("upstreams", [])) if t],
            "downstreams": [t for t in map(_table, tables.get("downstreams", [])) if t],
            "columns": columns,
        }
    )
