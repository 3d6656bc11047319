"""``CREATE TABLE`` of a MANAGED Delta table through SQL statements, made as Databricks makes it: plain Delta.

Why here and not in the engine: Sail 0.7.2 makes every MANAGED Delta table it creates through its Unity
Catalog provider catalog-managed — it requires the catalog's table id and writes the ``catalogManaged``
reader/writer feature into version 0 (sail-delta-lake ``table_format.rs``: "catalog-managed Delta CREATE
TABLE requires a Unity table id") — and delta-rs, so polars' ``pl.Catalog.scan_table``, cannot read such a
table ("Max catalog version is required when loading a catalog-managed table"). On Databricks a managed
table is catalog-managed only when created with ``TBLPROPERTIES ('delta.feature.catalogManaged' =
'supported')`` ("Catalog-managed commits", docs.databricks.com/aws/en/delta/catalog-managed-commits); any
other is plain Delta that open clients read through credential vending.

So the plain form ``CREATE TABLE [IF NOT EXISTS] <name> (<columns>) [USING DELTA] [COMMENT '…']`` is
answered here: the catalog allocates the table's storage (a staging table), the engine writes an empty
Delta table there by path (plain Delta: no catalog involved), and the catalog registers it MANAGED on that
location with the columns read back from its log. Later writes by name stay plain (Sail is answered such
tables without their table id: ``routes/unity_catalog._table_view``). Every other form — ``AS SELECT``,
``LOCATION``, ``PARTITIONED BY``, ``TBLPROPERTIES``, ``OR REPLACE`` — goes to the engine unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from emulators.workspace.catalog import UnityCatalog, columns_from_delta_schema
from emulators.workspace.grants_sql import IDENT, name_parts
from emulators.workspace.local_answers import Defaults, LocalAnswer, SqlStatementError, done

_CREATE = re.compile(
    rf"^\s*CREATE\s+TABLE\s+(?P<exists>IF\s+NOT\s+EXISTS\s+)?(?P<name>{IDENT}(?:\s*\.\s*{IDENT}){{0,2}})\s*"
    r"\((?P<columns>.+)\)\s*(?:USING\s+DELTA\s*)?(?:COMMENT\s+'(?P<comment>(?:[^'\\]|\\.)*)'\s*)?;?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def _balanced(text: str) -> bool:
    """Whether ``text`` (the column list) closes every parenthesis it opens, outside string literals — so
    ``(a INT) PARTITIONED BY (a)`` is not taken for one column list."""
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'`\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not quote


class ManagedTableDdl:
    """The statements model's ``answer_locally`` hook for plain managed ``CREATE TABLE``.

    ``session()`` gives the engine session of the statement (for the path write), None without an engine;
    ``defaults()`` the statement's catalog and schema (for a name with fewer than three parts).
    """

    def __init__(self, catalog: UnityCatalog) -> None:
        self.catalog = catalog

    def answer(
        self, record: dict[str, Any], defaults: Defaults, session: Callable[[], Any]
    ) -> LocalAnswer | None:
        match = _CREATE.match(record["statement"])
        if match is None or not _balanced(match["columns"]) or record.get("parameters"):
            return None
        parts = name_parts(match["name"])
        if len(parts) < 3:
            catalog, schema = defaults()
            parts = [p.lower() for p in [catalog, schema][: 3 - len(parts)] if p] + parts
        if len(parts) != 3:
            return None  # the engine says what is wrong with the name
        catalog_name, schema_name, name = parts
        full_name = ".".join(parts)
        if self.catalog.store.get("table", full_name) is not None:
            if match["exists"]:
                return done()
            raise SqlStatementError(
                "TABLE_OR_VIEW_ALREADY_EXISTS",
                f"Cannot create table or view `{catalog_name}`.`{schema_name}`.`{name}` because it already "
                "exists.",
                "42P07",
            )
        spark = session()
        if spark is None:
            return None  # no engine: the statements model reports that
        principal = record.get("created_by") or ""
        request = {"catalog_name": catalog_name, "schema_name": schema_name, "name": name}
        staged = self.catalog.create_staging_table(request, principal)
        location = staged["staging_location"]
        spark.createDataFrame([], match["columns"]).write.format("delta").save(location)
        log = self.catalog.read_delta_log(location)
        columns = columns_from_delta_schema(log.schema_json, log.partition_columns) if log else []
        body = {
            **request,
            "table_type": "MANAGED",
            "data_source_format": "DELTA",
            "storage_location": location,
            "columns": columns,
        }
        if match["comment"]:
            body["comment"] = re.sub(r"\\(.)", r"\1", match["comment"])
        self.catalog.create_table(body, principal)
        return done()
