"""Synchronous weather queries: ``/v1/weather/hourly``, ``/v1/weather/daily`` and ``/v1/cities``.

They answer from the catalog's hourly table (``<catalog>.silver.weather_hourly``), held in memory per
process until its Delta version changes (:class:`climatelake.lake.CachedTable`). Daily values are
aggregated from the hourly rows on the fly (min/max/mean temperature, total precipitation, mean humidity,
max wind, the most frequent description), each over the hours where its measure exists, with
``<metric>_hours_observed`` beside it (a missing measure is NULL in silver, never 0) — the same definitions
as ``gold.weather_daily``, computed here so that both granularities answer from one snapshot. One query
spans at most ``WEATHER_MAX_DAYS`` days
(config, default 366). Encoded answers are kept per table version (:mod:`flask_gateway.response_cache`:
ETag, 304, gzip).
"""

from __future__ import annotations

import datetime as dt
import functools

import orjson
import polars as pl
from databricks.sdk.errors import NotFound
from flask import Blueprint, Response, current_app, request

from climatelake.lake import CachedTable
from climatelake.manifest import METRICS
from flask_gateway import clients
from flask_gateway.auth import require
from flask_gateway.errors import Problem
from flask_gateway.response_cache import cached_response
from flask_gateway.schemas import WEATHER_QUERY, coerce_query

bp = Blueprint("weather", __name__, url_prefix="/v1")
HOURLY_UNITS = {
    "time": "iso8601",
    "temp": "°C",
    "wind_speed": "m/s",
    "precipitation": "mm",
    "humidity": "%",
    "description": "",
}
DAILY_UNITS = {
    "date": "iso8601",
    "temp_min": "°C",
    "temp_max": "°C",
    "temp_mean": "°C",
    "wind_speed_max": "m/s",
    "precipitation_sum": "mm",
    "humidity_mean": "%",
    "description": "",
    "hours_observed": "h",
    **{f"{m}_hours_observed": "h" for m in METRICS},
}
DAILY_COLUMNS = {  # metric → the daily columns it yields
    "temp": ("temp_min", "temp_max", "temp_mean", "temp_hours_observed"),
    "wind_speed": ("wind_speed_max", "wind_speed_hours_observed"),
    "precipitation": ("precipitation_sum", "precipitation_hours_observed"),
    "humidity": ("humidity_mean", "humidity_hours_observed"),
    "description": ("description", "description_hours_observed"),
}


def hourly_table() -> CachedTable:
    return _cached_table(clients.settings().hourly_table_name)


def _cached_table(full_name: str) -> CachedTable:
    cache = current_app.extensions.setdefault("hourly_table", {})
    if full_name not in cache:
        cache[full_name] = CachedTable(clients.workspace(), clients.settings(), full_name)
    return cache[full_name]


REGISTRY_COLUMNS = ("name", "country", "lat", "lon", "time_zone", "isd_station")


def city_registry() -> dict[int, dict]:
    """The catalog's city registry (``gold.cities``) by id; empty while the ingest job has not published
    one (a deployment without a registry file answers coverage without names)."""
    try:
        frame, _ = _cached_table(clients.settings().cities_table_name).frame()
    except NotFound:
        return {}
    return {row["city_id"]: {c: row[c] for c in REGISTRY_COLUMNS} for row in frame.to_dicts()}


def _json(payload: object) -> Response:
    return Response(orjson.dumps(payload), mimetype="application/json")


def _query() -> tuple[int, dt.date, dt.date, tuple[str, ...], str]:
    """The validated query. Validation is pure, so its answers are memoised per query string (the same few
    queries repeat, and JSON Schema validation is a third of a cached answer's server time); errors are
    not memoised, they raise every time."""
    max_days = int(current_app.config.get("WEATHER_MAX_DAYS", 366))
    return _validated(tuple(request.args.to_dict().items()), max_days)


@functools.lru_cache(maxsize=4096)
def _validated(args: tuple[tuple[str, str], ...], max_days: int) -> tuple[int, dt.date, dt.date, tuple, str]:
    query = coerce_query(WEATHER_QUERY, dict(args))
    start, end = dt.date.fromisoformat(query["start_date"]), dt.date.fromisoformat(query["end_date"])
    if end < start:
        raise Problem(400, "Bad Request", "end_date is before start_date.", invalid_fields=["end_date"])
    if (end - start).days + 1 > max_days:
        raise Problem(
            400,
            "Bad Request",
            f"The range is longer than {max_days} days.",
            invalid_fields=["start_date", "end_date"],
        )
    metrics = [m.strip() for m in query.get("metrics", ",".join(METRICS)).split(",") if m.strip()]
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown or not metrics:
        raise Problem(
            400,
            "Bad Request",
            f"Unknown metrics: {', '.join(unknown) or '(none given)'}; choose from {', '.join(METRICS)}.",
            invalid_fields=["metrics"],
        )
    return query["city_id"], start, end, tuple(metrics), query.get("shape", "rows")


def _hourly_frame() -> tuple[pl.DataFrame, int]:
    """The hourly table with its ``time`` column (ISO text) computed once per Delta version, not per call,
    and that version."""
    frame, version = hourly_table().frame()
    derived = current_app.extensions.setdefault("hourly_derived", {})
    if derived.get("version") != version:
        derived["frame"] = frame.with_columns(
            time=(pl.col("date").cast(pl.Datetime) + pl.duration(hours=pl.col("hour"))).dt.strftime(
                "%Y-%m-%dT%H:%M"
            )
        )
        derived["version"] = version
    return derived["frame"], version


