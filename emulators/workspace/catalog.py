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

MANAGED Delta tables are catalog-managed (https://github.com/delta-io/delta/blob/master/protocol_rfcs/
catalog-managed.md): the catalog, not the ``_delta_log`` listing, is the source of truth of their versions.
Writers ``commit`` each new version (a staged file under ``_delta_log/_staged_commits/``) here and later
report what they backfilled; readers ask ``get_commits`` and read only up to ``latest_table_version``.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.errors import (
    ApiError,
    already_exists,
    catalog_already_exists,
    conflict,
    invalid,
    not_found,
    too_many_requests,
)

#: Unity Catalog rejects '.', ' ', '/' and control characters in a single name; at most 255 characters.
_BAD_NAME = re.compile(r"[.\s/\x00-\x1f\x7f]")
MAX_NAME_LENGTH = 255
#: Unbackfilled commits a table may hold before the catalog refuses more (the spec's 429).
MAX_UNBACKFILLED_COMMITS = 100

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
    "void": ("NULL", "void"),
    "null": ("NULL", "void"),
    "variant": ("VARIANT", "variant"),
}
#: Unity Catalog type_name → the Spark type in a StructField's JSON (for columns sent without type_json).
_JSON_TYPES = {
    "STRING": "string",
    "LONG": "long",
    "INT": "integer",
    "SHORT": "short",
    "BYTE": "byte",
    "DOUBLE": "double",
    "FLOAT": "float",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NTZ": "timestamp_ntz",
    "BINARY": "binary",
    "NULL": "void",
    "VARIANT": "variant",
    "CHAR": "string",
}
COLUMN_TYPE_NAMES = frozenset(
    [
        "BOOLEAN",
        "BYTE",
        "SHORT",
        "INT",
        "LONG",
        "FLOAT",
        "DOUBLE",
        "DATE",
        "TIMESTAMP",
        "TIMESTAMP_NTZ",
        "STRING",
        "BINARY",
        "DECIMAL",
        "INTERVAL",
        "ARRAY",
        "STRUCT",
        "MAP",
        "VARIANT",
        "CHAR",
        "NULL",
        "USER_DEFINED_TYPE",
        "TABLE_TYPE",
    ]
)
TABLE_TYPES = ("MANAGED", "EXTERNAL", "VIEW", "MATERIALIZED_VIEW", "STREAMING_TABLE", "METRIC_VIEW")
DATA_SOURCE_FORMATS = ("DELTA", "CSV", "JSON", "AVRO", "PARQUET", "ORC", "TEXT")
_FUNCTION_REQUIRED = (
    "name",
    "catalog_name",
    "schema_name",
    "input_params",
    "data_type",
    "full_data_type",
    "routine_body",
    "routine_definition",
    "parameter_style",
    "is_deterministic",
    "sql_data_access",
    "is_null_call",
    "security_type",
    "specific_name",
)


def now_ms() -> int:
    return int(time.time() * 1000)


def clean(record: dict[str, Any]) -> dict[str, Any]:
    """The record without empty (None) fields: the API leaves out what has no value."""
    return {k: v for k, v in record.items() if v is not None}


def check_name(name: Any, what: str) -> str:
    """A single Unity Catalog name, validated and lower-cased."""
    if not isinstance(name, str) or not name:
        raise invalid(f"The {what} name must be a non-empty string.")
    if len(name) > MAX_NAME_LENGTH:
        raise invalid(f"Invalid {what} name '{name[:40]}…': longer than {MAX_NAME_LENGTH} characters.")
    if _BAD_NAME.search(name):
        raise invalid(
            f"Invalid {what} name '{name}': a name cannot contain '.', ' ', '/' or control characters."
        )
    return name.lower()


def split_full_name(full_name: str, parts: int, what: str) -> list[str]:
    names = full_name.split(".")
    if len(names) != parts:
        raise invalid(f"Invalid {what} full name '{full_name}': expected {parts} dot-separated names.")
    return [check_name(n, what) for n in names]


