"""Unity Catalog records without state: name rules, column infos from Spark/Delta types, the Delta log
summary the catalog reads, and the small helpers every kind of securable shares (timestamps, properties,
updates). Split from ``catalog.py`` so catalogs/tables, volumes/functions and the managed commits share
one definition of each rule (and no module imports another's state).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from emulators.workspace.errors import invalid

#: Unity Catalog rejects '.', ' ', '/' and control characters in a single name; at most 255 characters.
_BAD_NAME = re.compile(r"[.\s/\x00-\x1f\x7f]")
MAX_NAME_LENGTH = 255

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


def clean_properties(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("properties must be an object of string values.")
    return {str(k): str(v) for k, v in value.items()}


def apply_update(record: dict[str, Any], body: dict[str, Any], principal: str, fields: tuple) -> None:
    for field in fields:
        if field in body and body[field] is not None:
            record[field] = clean_properties(body[field]) if field == "properties" else body[field]
    record["updated_at"] = now_ms()
    record["updated_by"] = principal


def int_field(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise invalid(f"{what} must be an integer.")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"{what} must be an integer.") from None
