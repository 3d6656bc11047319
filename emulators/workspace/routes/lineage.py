"""Lineage tracking routes (``/api/2.0/lineage-tracking``), as Databricks serves them.

Parameters come from the query string or, as some clients send a GET, from a JSON body; the query wins.
databricks-sdk has no typed service for these: users call them through ``w.api_client.do``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from emulators.workspace.routes.common import body, workspace

lineage_api = Blueprint("lineage", __name__, url_prefix="/api/2.0/lineage-tracking")


def _params() -> dict[str, Any]:
    return {**body(), **request.args.to_dict()}


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


@lineage_api.get("/table-lineage")
def table_lineage():
    params = _params()
    answer = workspace().lineage.table_lineage(
        str(params.get("table_name") or ""), _true(params.get("include_entity_lineage"))
    )
    return jsonify(answer)


@lineage_api.get("/column-lineage")
def column_lineage():
    params = _params()
    answer = workspace().lineage.column_lineage(
        str(params.get("table_name") or ""), str(params.get("column_name") or "")
    )
    return jsonify(answer)