# columns ------------------------------------------------------------------------------------------
def type_text(spark_type: Any) -> str:
    """SQL text (catalogString) of a Spark type in its JSON form."""
    if isinstance(spark_type, str):
        return _TYPES.get(spark_type, (None, spark_type))[1]
    kind = spark_type["type"]
    if kind == "array":
        return f"array<{type_text(spark_type['elementType'])}>"
    if kind == "map":
        return f"map<{type_text(spark_type['keyType'])},{type_text(spark_type['valueType'])}>"
    if kind == "struct":
        return "struct<" + ",".join(f"{f['name']}:{type_text(f['type'])}" for f in spark_type["fields"]) + ">"
    return str(kind)


def column_from_field(field: dict[str, Any], position: int, partition_columns: list[str]) -> dict[str, Any]:
    """A Unity Catalog ColumnInfo from a Spark StructField in its JSON form."""
    spark_type = field["type"]
    column: dict[str, Any] = {"name": field["name"], "position": position}
    if isinstance(spark_type, str) and spark_type.startswith("decimal"):
        precision, scale = (int(x) for x in re.findall(r"\d+", spark_type) or (10, 0))
        column.update(type_name="DECIMAL", type_text=spark_type, type_precision=precision, type_scale=scale)
    elif isinstance(spark_type, str) and spark_type.startswith(("char", "varchar")):
        column.update(type_name="STRING", type_text=spark_type)
    elif isinstance(spark_type, str):
        name, text = _TYPES.get(spark_type, (spark_type.upper(), spark_type))
        column.update(type_name=name if name in COLUMN_TYPE_NAMES else "USER_DEFINED_TYPE", type_text=text)
    else:
        kind = spark_type["type"].upper()
        column.update(
            type_name=kind if kind in COLUMN_TYPE_NAMES else "USER_DEFINED_TYPE",
            type_text=type_text(spark_type),
        )
    column["type_json"] = json.dumps(field)
    column["nullable"] = bool(field.get("nullable", True))
    comment = (field.get("metadata") or {}).get("comment")
    if comment:
        column["comment"] = comment
    if field["name"] in partition_columns:
        column["partition_index"] = partition_columns.index(field["name"])
    return column


def columns_from_delta_schema(schema_json: str, partition_columns: list[str] | None = None) -> list[dict]:
    """Unity Catalog column infos from a Delta schema string (the ``schemaString`` of a Delta log)."""
    return [
        column_from_field(field, position, partition_columns or [])
        for position, field in enumerate(json.loads(schema_json)["fields"])
    ]


def normalize_columns(columns: Any) -> list[dict[str, Any]]:
    """Columns as a client sent them, completed to what the API returns (type_json, position, nullable)."""
    if columns is None:
        return []
    if not isinstance(columns, list):
        raise invalid("columns must be a list of ColumnInfo objects.")
    normalized = []
    for index, column in enumerate(columns):
        if not isinstance(column, dict) or not column.get("name"):
            raise invalid(f"Column {index} needs a name.")
        column = clean(dict(column))
        type_name = str(column.get("type_name") or "").upper()
        if type_name and type_name not in COLUMN_TYPE_NAMES:
            raise invalid(f"Column '{column['name']}' has an unknown type_name '{type_name}'.")
        column.setdefault("position", index)
        column.setdefault("nullable", True)
        if not column.get("type_json"):
            spark_type = _JSON_TYPES.get(type_name) or column.get("type_text") or "string"
            if type_name == "DECIMAL":
                spark_type = f"decimal({column.get('type_precision', 10)},{column.get('type_scale', 0)})"
            column["type_json"] = json.dumps(
                {"name": column["name"], "type": spark_type, "nullable": column["nullable"], "metadata": {}}
            )
        if not type_name or not column.get("type_text"):
            try:
                derived = column_from_field(json.loads(column["type_json"]), index, [])
            except (ValueError, KeyError, TypeError):
                raise invalid(f"Column '{column['name']}' has an invalid type_json.") from None
            column.setdefault("type_name", derived["type_name"])
            column.setdefault("type_text", derived["type_text"])
        if type_name:
            column["type_name"] = type_name
        normalized.append(column)
    return normalized


