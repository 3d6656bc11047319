"""Unity Catalog state and behaviour (no HTTP here): catalogs, schemas, tables, staging tables, volumes,
functions, and the catalog-managed Delta commits of MANAGED tables.

Shapes follow the open Unity Catalog API (../shared/specs/unitycatalog-api.yaml), which Databricks also
serves under ``/api/2.1/unity-catalog``; the tests validate every answer against that spec. Names are
case-insensitive and stored lower-case, as Unity Catalog does. Timestamps are epoch milliseconds. Fields
without a value are left out (the spec has no nulls).

Storage layout, as open-source Unity Catalog lays it out: a catalog's managed location is
``<storage_root>/__unitystorage/catalogs/<id>``, a schema with its own root
``<storage_root>/__unitystorage/schemas/<id>``, and a managed table or volume
``<schema's, else catalog's, managed location>/tables/<id>`` (``volumes/<id>``).

Split by kind: ``catalog_records.py`` (names, columns, shared helpers), ``catalog_volumes.py`` (volumes and
functions) and ``catalog_commits.py`` (the catalog-managed Delta commits of MANAGED tables), mixed into
:class:`UnityCatalog` here with catalogs, schemas, tables and staging tables.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.catalog_commits import MAX_UNBACKFILLED_COMMITS, ManagedCommits
from emulators.workspace.catalog_records import (
    COLUMN_TYPE_NAMES,
    DATA_SOURCE_FORMATS,
    MAX_NAME_LENGTH,
    TABLE_TYPES,
    DeltaLog,
    apply_update,
    check_name,
    clean,
    clean_properties,
    column_from_field,
    columns_from_delta_schema,
    normalize_columns,
    now_ms,
    split_full_name,
    type_text,
)
from emulators.workspace.catalog_volumes import VolumesAndFunctions
from emulators.workspace.errors import ApiError, already_exists, invalid, not_found

__all__ = [
    "COLUMN_TYPE_NAMES",
    "DATA_SOURCE_FORMATS",
    "MAX_NAME_LENGTH",
    "MAX_UNBACKFILLED_COMMITS",
    "TABLE_TYPES",
    "DeltaLog",
    "UnityCatalog",
    "check_name",
    "clean",
    "column_from_field",
    "columns_from_delta_schema",
    "normalize_columns",
    "now_ms",
    "split_full_name",
    "type_text",
]


class UnityCatalog(ManagedCommits, VolumesAndFunctions):
    """Catalogs, schemas, tables, volumes and functions kept in a :class:`RecordStore`.

    ``read_delta_log(location)`` returns the :class:`DeltaLog` of a Delta table, or None when there is none
    there; it fills ``columns`` of EXTERNAL tables registered without them, as users expect.

    Records (kind → key): ``catalog`` name; ``schema`` catalog.schema; ``table``, ``volume``, ``function``
    full name; ``table-id`` table id → full name; ``staging`` location; ``staging-name`` full name →
    location (until the table is created); ``volume-id`` id → full name; ``delta-commits`` table id;
    ``catalog-managed`` table id (a table its writer made catalog-managed).
    """

    def __init__(
        self,
        store: RecordStore,
        managed_root: str,
        read_delta_log: Callable[[str], DeltaLog | None] = lambda location: None,
        max_unbackfilled_commits: int = MAX_UNBACKFILLED_COMMITS,
    ) -> None:
        self.store = store
        self.managed_root = managed_root.rstrip("/")
        self.read_delta_log = read_delta_log
        self.max_unbackfilled_commits = max_unbackfilled_commits
        self._commit_lock = threading.Lock()
        #: a table record → {column: {"function_name", "using_column_names"}}: the column masks set with SQL
        #: (``governance.py``), shown as each column's ``mask``, as Databricks' ColumnInfo has it
        self.column_masks: Callable[[dict[str, Any]], dict[str, dict[str, Any]]] = lambda table: {}

    # catalogs -----------------------------------------------------------------------------------
    def create_catalog(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        name = check_name(body.get("name"), "catalog")
        now = now_ms()
        catalog_id = str(uuid.uuid4())
        root = (body.get("storage_root") or self.managed_root).rstrip("/")
        record = clean(
            {
                "name": name,
                "comment": body.get("comment"),
                "properties": clean_properties(body.get("properties")),
                "owner": principal,
                "created_at": now,
                "created_by": principal,
                "updated_at": now,
                "updated_by": principal,
                "id": catalog_id,
                "catalog_type": "MANAGED_CATALOG",
                "storage_root": root,
                "storage_location": f"{root}/__unitystorage/catalogs/{catalog_id}",
            }
        )
        if not self.store.insert("catalog", name, record):
            raise already_exists("catalog", name)
        return record

    def get_catalog(self, name: str) -> dict[str, Any]:
        record = self.store.get("catalog", name.lower())
        if record is None:
            raise not_found("catalog", name)
        return record

    def list_catalogs(self) -> list[dict[str, Any]]:
        return [body for _, body in self.store.scan("catalog")]

    def update_catalog(self, name: str, body: dict[str, Any], principal: str) -> dict[str, Any]:
        with self.store.lock:
            record = self.get_catalog(name)
            apply_update(record, body, principal, ("comment", "properties", "owner"))
            new_name = body.get("new_name")
            if new_name and check_name(new_name, "catalog") != record["name"]:
                old, new = record["name"], check_name(new_name, "catalog")
                if self.store.get("catalog", new):
                    raise already_exists("catalog", new)
                self.store.delete("catalog", old)
                record["name"] = new
                self._rename_children(f"{old}.", f"{new}.")
            self.store.put("catalog", record["name"], record)
            return record

    def delete_catalog(self, name: str, force: bool) -> None:
        with self.store.lock:
            catalog = self.get_catalog(name)
            schemas = self.list_schemas(catalog["name"])
            if schemas and not force:
                raise invalid(f"Catalog '{name}' is not empty. Use force=true to delete it and its contents.")
            for schema in schemas:
                self.delete_schema(schema["full_name"], force=True)
            self.store.delete("catalog", catalog["name"])

    # schemas ------------------------------------------------------------------------------------
    def create_schema(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        catalog = self.get_catalog(check_name(body.get("catalog_name"), "catalog"))
        name = check_name(body.get("name"), "schema")
        full_name = f"{catalog['name']}.{name}"
        now = now_ms()
        schema_id = str(uuid.uuid4())
        root = (body.get("storage_root") or "").rstrip("/") or None
        record = clean(
            {
                "name": name,
                "catalog_name": catalog["name"],
                "full_name": full_name,
                "comment": body.get("comment"),
                "properties": clean_properties(body.get("properties")),
                "owner": principal,
                "created_at": now,
                "created_by": principal,
                "updated_at": now,
                "updated_by": principal,
                "schema_id": schema_id,
                "storage_root": root,
                "storage_location": f"{root}/__unitystorage/schemas/{schema_id}" if root else None,
            }
        )
        if not self.store.insert("schema", full_name, record):
            raise already_exists("schema", full_name)
        return record

    def get_schema(self, full_name: str) -> dict[str, Any]:
        record = self.store.get("schema", full_name.lower())
        if record is None:
            raise not_found("schema", full_name)
        return record

    def list_schemas(self, catalog_name: str) -> list[dict[str, Any]]:
        catalog = self.get_catalog(catalog_name)
        return [body for _, body in self.store.scan("schema", catalog["name"] + ".")]

    def update_schema(self, full_name: str, body: dict[str, Any], principal: str) -> dict[str, Any]:
        with self.store.lock:
            record = self.get_schema(full_name)
            apply_update(record, body, principal, ("comment", "properties", "owner"))
            new_name = body.get("new_name")
            if new_name and check_name(new_name, "schema") != record["name"]:
                old = record["full_name"]
                record["name"] = check_name(new_name, "schema")
                record["full_name"] = f"{record['catalog_name']}.{record['name']}"
                if self.store.get("schema", record["full_name"]):
                    raise already_exists("schema", record["full_name"])
                self.store.delete("schema", old)
                self._rename_children(f"{old}.", f"{record['full_name']}.")
            self.store.put("schema", record["full_name"], record)
            return record

    def delete_schema(self, full_name: str, force: bool) -> None:
        with self.store.lock:
            schema = self.get_schema(full_name)
            prefix = schema["full_name"] + "."
            children = [
                (kind, key)
                for kind in ("table", "volume", "function")
                for key, _ in self.store.scan(kind, prefix)
            ]
            if children and not force:
                raise invalid(
                    f"Schema '{full_name}' is not empty. Use force=true to delete it and its contents."
                )
            for kind, key in children:
                if kind == "table":
                    self.delete_table(key)
                elif kind == "volume":
                    self.delete_volume(key)
                else:
                    self.store.delete(kind, key)
            for key, staged in list(self.store.scan("staging-name", prefix)):
                self.store.delete("staging-name", key)
                self.store.delete("staging", staged["location"])
            self.store.delete("schema", schema["full_name"])

    def _managed_location(self, schema: dict[str, Any]) -> str:
        if schema.get("storage_location"):
            return schema["storage_location"]
        catalog = self.get_catalog(schema["catalog_name"])
        # catalogs made before storage_location existed keep their old root
        return catalog.get("storage_location") or catalog["storage_root"]

    def _rename_children(self, old_prefix: str, new_prefix: str) -> None:
        """Re-key schemas, tables, volumes and functions after a catalog or schema rename."""
        for kind in ("schema", "table", "volume", "function", "staging-name"):
            for key, body in list(self.store.scan(kind, old_prefix)):
                new_key = new_prefix + key[len(old_prefix) :]
                self.store.delete(kind, key)
                if kind == "staging-name":
                    self.store.put(kind, new_key, body)
                    continue
                parts = new_key.split(".")
                body["catalog_name"] = parts[0]
                if kind != "schema":
                    body["schema_name"] = parts[1]
                body["full_name"] = new_key
                self.store.put(kind, new_key, body)
                id_kind = {"table": "table-id", "volume": "volume-id"}.get(kind)
                if id_kind:
                    self.store.put(
                        id_kind, body.get("table_id") or body.get("volume_id"), {"full_name": new_key}
                    )

    def _parent_schema(self, body: dict[str, Any]) -> dict[str, Any]:
        catalog_name = check_name(body.get("catalog_name"), "catalog")
        schema = self.store.get("schema", f"{catalog_name}.{check_name(body.get('schema_name'), 'schema')}")
        if schema is None:
            self.get_catalog(catalog_name)  # a missing catalog is reported as such
            raise not_found("schema", f"{catalog_name}.{body.get('schema_name')}")
        return schema

    # tables -------------------------------------------------------------------------------------
    def create_table(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        schema = self._parent_schema(body)
        name = check_name(body.get("name"), "table")
        full_name = f"{schema['full_name']}.{name}"
        table_type = str(body.get("table_type") or "MANAGED").upper()
        if table_type not in TABLE_TYPES:
            raise invalid(f"Unsupported table_type '{table_type}'.")
        data_source_format = str(body.get("data_source_format") or "DELTA").upper()
        if data_source_format not in DATA_SOURCE_FORMATS:
            raise invalid(f"Unsupported data_source_format '{data_source_format}'.")
        location = (body.get("storage_location") or "").rstrip("/") or None
        columns = normalize_columns(body.get("columns"))
        with self.store.lock:
            if self.store.get("table", full_name):
                raise already_exists("table", full_name)
            table_id = str(uuid.uuid4())
            if table_type == "EXTERNAL" and not location:
                raise invalid("An EXTERNAL table needs a storage_location.")
            if table_type == "MANAGED":
                if location:
                    staged = self.store.get("staging", location)
                    if staged is None:
                        raise ApiError(
                            404,
                            "NOT_FOUND",
                            f"Staging table not found: {location}. A MANAGED table is created on the "
                            "storage_location of a staging table (POST /staging-tables).",
                        )
                    if staged["full_name"] != full_name:
                        raise invalid(
                            f"The staging table at {location} was made for {staged['full_name']}, "
                            f"not {full_name}."
                        )
                    table_id = staged["id"]
                    self.store.delete("staging", location)
                    self.store.delete("staging-name", full_name)
                else:
                    location = f"{self._managed_location(schema)}/tables/{table_id}"
            if not columns and location and table_type == "EXTERNAL":
                log = self.read_delta_log(location)
                columns = columns_from_delta_schema(log.schema_json, log.partition_columns) if log else []
            now = now_ms()
            record = clean(
                {
                    "name": name,
                    "catalog_name": schema["catalog_name"],
                    "schema_name": schema["name"],
                    "full_name": full_name,
                    "table_type": table_type,
                    "data_source_format": data_source_format,
                    "storage_location": location,
                    "columns": columns,
                    "properties": clean_properties(body.get("properties")),
                    "comment": body.get("comment"),
                    "view_definition": body.get("view_definition"),
                    "view_dependencies": body.get("view_dependencies"),
                    "owner": principal,
                    "created_at": now,
                    "created_by": principal,
                    "updated_at": now,
                    "updated_by": principal,
                    "table_id": table_id,
                }
            )
            self.store.put("table", full_name, record)
            self.store.put("table-id", table_id, {"full_name": full_name})
        return record

    def get_table(self, full_name: str) -> dict[str, Any]:
        record = self.store.get("table", full_name.lower())
        if record is None:
            raise not_found("table", full_name)
        if not record.get("columns") and record["table_type"] == "EXTERNAL":
            log = self.read_delta_log(record["storage_location"])
            if log:
                record["columns"] = columns_from_delta_schema(log.schema_json, log.partition_columns)
                self.store.put("table", record["full_name"], record)
        return self._with_masks(record)

    def _with_masks(self, record: dict[str, Any]) -> dict[str, Any]:
        """The table with each column's current ``mask`` (never stored: the masks' store is the truth)."""
        masks = self.column_masks(record) if record.get("columns") else {}
        for column in record.get("columns") or []:
            column.pop("mask", None)
            if column["name"] in masks:
                column["mask"] = dict(masks[column["name"]])
        return record

    def get_table_by_id(self, table_id: str) -> dict[str, Any]:
        index = self.store.get("table-id", str(table_id))
        record = self.store.get("table", index["full_name"]) if index else None
        if record is None:
            raise ApiError(404, "TABLE_DOES_NOT_EXIST", f"Table with id '{table_id}' does not exist.")
        return record

    def list_tables(self, catalog_name: str, schema_name: str) -> list[dict[str, Any]]:
        schema = self.get_schema(f"{catalog_name}.{schema_name}")
        return [self._with_masks(body) for _, body in self.store.scan("table", schema["full_name"] + ".")]

    def update_table(self, full_name: str, body: dict[str, Any], principal: str) -> dict[str, Any]:
        """Databricks' table update (``owner``); the open API has none, so nothing else changes here."""
        with self.store.lock:
            record = self.get_table(full_name)
            apply_update(record, body, principal, ("owner", "comment"))
            self.store.put("table", record["full_name"], record)
            return record

    def delete_table(self, full_name: str) -> None:
        with self.store.lock:
            record = self.store.get("table", full_name.lower())
            if record is None:
                raise not_found("table", full_name)
            self.store.delete("table", record["full_name"])
            self.store.delete("table-id", record["table_id"])
            self.store.delete("delta-commits", record["table_id"])
            self.store.delete("catalog-managed", record["table_id"])

    def create_staging_table(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        """Allocate the storage of a MANAGED table about to be created.

        Deviation: asked again for the same name before the table exists, it answers the same staging
        table (open-source Unity Catalog answers 409), because Sail 0.7.2 asks twice while creating one.
        """
        schema = self._parent_schema(body)
        name = check_name(body.get("name"), "table")
        full_name = f"{schema['full_name']}.{name}"
        with self.store.lock:
            if self.store.get("table", full_name):
                raise already_exists("table", full_name)
            pending = self.store.get("staging-name", full_name)
            if pending and (staged := self.store.get("staging", pending["location"])):
                return _staging_view(staged)
            table_id = str(uuid.uuid4())
            location = f"{self._managed_location(schema)}/tables/{table_id}"
            record = {
                "id": table_id,
                "name": name,
                "catalog_name": schema["catalog_name"],
                "schema_name": schema["name"],
                "full_name": full_name,
                "staging_location": location,
                "created_by": principal,
                "created_at": now_ms(),
            }
            self.store.put("staging", location, record)
            self.store.put("staging-name", full_name, {"location": location})
        return _staging_view(record)

    def storage_for_table_id(self, table_id: str) -> str:
        """The storage location of a table or staging table (for temporary credentials)."""
        index = self.store.get("table-id", str(table_id))
        if index and (table := self.store.get("table", index["full_name"])):
            return table["storage_location"]
        for _, staged in self.store.scan("staging"):
            if staged["id"] == table_id:
                return staged["staging_location"]
        raise ApiError(404, "TABLE_DOES_NOT_EXIST", f"Table with id '{table_id}' does not exist.")


def _staging_view(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in ("id", "name", "catalog_name", "schema_name", "staging_location")}
