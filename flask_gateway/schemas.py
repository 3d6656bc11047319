"""JSON Schemas of what the gateway accepts and answers. The views validate with these very dicts and
``/openapi.json`` is generated from them, so the documentation cannot drift from the behaviour."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from climatelake.manifest import METRICS
from flask_gateway.errors import Problem

DATE = {"type": "string", "format": "date", "example": "2024-01-31"}
METRIC_LIST = {"type": "array", "items": {"enum": list(METRICS)}, "uniqueItems": True, "minItems": 1}
CITY_IDS = {
    "type": "array",
    "items": {"type": "integer", "minimum": 1},
    "minItems": 1,
    "maxItems": 1000,
    "uniqueItems": True,
}

REQUEST_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["city_ids", "start_date", "end_date"],
    "additionalProperties": False,
    "properties": {
        "city_ids": CITY_IDS,
        "start_date": DATE,
        "end_date": {**DATE, "description": "inclusive"},
        "metrics": {**METRIC_LIST, "description": "default: all"},
        "granularity": {"enum": ["hourly", "daily"], "default": "hourly"},
        "callback_url": {"type": "string", "format": "uri", "pattern": "^https?://", "maxLength": 2000},
    },
}

PROBLEM: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "invalid_fields": {"type": "array", "items": {"type": "string"}},
        "error_id": {"type": "string"},
    },
}

TIMELINE_ENTRY = {
    "type": "object",
    "required": ["status", "at"],
    "properties": {"status": {"type": "string"}, "at": {"type": "string"}},
}
REQUEST_STATUS: dict[str, Any] = {
    "type": "object",
    "required": ["request_id", "status", "timeline"],
    "properties": {
        "request_id": {"type": "string"},
        "status": {"enum": ["accepted", "manifest_written", "job_started", "succeeded", "failed"]},
        "timeline": {"type": "array", "items": TIMELINE_ENTRY},
        "result_table": {"type": "string"},
        "delta_version": {"type": "integer"},
        "row_count": {"type": "integer"},
        "reason": {"type": "string"},
        "links": {"type": "object"},
    },
}
REQUEST_LIST: dict[str, Any] = {
    "type": "object",
    "required": ["requests"],
    "properties": {
        "requests": {"type": "array", "items": REQUEST_STATUS},
        "next_cursor": {"type": ["string", "null"]},
    },
}
ACCEPTED: dict[str, Any] = {
    "type": "object",
    "required": ["request_id", "status", "links"],
    "properties": {
        "request_id": {"type": "string"},
        "status": {"type": "string"},
        "links": {"type": "object"},
    },
}
ROWS_PAGE: dict[str, Any] = {
    "type": "object",
    "required": ["request_id", "rows"],
    "properties": {
        "request_id": {"type": "string"},
        "table": {"type": "string"},
        "delta_version": {"type": "integer"},
        "row_count": {"type": "integer"},
        "rows": {"type": "array", "items": {"type": "object"}},
        "next_cursor": {"type": ["string", "null"]},
    },
}
WEATHER: dict[str, Any] = {
    "type": "object",
    "required": ["city_id", "units"],
    "properties": {
        "city_id": {"type": "integer"},
        "units": {"type": "object"},
        "rows": {"type": "array"},
        "hourly": {"type": "object"},
        "daily": {"type": "object"},
        "hourly_units": {"type": "object"},
        "daily_units": {"type": "object"},
    },
}
CITIES: dict[str, Any] = {
    "type": "object",
    "required": ["cities"],
    "properties": {"cities": {"type": "array"}},
}

COLUMN_REF = {
    "type": "object",
    "required": ["table", "column"],
    "properties": {"table": {"type": "string"}, "column": {"type": "string"}},
}
LINEAGE_TABLE = {
    "type": "object",
    "required": ["table"],
    "properties": {
        "table": {"type": "string", "description": "catalog.schema.table"},
        "table_type": {"type": ["string", "null"]},
        "lineage_timestamp": {"type": ["string", "null"]},
        "jobs": {"type": "array", "items": {"type": "object"}},
        "queries": {"type": "array", "items": {"type": "object"}},
    },
}
TABLE_LINEAGE: dict[str, Any] = {
    "type": "object",
    "required": ["table", "upstreams", "downstreams", "columns"],
    "properties": {
        "table": {"type": "string"},
        "table_type": {"type": ["string", "null"]},
        "upstreams": {"type": "array", "items": LINEAGE_TABLE},
        "downstreams": {"type": "array", "items": LINEAGE_TABLE},
        "columns": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "upstream", "downstream"],
                "properties": {
                    "name": {"type": "string"},
                    "type": {"type": ["string", "null"]},
                    "upstream": {"type": "array", "items": COLUMN_REF},
                    "downstream": {"type": "array", "items": COLUMN_REF},
                },
            },
        },
    },
}

EMPLOYEES_PAGE: dict[str, Any] = {
    "type": "object",
    "required": ["employees", "next_cursor", "masked"],
    "properties": {
        "employees": {"type": "array", "items": {"type": "object"}},
        "next_cursor": {"type": ["string", "null"]},
        "masked": {
            "type": "array",
            "items": {"enum": ["email", "phone", "salary"]},
            "description": "fields masked for the caller's role (empty for pii_reader and admin)",
        },
    },
}


def query_schema(params: dict[str, dict[str, Any]], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": params, "required": list(required)}


WEATHER_QUERY = query_schema(
    {
        "city_id": {"type": "integer", "minimum": 1},
        "start_date": DATE,
        "end_date": DATE,
        "metrics": {"type": "string", "description": "comma-separated subset of " + ", ".join(METRICS)},
        "shape": {"enum": ["rows", "columns"], "default": "rows"},
    },
    ("city_id", "start_date", "end_date"),
)
RESULTS_QUERY = query_schema(
    {
        "format": {"enum": ["json", "csv", "parquet"]},
        "cursor": {"type": "string"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 50_000, "default": 5000},
    }
)
LIST_QUERY = query_schema(
    {
        "cursor": {"type": "string"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
    }
)


def validate(schema: dict[str, Any], data: Any, where: str = "body") -> None:
    """400 problem naming every invalid field, from the same schema the docs show."""
    errors = sorted(
        Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(data),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        fields = sorted({".".join(str(p) for p in e.absolute_path) or where for e in errors})
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.absolute_path) or where}: {e.message}" for e in errors[:5]
        )
        raise Problem(400, "Bad Request", detail, invalid_fields=fields)


def coerce_query(schema: dict[str, Any], args: dict[str, str]) -> dict[str, Any]:
    """Query strings are text: turn integer-typed parameters into ints, then validate."""
    unknown = sorted(set(args) - set(schema["properties"]))
    if unknown:
        raise Problem(
            400, "Bad Request", f"Unknown query parameters: {', '.join(unknown)}.", invalid_fields=unknown
        )
    values: dict[str, Any] = {}
    for name, value in args.items():
        if schema["properties"][name].get("type") == "integer":
            try:
                values[name] = int(value)
            except ValueError:
                raise Problem(
                    400, "Bad Request", f"{name}: must be an integer.", invalid_fields=[name]
                ) from None
        else:
            values[name] = value
    validate(schema, values, "query")
    return values