class DeltaLog:
    """What the catalog reads from a Delta log (EXTERNAL tables registered without columns)."""

    def __init__(self, schema_json: str, partition_columns: list[str]) -> None:
        self.schema_json = schema_json
        self.partition_columns = partition_columns


class UnityCatalog:
    """Catalogs, schemas, tables, volumes and functions kept in a :class:`RecordStore`.

    ``read_delta_log(location)`` returns the :class:`DeltaLog` of a Delta table, or None when there is none
    there; it fills ``columns`` of EXTERNAL tables registered without them, as users expect.

    Records (kind → key): ``catalog`` name; ``schema`` catalog.schema; ``table``, ``volume``, ``function``
    full name; ``table-id`` table id → full name; ``staging`` location; ``staging-name`` full name →
    location (until the table is created); ``volume-id`` id → full name; ``delta-commits`` table id.
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
                "properties": _properties(body.get("properties")),
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
            raise catalog_already_exists(name)
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
            _apply_update(record, body, principal, ("comment", "properties", "owner"))
            new_name = body.get("new_name")
            if new_name and check_name(new_name, "catalog") != record["name"]:
                old, new = record["name"], check_name(new_name, "catalog")
                if self.store.get("catalog", new):
                    raise catalog_already_exists(new)
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
                "properties": _properties(body.get("properties")),
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
            _apply_update(record, body, principal, ("comment", "properties", "owner"))
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
                    "properties": _properties(body.get("properties")),
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
            _apply_update(record, body, principal, ("owner", "comment"))
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

    # catalog-managed Delta commits ---------------------------------------------------------------
    def _managed_delta_table(self, body: dict[str, Any]) -> dict[str, Any]:
        table_id = body.get("table_id")
        table_uri = body.get("table_uri")
        if not table_id or not table_uri:
            raise invalid("table_id and table_uri are required.")
        table = self.get_table_by_id(table_id)
        if table["table_type"] != "MANAGED" or table.get("data_source_format") != "DELTA":
            raise invalid(f"Table '{table['full_name']}' is not a MANAGED Delta table.")
        if str(table_uri).rstrip("/") != table["storage_location"].rstrip("/"):
            raise invalid(
                f"table_uri '{table_uri}' does not match the location of table '{table['full_name']}' "
                f"({table['storage_location']})."
            )
        return table

    def get_commits(self, body: dict[str, Any]) -> dict[str, Any]:
        """Unbackfilled commits with start_version <= version <= end_version, and the latest version."""
        table = self._managed_delta_table(body)
        start = _int(body.get("start_version"), "start_version")
        if start is None or start < 0:
            raise invalid("start_version is required and must not be negative.")
        end = _int(body.get("end_version"), "end_version")
        if end is not None and end < start:
            raise invalid("end_version must not be smaller than start_version.")
        state = self.store.get("delta-commits", table["table_id"]) or {
            "latest_table_version": 0,
            "commits": [],
        }
        commits = [
            c for c in state["commits"] if c["version"] >= start and (end is None or c["version"] <= end)
        ]
        return {"commits": commits, "latest_table_version": state["latest_table_version"]}

    def commit(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        """Ratify the next version of a managed table and/or record what the writer backfilled."""
        commit_info = body.get("commit_info")
        backfilled = _int(body.get("latest_backfilled_version"), "latest_backfilled_version")
        if commit_info is None and backfilled is None:
            raise invalid("At least one of commit_info and latest_backfilled_version must be present.")
        with self._commit_lock:
            table = self._managed_delta_table(body)
            state = self.store.get("delta-commits", table["table_id"]) or {
                "latest_table_version": 0,
                "commits": [],
            }
            latest = state["latest_table_version"]
            if commit_info is not None:
                info = _commit_info(commit_info)
                same = next((c for c in state["commits"] if c["version"] == info["version"]), None)
                if same is not None and same["file_name"] == info["file_name"]:
                    return {}  # a replay of an accepted commit is an idempotent no-op
                if same is not None or info["version"] <= latest:
                    raise conflict(
                        f"Commit version {info['version']} of table '{table['full_name']}' already exists."
                    )
                if info["version"] != latest + 1:
                    raise invalid(
                        f"Commit version {info['version']} is not the expected version {latest + 1} of "
                        f"table '{table['full_name']}'."
                    )
                if len(state["commits"]) >= self.max_unbackfilled_commits:
                    raise too_many_requests(
                        f"Table '{table['full_name']}' has {len(state['commits'])} unbackfilled commits; "
                        "backfill some before committing more."
                    )
                state["commits"].append(info)
                state["latest_table_version"] = latest = info["version"]
            if backfilled is not None:
                if backfilled > latest:
                    raise invalid(
                        f"latest_backfilled_version {backfilled} exceeds the latest version {latest}."
                    )
                state["commits"] = [c for c in state["commits"] if c["version"] > backfilled]
            self.store.put("delta-commits", table["table_id"], state)
            metadata = body.get("metadata")
            if commit_info is not None or metadata:
                self._apply_commit_metadata(table, metadata, principal)
        return {}

    def _apply_commit_metadata(self, table: dict[str, Any], metadata: Any, principal: str) -> None:
        """A commit's metadata (schema, description, properties) keeps the catalog's table in step."""
        with self.store.lock:
            record = self.store.get("table", table["full_name"]) or table
            if isinstance(metadata, dict):
                columns = (metadata.get("schema") or {}).get("columns")
                if columns:
                    record["columns"] = normalize_columns(columns)
                if metadata.get("description") is not None:
                    record["comment"] = metadata["description"]
                properties = (metadata.get("properties") or {}).get("properties")
                if isinstance(properties, dict):
                    record["properties"] = _properties(properties)
            record["updated_at"] = now_ms()
            record["updated_by"] = principal
            self.store.put("table", record["full_name"], record)

    # volumes ------------------------------------------------------------------------------------
    def create_volume(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        schema = self._parent_schema(body)
        name = check_name(body.get("name"), "volume")
        full_name = f"{schema['full_name']}.{name}"
        volume_type = str(body.get("volume_type") or "").upper()
        if volume_type not in ("MANAGED", "EXTERNAL"):
            raise invalid("volume_type must be MANAGED or EXTERNAL.")
        location = (body.get("storage_location") or "").rstrip("/") or None
        if volume_type == "EXTERNAL" and not location:
            raise invalid("An EXTERNAL volume needs a storage_location.")
        if volume_type == "MANAGED" and location:
            raise invalid("A MANAGED volume cannot have a storage_location.")
        volume_id = str(uuid.uuid4())
        now = now_ms()
        record = clean(
            {
                "catalog_name": schema["catalog_name"],
                "schema_name": schema["name"],
                "name": name,
                "full_name": full_name,
                "comment": body.get("comment"),
                "owner": principal,
                "created_at": now,
                "created_by": principal,
                "updated_at": now,
                "updated_by": principal,
                "volume_id": volume_id,
                "volume_type": volume_type,
                "storage_location": location or f"{self._managed_location(schema)}/volumes/{volume_id}",
            }
        )
        with self.store.lock:
            if not self.store.insert("volume", full_name, record):
                raise already_exists("volume", full_name)
            self.store.put("volume-id", volume_id, {"full_name": full_name})
        return record

    def get_volume(self, full_name: str) -> dict[str, Any]:
        record = self.store.get("volume", full_name.lower())
        if record is None:
            raise not_found("volume", full_name)
        return record

    def get_volume_by_id(self, volume_id: str) -> dict[str, Any]:
        index = self.store.get("volume-id", str(volume_id))
        record = self.store.get("volume", index["full_name"]) if index else None
        if record is None:
            raise ApiError(404, "VOLUME_DOES_NOT_EXIST", f"Volume with id '{volume_id}' does not exist.")
        return record

    def list_volumes(self, catalog_name: str, schema_name: str) -> list[dict[str, Any]]:
        schema = self.get_schema(f"{catalog_name}.{schema_name}")
        return [body for _, body in self.store.scan("volume", schema["full_name"] + ".")]

    def update_volume(self, full_name: str, body: dict[str, Any], principal: str) -> dict[str, Any]:
        with self.store.lock:
            record = self.get_volume(full_name)
            _apply_update(record, body, principal, ("comment", "owner"))
            new_name = body.get("new_name")
            if new_name and check_name(new_name, "volume") != record["name"]:
                old = record["full_name"]
                record["name"] = check_name(new_name, "volume")
                record["full_name"] = f"{record['catalog_name']}.{record['schema_name']}.{record['name']}"
                if self.store.get("volume", record["full_name"]):
                    raise already_exists("volume", record["full_name"])
                self.store.delete("volume", old)
                self.store.put("volume-id", record["volume_id"], {"full_name": record["full_name"]})
            self.store.put("volume", record["full_name"], record)
            return record

    def delete_volume(self, full_name: str) -> None:
        with self.store.lock:
            record = self.get_volume(full_name)
            self.store.delete("volume", record["full_name"])
            self.store.delete("volume-id", record["volume_id"])

    # functions ----------------------------------------------------------------------------------
    def create_function(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        info = body.get("function_info")
        if not isinstance(info, dict):
            raise invalid("function_info is required.")
        missing = [f for f in _FUNCTION_REQUIRED if info.get(f) is None]
        if missing:
            raise invalid(f"function_info is missing required fields: {', '.join(missing)}.")
        schema = self._parent_schema(info)
        name = check_name(info.get("name"), "function")
        full_name = f"{schema['full_name']}.{name}"
        enums = {
            "routine_body": ("SQL", "EXTERNAL"),
            "parameter_style": ("S",),
            "sql_data_access": ("CONTAINS_SQL", "READS_SQL_DATA", "NO_SQL"),
            "security_type": ("DEFINER",),
        }
        for field, allowed in enums.items():
            if info[field] not in allowed:
                raise invalid(f"function_info.{field} must be one of {', '.join(allowed)}.")
        if str(info["data_type"]).upper() not in COLUMN_TYPE_NAMES:
            raise invalid(f"function_info.data_type '{info['data_type']}' is not a known type.")
        now = now_ms()
        record = clean(
            {
                **{k: v for k, v in info.items() if k != "full_name"},
                "name": name,
                "catalog_name": schema["catalog_name"],
                "schema_name": schema["name"],
                "data_type": str(info["data_type"]).upper(),
                "full_name": full_name,
                "owner": principal,
                "created_at": now,
                "created_by": principal,
                "updated_at": now,
                "updated_by": principal,
                "function_id": str(uuid.uuid4()),
            }
        )
        if not self.store.insert("function", full_name, record):
            raise already_exists("function", full_name)
        return record

    def get_function(self, full_name: str) -> dict[str, Any]:
        record = self.store.get("function", full_name.lower())
        if record is None:
            raise not_found("function", full_name)
        return record

    def list_functions(self, catalog_name: str, schema_name: str) -> list[dict[str, Any]]:
        schema = self.get_schema(f"{catalog_name}.{schema_name}")
        return [body for _, body in self.store.scan("function", schema["full_name"] + ".")]

    def delete_function(self, full_name: str) -> None:
        if not self.store.delete("function", full_name.lower()):
            raise not_found("function", full_name)


def _staging_view(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in ("id", "name", "catalog_name", "schema_name", "staging_location")}


def _properties(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("properties must be an object of string values.")
    return {str(k): str(v) for k, v in value.items()}


def _apply_update(record: dict[str, Any], body: dict[str, Any], principal: str, fields: tuple) -> None:
    for field in fields:
        if field in body and body[field] is not None:
            record[field] = _properties(body[field]) if field == "properties" else body[field]
    record["updated_at"] = now_ms()
    record["updated_by"] = principal


def _int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise invalid(f"{what} must be an integer.")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"{what} must be an integer.") from None


def _commit_info(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("commit_info must be an object.")
    fields = ("version", "timestamp", "file_name", "file_size", "file_modification_timestamp")
    missing = [f for f in fields if value.get(f) is None]
    if missing:
        raise invalid(f"commit_info is missing {', '.join(missing)}.")
    info = {f: (value[f] if f == "file_name" else _int(value[f], f"commit_info.{f}")) for f in fields}
    if info["version"] < 1:
        raise invalid("commit_info.version must be at least 1 (version 0 is written when the table is made).")
    return info
