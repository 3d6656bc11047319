"""Unity Catalog state and behaviour (no HTTP here): catalogs, schemas and tables.

Shapes follow the open Unity Catalog API (../shared/specs/unitycatalog-api.yaml), which Databricks also
serves under ``/api/2.1/unity-catalog``. Names are case-insensitive and stored lower-case, as Unity Catalog
does. Timestamps are epoch milliseconds.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.errors import already_exists, invalid, not_found

_BAD_NAME = re.compile(r"[.\s/]")

#: Delta/Spark primitive type → (Unity Catalog type_name, SQL type_text).
_TYPES = {
    "string": ("STRING", "string"),
    "long": ("LONG", "bigint"),
    "integer": ("INT", "int"),
    "short": ("SHORT", "smallint"),
    "byte": ("BYTE", "tinyint"),
    "double": ("DOUBLE", "double"),
    "float": ("FLOAT", "float"),
    "boolean": ("BOOLEAN", "boolean"),
    "date": ("DATE", "date"),
    "timestamp": ("TIMESTAMP", "timestamp"),
    "timestamp_ntz": ("TIMESTAMP_NTZ", "timestamp_ntz"),
    "binary": ("BINARY", "binary"),
}


def _now_ms() -> int:
    return int(time.time() * 1000)


def check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name or _BAD_NAME.search(name):
        raise invalid(f"Invalid {what} name '{name}': it must be non-empty and contain no '.', ' ' or '/'.")
    return name.lower()


def columns_from_delta_schema(schema_json: str) -> list[dict[str, Any]]:
    """Unity Catalog column infos from a Delta schema string (the ``schemaString`` of a Delta log)."""
    columns = []
    for position, field in enumerate(json.loads(schema_json)["fields"]):
        spark_type = field["type"]
        if isinstance(spark_type, str) and spark_type.startswith("decimal"):
            type_name, type_text = "DECIMAL", spark_type
        elif isinstance(spark_type, str):
            type_name, type_text = _TYPES.get(spark_type, (spark_type.upper(), spark_type))
        else:
            type_name = spark_type["type"].upper()
            type_text = spark_type["type"]
        columns.append(
            {
                "name": field["name"],
                "type_text": type_text,
                "type_name": type_name,
                "type_json": json.dumps(field),
                "position": position,
                "nullable": field.get("nullable", True),
                "comment": (field.get("metadata") or {}).get("comment"),
            }
        )
    return columns


class UnityCatalog:
    """Catalogs, schemas and tables kept in a :class:`RecordStore`.

    ``read_delta_schema(location)`` returns a Delta table's schema string, or None when there is no Delta
    log there; it fills ``columns`` of EXTERNAL tables registered without them, as users expect.
    """

    def __init__(
        self,
        store: RecordStore,
        managed_root: str,
        read_delta_schema: Callable[[str], str | None] = lambda location: None,
    ) -> None:
        self.store = store
        self.managed_root = managed_root.rstrip("/")
        self.read_delta_schema = read_delta_schema

    # catalogs -----------------------------------------------------------------------------------
    def create_catalog(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        name = check_name(body.get("name"), "catalog")
        now = _now_ms()
        record = {
            "name": name,
            "comment": body.get("comment"),
            "properties": body.get("properties") or {},
            "owner": principal,
            "created_at": now,
            "created_by": principal,
            "updated_at": now,
            "updated_by": principal,
            "id": str(uuid.uuid4()),
            "catalog_type": "MANAGED_CATALOG",
            "storage_root": body.get("storage_root") or f"{self.managed_root}/{name}",
        }
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

    def delete_catalog(self, name: str, force: bool) -> None:
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
        now = _now_ms()
        record = {
            "name": name,
            "catalog_name": catalog["name"],
            "full_name": full_name,
            "comment": body.get("comment"),
            "properties": body.get("properties") or {},
            "owner": principal,
            "created_at": now,
            "created_by": principal,
            "updated_at": now,
            "updated_by": principal,
            "schema_id": str(uuid.uuid4()),
            "storage_root": body.get("storage_root") or f"{catalog['storage_root']}/{name}",
        }
        if not self.store.insert("schema", full_name, record):
            raise already_exists("schema", full_name)
        return record

    def _parent_schema(self, body: dict[str, Any]) -> dict[str, Any]:
        catalog_name = check_name(body.get("catalog_name"), "catalog")
        return self.get_schema(f"{catalog_name}.{check_name(body.get('schema_name'), 'schema')}")

    def get_schema(self, full_name: str) -> dict[str, Any]:
        record = self.store.get("schema", full_name.lower())
        if record is None:
            raise not_found("schema", full_name)
        return record

    def list_schemas(self, catalog_name: str) -> list[dict[str, Any]]:
        catalog = self.get_catalog(catalog_name)
        return [body for _, body in self.store.scan("schema", catalog["name"] + ".")]

    def delete_schema(self, full_name: str, force: bool) -> None:
        schema = self.get_schema(full_name)
        tables = self.list_tables(schema["catalog_name"], schema["name"])
        if tables and not force:
            raise invalid(f"Schema '{full_name}' is not empty. Use force=true to delete it and its contents.")
        for table in tables:
            self.store.delete("table", table["full_name"])
        self.store.delete("schema", schema["full_name"])

    # tables -------------------------------------------------------------------------------------
    def create_table(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        schema = self._parent_schema(body)
        name = check_name(body.get("name"), "table")
        full_name = f"{schema['full_name']}.{name}"
        table_type = (body.get("table_type") or "MANAGED").upper()
        if table_type not in ("MANAGED", "EXTERNAL", "VIEW"):
            raise invalid(f"Unsupported table_type '{table_type}'.")
        location = body.get("storage_location")
        if table_type == "EXTERNAL" and not location:
            raise invalid("An EXTERNAL table needs a storage_location.")
        staged = self.store.get("staging", location) if location else None
        columns = body.get("columns") or []
        if not columns and location:
            schema_json = self.read_delta_schema(location)
            columns = columns_from_delta_schema(schema_json) if schema_json else []
        now = _now_ms()
        record = {
            "name": name,
            "catalog_name": schema["catalog_name"],
            "schema_name": schema["name"],
            "full_name": full_name,
            "table_type": table_type,
            "data_source_format": (body.get("data_source_format") or "DELTA").upper(),
            "storage_location": location or f"{schema['storage_root']}/{name}",
            "columns": columns,
            "properties": body.get("properties") or {},
            "comment": body.get("comment"),
            "owner": principal,
            "created_at": now,
            "created_by": principal,
            "updated_at": now,
            "updated_by": principal,
            "table_id": staged["id"] if staged else str(uuid.uuid4()),
        }
        if not self.store.insert("table", full_name, record):
            raise already_exists("table", full_name)
        return record

    def get_table(self, full_name: str) -> dict[str, Any]:
        record = self.store.get("table", full_name.lower())
        if record is None:
            raise not_found("table", full_name)
        if not record["columns"] and record["table_type"] == "EXTERNAL":
            schema_json = self.read_delta_schema(record["storage_location"])
            if schema_json:
                record["columns"] = columns_from_delta_schema(schema_json)
                self.store.put("table", record["full_name"], record)
        return record

    def list_tables(self, catalog_name: str, schema_name: str) -> list[dict[str, Any]]:
        schema = self.get_schema(f"{catalog_name}.{schema_name}")
        return [body for _, body in self.store.scan("table", schema["full_name"] + ".")]

    def delete_table(self, full_name: str) -> None:
        if not self.store.delete("table", full_name.lower()):
            raise not_found("table", full_name)

    def create_staging_table(self, body: dict[str, Any]) -> dict[str, Any]:
        schema = self._parent_schema(body)
        name = check_name(body.get("name"), "table")
        if self.store.get("table", f"{schema['full_name']}.{name}"):
            raise already_exists("table", f"{schema['full_name']}.{name}")
        table_id = str(uuid.uuid4())
        location = f"{schema['storage_root']}/__tables/{table_id}"
        record = {
            "id": table_id,
            "name": name,
            "catalog_name": schema["catalog_name"],
            "schema_name": schema["name"],
            "staging_location": location,
        }
        self.store.put("staging", location, record)
        return record
