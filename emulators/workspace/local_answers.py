"""What the SQL statements the workspace answers itself (not the engine) have in common: the types of the
statements model's ``answer_locally`` hook, the shape of an answer, and a failure in Databricks' words.

Why it exists: several modules answer statements before they reach Sail — ``governance.py`` (tags, masks,
SQL functions), ``grants_sql.py`` (GRANT, SHOW GRANTS, COMMENT ON, DESCRIBE), ``managed_ddl.py`` (plain
managed CREATE TABLE), ``sync_metadata.py`` (REPAIR TABLE … SYNC METADATA) and others. Each must fail as
Databricks fails — ``[ERROR_CLASS] message SQLSTATE: xxxxx`` ("Error classes in Databricks",
docs.databricks.com/aws/en/error-messages/) — and answer in the shape of an engine's result. These lived
in ``governance.py``, the first of them, so every other answerer imported the tags and masks module to
raise an error; here they depend on nothing but ``errors.py`` and ``results.py``. (``governance.py`` still
offers the errors to the modules that import them from it.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulators.workspace.errors import ApiError
from emulators.workspace.results import inline_result

#: a statement's (manifest, result) when the workspace answers it itself
LocalAnswer = tuple[dict[str, Any], dict[str, Any]]
#: the statement's default catalog and schema (for a name of fewer than three parts), asked only when needed
Defaults = Callable[[], tuple[str | None, str | None]]


class SqlStatementError(ApiError):
    """A statement's failure in Databricks' words: ``[ERROR_CLASS] message SQLSTATE: xxxxx``.

    The SQL statements model turns it into ``status.error`` (``BAD_REQUEST``) and ``status.sql_state``, as
    it does for the engine's own errors (it asks ``getSqlState()``, as of a PySpark error).
    """

    def __init__(self, error_class: str, message: str, sql_state: str) -> None:
        super().__init__(400, "BAD_REQUEST", f"[{error_class}] {message} SQLSTATE: {sql_state}")
        self.sql_state = sql_state

    def getSqlState(self) -> str:  # noqa: N802 - PySpark's name, which the statements model asks
        return self.sql_state


def quoted(full_name: str) -> str:
    """``a.b.c`` as Databricks' messages name it: ```a`.`b`.`c```."""
    return ".".join(f"`{part}`" for part in full_name.split("."))


def table_not_found(full_name: str) -> SqlStatementError:
    return SqlStatementError(
        "TABLE_OR_VIEW_NOT_FOUND",
        f"The table or view {quoted(full_name)} cannot be found. Verify the spelling and correctness of the "
        "schema and catalog.",
        "42P01",
    )


def column_not_found(column: str, table: dict[str, Any]) -> SqlStatementError:
    names = ", ".join(f"`{c['name']}`" for c in table.get("columns") or [])
    return SqlStatementError(
        "UNRESOLVED_COLUMN.WITH_SUGGESTION",
        f"A column, variable, or function parameter with name `{column}` cannot be resolved. Did you mean "
        f"one of the following? [{names}].",
        "42703",
    )


def routine_not_found(full_name: str) -> SqlStatementError:
    return SqlStatementError(
        "ROUTINE_NOT_FOUND",
        f"The routine {quoted(full_name)} cannot be found. Verify the spelling and correctness of the "
        "schema and catalog.",
        "42883",
    )


def unsupported(message: str) -> SqlStatementError:
    return SqlStatementError("UNSUPPORTED_FEATURE.LOCAL_WORKSPACE", message, "0A000")


def string_rows(columns: list[str], rows: list[list[Any]], row_limit: int | None) -> LocalAnswer:
    """A JSON_ARRAY INLINE result of STRING columns, as the statements model shapes the engine's."""
    schema = [
        {"name": name, "position": i, "type_name": "STRING", "type_text": "STRING"}
        for i, name in enumerate(columns)
    ]
    return inline_result(schema, rows, row_limit)


def done() -> LocalAnswer:
    """The answer of a command: no columns, no rows (a fresh one each time: the statement keeps it)."""
    return string_rows([], [], None)