def _select(frame: pl.DataFrame, city_id: int, start: dt.date, end: dt.date) -> pl.DataFrame:
    rows = frame.filter((pl.col("city_id") == city_id) & pl.col("date").is_between(start, end))
    if rows.is_empty() and frame.filter(pl.col("city_id") == city_id).is_empty():
        raise Problem(404, "Not Found", f"There is no data for city {city_id}.", invalid_fields=["city_id"])
    return rows


def _shaped(
    rows: pl.DataFrame, city_id: int, key: str, columns: list[str], units: dict, shape: str
) -> tuple[bytes, str]:
    """The body of rows (records) or columns (Open-Meteo style). Records are encoded by polars in one pass:
    building Python dicts first costs five times as much for a city-year."""
    wanted_units = {c: units[c] for c in [key, *columns]}
    if shape == "columns":
        data = {c: rows[c].to_list() for c in [key, *columns]}
        payload = {
            "city_id": city_id,
            "granularity": _kind(key),
            f"{_kind(key)}_units": wanted_units,
            _kind(key): data,
            "units": wanted_units,
        }
        return orjson.dumps(payload), "application/json"
    head = orjson.dumps({"city_id": city_id, "units": wanted_units})
    body = head[:-1] + b',"rows":' + rows.select([key, *columns]).write_json().encode() + b"}"
    return body, "application/json"


def _kind(key: str) -> str:
    return "hourly" if key == "time" else "daily"


def _answer(kind: str, build) -> Response:
    """The query's answer through the response cache, keyed by what was asked and the table version; one
    snapshot per call, so the body is always built from the version its key names."""
    city_id, start, end, metrics, shape = _query()
    frame, version = _hourly_frame()
    key = (kind, city_id, start, end, metrics, shape, version)
    return cached_response(key, lambda: build(_select(frame, city_id, start, end), city_id, metrics, shape))


@bp.get("/weather/hourly")
@require("reader")
def hourly():
    return _answer("hourly", _hourly_body)


def _hourly_body(rows: pl.DataFrame, city_id: int, metrics: tuple[str, ...], shape: str):
    return _shaped(rows, city_id, "time", metrics, HOURLY_UNITS, shape)


@bp.get("/weather/daily")
@require("reader")
def daily():
    return _answer("daily", _daily_body)


def _daily_body(hourly_rows: pl.DataFrame, city_id: int, metrics: tuple[str, ...], shape: str):
    precipitation = pl.col("precipitation")
    aggregates = {  # polars skips nulls like SQL, except that a sum of no values is 0: make it null
        "temp_min": pl.col("temp").min(),
        "temp_max": pl.col("temp").max(),
        "temp_mean": pl.col("temp").mean().round(2),
        "wind_speed_max": pl.col("wind_speed").max(),
        "precipitation_sum": pl.when(precipitation.count() > 0).then(precipitation.sum().round(2)),
        "humidity_mean": pl.col("humidity").mean().round(2),
        "description": pl.col("description").drop_nulls().mode().sort().first(),
        **{f"{m}_hours_observed": pl.col(m).count() for m in METRICS},
    }
    columns = [c for m in metrics for c in DAILY_COLUMNS[m]]
    rows = (
        hourly_rows.group_by("date")
        .agg(*[aggregates[c].alias(c) for c in columns], pl.len().alias("hours_observed"))
        .sort("date")
        .with_columns(pl.col("date").dt.strftime("%Y-%m-%d"))
    )
    return _shaped(rows, city_id, "date", [*columns, "hours_observed"], DAILY_UNITS, shape)


@bp.get("/cities")
@require("reader")
def cities():
    """Every city with data: its span, hours present vs hours expected in that span (so gaps show), hours
    per measure, and — for cities in the registry (``gold.cities``) — name, coordinates, time zone and
    NOAA station."""
    frame, version = hourly_table().frame()
    coverage = (
        frame.group_by("city_id")
        .agg(
            pl.col("date").min().alias("first_date"),
            pl.col("date").max().alias("last_date"),
            pl.len().alias("hours"),
            *[pl.col(m).count().alias(m) for m in METRICS],
        )
        .sort("city_id")
        .with_columns(
            hours_expected=((pl.col("last_date") - pl.col("first_date")).dt.total_days() + 1) * 24,
        )
        .with_columns(
            pl.col("first_date").dt.strftime("%Y-%m-%d"),
            pl.col("last_date").dt.strftime("%Y-%m-%d"),
            completeness=(pl.col("hours") / pl.col("hours_expected")).round(4),
        )
    )
    registry = city_registry()
    answer = []
    for row in coverage.to_dicts():
        answer.append(
            {
                "city_id": row["city_id"],
                **registry.get(row["city_id"], {}),
                "first_date": row["first_date"],
                "last_date": row["last_date"],
                "hours": row["hours"],
                "hours_expected": row["hours_expected"],
                "completeness": row["completeness"],
                "hours_observed": {m: row[m] for m in METRICS},
            }
        )
    return _json({"cities": answer, "table": clients.settings().hourly_table_name, "delta_version": version})
