"""``[MSCK] REPAIR TABLE <name> SYNC METADATA`` through SQL statements: the catalog's columns from the log.

Databricks: "When executed with Delta tables using the SYNC METADATA argument, this command reads the delta
log of the target table and updates the metadata info to the Unity Catalog service" (SQL reference,
``sql-ref-syntax-ddl-repair-table``). Unity Catalog keeps its own copy of an external table's columns; a
write by path that changes the schema (``overwriteSchema``) changes the log, not that copy, so
``tables/get``, ``information_schema.columns`` and the column masks' targets keep the old types until the
table is repaired (or re-registered, which would lose its grants, tags and comments).

Choices where the reference says nothing exact:

- the caller needs ``MODIFY`` on the table (with the path to it): it changes what the catalog says about
  the table's data, as a write does (``statement_access.tables_touched`` lists it as a write);
- a column kept by name (case-insensitive) keeps its comment; a new column has none; a dropped one goes;
- only the Delta form is answered; ``ADD|DROP|SYNC PARTITIONS`` (non-Delta tables) go to the engine.
"""

from __future__ import annotations

import re
from typing import Any

from emulators.workspace.catalog import UnityCatalog, columns_from_delta_schema
from emulators.workspace.catalog_records import now_ms
from emulators.workspace.grants_sql import IDENT, name_parts
from emulators.workspace.local_answers import Defaults, LocalAnswer, done, table_not_found

_REPAIR = re.compile(
    r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*(?:MSCK\s+)?REPAIR\s+TABLE\s+"
    rf"(?P<table>{IDENT}(?:\s*\.\s*{IDENT}){{0,2}})\s+SYNC\s+METADATA\s*;?\s*$",
    re.I | re.S,
)


def repaired_table(sql: str, defaults: Defaults) -> str | None:
    """The table ``sql`` repairs (``catalog.schema.table``, lower case), or None when it is no repair."""
    match = _REPAIR.match(sql)
    if match is None:
        return None
    parts = name_parts(match["table"])
    if len(parts) < 3:
        catalog, schema = defaults()
        parts = [p.lower() for p in [catalog, schema][: 3 - len(parts)] if p] + parts
    return ".".join(parts) if len(parts) == 3 else None


class SyncMetadata:
    """The statements model's ``answer_locally`` hook for ``REPAIR TABLE … SYNC METADATA``."""

    def __init__(self, catalog: UnityCatalog) -> None:
        self.catalog = catalog

    def answer(self, record: dict[str, Any], defaults: Defaults) -> LocalAnswer | None:
        if _REPAIR.match(record["statement"]) is None:
            return None
        full_name = repaired_table(record["statement"], defaults)
        with self.catalog.store.lock:
            body = self.catalog.store.get("table", full_name or "")
            if body is None or body.get("data_source_format") != "DELTA":
                raise table_not_found(full_name or record["statement"])
            log = self.catalog.read_delta_log(body["storage_location"])
            if log is None:
                raise table_not_found(full_name or "")
            comments = {c["name"].lower(): c.get("comment") for c in body.get("columns") or []}
            columns = columns_from_delta_schema(log.schema_json, log.partition_columns)
            for column in columns:
                if comments.get(column["name"].lower()):
                    column["comment"] = comments[column["name"].lower()]
            body.update(columns=columns, updated_at=now_ms(), updated_by=record.get("created_by") or "")
            self.catalog.store.put("table", body["full_name"], body)
        return done()
