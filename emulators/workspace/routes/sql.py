"""SQL Statement Execution 2.0 routes (``/api/2.0/sql/statements``)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from emulators.workspace.routes.common import body, workspace

sql_api = Blueprint("sql", __name__, url_prefix="/api/2.0/sql/statements")


@sql_api.post("")
@sql_api.post("/")
def execute_statement():
    return jsonify(workspace().statements.execute(body(), g.principal))


@sql_api.get("/<statement_id>")
def get_statement(statement_id: str):
    return jsonify(workspace().statements.get(statement_id))


@sql_api.post("/<statement_id>/cancel")
def cancel_statement(statement_id: str):
    workspace().statements.cancel(statement_id)
    return jsonify({})


@sql_api.get("/<statement_id>/result/chunks/<int:chunk_index>")
def get_result_chunk(statement_id: str, chunk_index: int):
    return jsonify(workspace().statements.chunk(statement_id, chunk_index))
