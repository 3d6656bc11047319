"""``<catalog>.information_schema`` views answered from Unity Catalog's records and the privilege model
(issue 16): ``catalog_privileges``, ``schema_privileges``, ``table_privileges`` (the grants, inherited ones
with ``inherited_from``), and ``catalogs``, ``schemata``, ``tables``, ``columns`` (with their comments).
Sail knows no information_schema; the tags views are ``governance.py``'s.

Columns as the "INFORMATION_SCHEMA" reference lists them (docs.databricks.com/sql/language-manual/
information-schema/…), a subset for tables and columns (named below). Choices:
- ``grantor`` is the owner of the securable the privilege is granted on (grants keep no grantor here);
  ``is_grantable`` is always ``NO`` ("reserved for future use"); ``inherited_from`` is ``NONE`` for a
  privilege granted on the object itself, else the type of the ancestor it comes from (``CATALOG``,
  ``SCHEMA``), listing those that apply to the object (as effective permissions do: a catalog's ``USE
  CATALOG`` is no row of its schemas); privileges are spelled as SQL spells them (``USE CATALOG``).
- Rows are limited to the objects the caller may see (``Privileges.can_see``), as the reference says
  ("limited to the objects the user is privileged to interact with").
- Queries are run by sqlglot's executor over these rows (one query reading only these views; no named
  parameters), as the tags views and ``system.access`` lineage are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulators.workspace.catalog import UnityCatalog
from emulators.workspace.errors import ApiError
from emulators.workspace.governance import SqlStatementError, table_not_found, unsupported
from emulators.workspace.privileges import APPLICABLE, Privileges, Securable
from emulators.workspace.results import inline_result
from emulators.workspace.statement_access import parse_statement

LocalAnswer = tuple[dict[str, Any], dict[str, Any]]
Defaults = Callable[[], tuple[str | None, str | None]]

_PRIVILEGE = ("grantor", "grantee")
_GRANT = ("privilege_type", "is_grantable", "inherited_from")
VIEWS: dict[str, tuple[str, ...]] = {
    "catalog_privileges": (*_PRIVILEGE, "catalog_name", *_GRANT),
    "schema_privileges": (*_PRIVILEGE, "catalog_name", "schema_name", *_GRANT),
    "table_privileges": (*_PRIVILEGE, "table_catalog", "table_schema", "table_name", *_GRANT),
    "catalogs": ("catalog_name", "catalog_owner", "comment", "created", "created_by", "last_altered"),
    "schemata": (
        "catalog_name",
        "schema_name",
        "schema_owner",
        "comment",
        "created",
        "created_by",
        "last_altered",
    ),
    "tables": (
        "table_catalog",
        "table_schema",
        "table_name",
        "table_type",
        "table_owner",
        "comment",
        "created",
        "created_by",
        "last_altered",
        "last_altered_by",
        "data_source_format",
        "storage_path",
    ),
    "columns": (
        "table_catalog",
        "table_schema",
        "table_name",
        "column_name",
        "ordinal_position",
        "is_nullable",
        "full_data_type",
        "data_type",
        "comment",
        "partition_index",
    ),
}
_INTEGERS = {"ordinal_position", "partition_index"}


def _time(ms: Any) -> str | None:
    import datetime as dt

    if ms is None:
        return None
    moment = dt.datetime.fromtimestamp(int(ms) / 1000, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class InformationSchema:
    def __init__(self, catalog: UnityCatalog, privileges: Privileges) -> None:
        self.catalog = catalog
        self.privileges = privileges

    # rows ---------------------------------------------------------------------------------------
    def _grant_rows(self, securable: Securable) -> list[dict[str, Any]]:
        rows = []
        for level in securable.levels:
            for grantee, held in sorted(self.privileges.assignments(level).items()):
                for privilege in sorted(set(held) & APPLICABLE[securable.type]):
                    rows.append(
                        {
                            "grantor": level.owner,
                            "grantee": grantee,
                            "privilege_type": privilege.replace("_", " "),
                            "is_grantable": "NO",
                            "inherited_from": "NONE" if level is securable else level.type,
                        }
                    )
        return rows

    def rows(self, catalog_name: str, principal: str) -> dict[str, list[dict[str, Any]]]:
        """Every view's rows in one catalog, those the principal may see."""
        store = self.catalog.store
        views: dict[str, list[dict[str, Any]]] = {view: [] for view in VIEWS}
        catalog = self.privileges.resolve("CATALOG", catalog_name)
        if not self.privileges.can_see(principal, catalog):
            return views
        record = store.get("catalog", catalog_name) or {}
        views["catalogs"].append(
            {
                "catalog_name": catalog_name,
                "catalog_owner": record.get("owner"),
                "comment": record.get("comment"),
                "created": _time(record.get("created_at")),
                "created_by": record.get("created_by"),
                "last_altered": _time(record.get("updated_at") or record.get("created_at")),
            }
        )
        views["catalog_privileges"] += [
            dict(row, catalog_name=catalog_name) for row in self._grant_rows(catalog)
        ]
        for _, schema in store.scan("schema", catalog_name + "."):
            securable = self.privileges.resolve("SCHEMA", schema["full_name"])
            if not self.privileges.can_see(principal, securable):
                continue
            where = {"catalog_name": catalog_name, "schema_name": schema["name"]}
            views["schemata"].append(
                dict(
                    where,
                    schema_owner=schema.get("owner"),
                    comment=schema.get("comment"),
                    created=_time(schema.get("created_at")),
                    created_by=schema.get("created_by"),
                    last_altered=_time(schema.get("updated_at") or schema.get("created_at")),
                )
            )
            views["schema_privileges"] += [dict(row, **where) for row in self._grant_rows(securable)]
        for _, table in store.scan("table", catalog_name + "."):
            try:
                securable = self.privileges.resolve("TABLE", table["full_name"])
            except ApiError:
                continue
            if not self.privileges.can_see(principal, securable):
                continue
            where = {
                "table_catalog": catalog_name,
                "table_schema": table["schema_name"],
                "table_name": table["name"],
            }
            views["table_privileges"] += [dict(row, **where) for row in self._grant_rows(securable)]
            views["tables"].append(
                dict(
                    where,
                    table_type=table.get("table_type"),
                    table_owner=table.get("owner"),
                    comment=table.get("comment"),
                    created=_time(table.get("created_at")),
                    created_by=table.get("created_by"),
                    last_altered=_time(table.get("updated_at") or table.get("created_at")),
                    last_altered_by=table.get("updated_by") or table.get("created_by"),
                    data_source_format=table.get("data_source_format"),
                    storage_path=table.get("storage_location"),
                )
            )
            for position, column in enumerate(table.get("columns") or []):
                views["columns"].append(
                    dict(
                        where,
                        column_name=column["name"],
                        ordinal_position=column.get("position", position),
                        is_nullable="YES" if column.get("nullable", True) else "NO",
                        full_data_type=column.get("type_text"),
                        data_type=column.get("type_name"),
                        comment=column.get("comment"),
                        partition_index=column.get("partition_index"),
                    )
                )
        return views

    # the statements' hook -----------------------------------------------------------------------
    def answer(self, record: dict[str, Any], defaults: Defaults) -> LocalAnswer | None:
        """Answer a query of these views, else None (called after governance's tags views)."""
        sql = record["statement"]
        if "information_schema" not in sql.lower():
            return None
        from sqlglot import exp
        from sqlglot.executor import execute

        tree = parse_statement(sql)
        if tree is None:
            return None
        tables = list(tree.find_all(exp.Table))
        ours = [t for t in tables if t.db.lower() == "information_schema" and t.name.lower() in VIEWS]
        if not ours:
            return None
        if len(ours) != len(tables) or not isinstance(tree, exp.Query):
            raise unsupported(
                "The local workspace answers only queries that read information_schema views alone."
            )
        if record.get("parameters"):
            raise unsupported("Named parameters are not supported in queries of information_schema views.")
        principal = record.get("created_by") or ""
        data: dict[str, Any] = {}
        for table in ours:
            catalog_name = (table.catalog or defaults()[0] or "").lower()
            if catalog_name not in data:
                try:
                    views = self.rows(catalog_name, principal)
                except ApiError:
                    raise table_not_found(f"{catalog_name}.information_schema.{table.name.lower()}") from None
                data[catalog_name] = {"information_schema": views}
            table.set("catalog", exp.to_identifier(catalog_name))
            table.set("db", exp.to_identifier("information_schema"))
            table.set("this", exp.to_identifier(table.name.lower()))
        schema = {
            catalog_name: {
                "information_schema": {
                    view: {c: "INT" if c in _INTEGERS else "STRING" for c in columns}
                    for view, columns in VIEWS.items()
                }
            }
            for catalog_name in data
        }
        tables_data = {
            catalog_name: {
                "information_schema": {
                    view: [{c: row.get(c) for c in VIEWS[view]} for row in rows]
                    for view, rows in schemas["information_schema"].items()
                }
            }
            for catalog_name, schemas in data.items()
        }
        try:
            result = execute(tree, schema=schema, tables=tables_data, dialect="databricks")
        except SqlStatementError:
            raise
        except Exception as exc:  # sqlglot's executor: what it cannot run, said as the statement's error
            raise unsupported(
                f"The local workspace cannot run this information_schema query: {exc}"
            ) from None
        columns = [
            {"name": name, "position": i, "type_name": "STRING", "type_text": "STRING"}
            for i, name in enumerate(result.columns)
        ]
        return inline_result(columns, [list(row) for row in result.rows], record.get("row_limit"))
