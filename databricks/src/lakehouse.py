"""Helpers every climatelake job uses; plain PySpark, so it runs the same on Databricks and on Sail.

Why EXTERNAL tables written by path and then registered: Sail treats MANAGED Unity Catalog tables as
catalog-managed (commits through the catalog) and cannot overwrite them via ``saveAsTable``; writing Delta to
a path and registering it works on Sail and on Databricks alike.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import DataFrame, SparkSession

WEATHER_COLUMNS = (
    "city_id",
    "date",
    "hour",
    "temp",
    "wind_speed",
    "description",
    "precipitation",
    "humidity",
)
"""The hourly columns every reader knows: the key, then the measures (NULL where a measure is missing)."""

SILVER_COLUMNS = (*WEATHER_COLUMNS, "missing_measures")
"""``silver.weather_hourly``: the hourly columns plus ``missing_measures``, the names of the measures the
raw row left empty (array<string>, column order; empty when none) — see ``weather_quality``."""

CHANGES_SCHEMA = "city_id int, date date, full boolean, run_id string, changed_at timestamp"
"""``silver.weather_changes``: the (city_id, date) each silver run MERGEd, kept until gold has rebuilt them;
one row with ``full`` true (no key) when silver was written afresh and gold must rebuild whole."""

SEED_COLUMNS = ("City_id", "Date", "Hour", "Temp", "Wind_speed", "Description", "Precipitation", "Humidity")
"""The raw files' header, exactly; a file with any other header is rejected, never column-lost."""


def spark_session(app_name: str) -> SparkSession:
    """The cluster's session on Databricks; the Spark Connect server in SPARK_REMOTE locally."""
    return SparkSession.builder.appName(app_name).getOrCreate()


@contextmanager
def step(name: str) -> Iterator[None]:
    """Print how long one step of a job took: the task log is where a slow run gets diagnosed."""
    started = time.perf_counter()
    yield
    print(f"  {name}: {time.perf_counter() - started:.2f} s", flush=True)


def ensure_schema(spark: SparkSession, catalog: str, schema: str) -> None:
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {catalog}.{schema}")


def write_table(df: DataFrame, full_name: str, location: str, *, replace_where: str | None = None) -> None:
    """Overwrite the Delta data at ``location`` (or only the rows matching ``replace_where``) and make sure
    the table ``full_name`` is registered in Unity Catalog, pointing there."""
    writer = df.write.format("delta").mode("overwrite")
    if replace_where:
        writer = writer.option("replaceWhere", replace_where)
    writer.save(location)
    register_table(df.sparkSession, full_name, location)


def register_table(spark: SparkSession, full_name: str, location: str) -> None:
    """Register an EXTERNAL table over existing Delta data (a no-op when it is already registered)."""
    spark.sql(f"CREATE TABLE IF NOT EXISTS {full_name} USING DELTA LOCATION '{location}'")


NOT_FOUND_CONDITIONS = ("TABLE_OR_VIEW_NOT_FOUND", "SCHEMA_NOT_FOUND", "NO_SUCH_CATALOG_EXCEPTION")
"""Error conditions that mean "no such table". Databricks and Sail both name the condition in the
AnalysisException message (Sail: ``Table not found: [TABLE_OR_VIEW_NOT_FOUND] ...``, measured)."""


def table_exists(spark: SparkSession, full_name: str) -> bool:
    """Whether ``full_name`` is registered (Sail has no ``spark.catalog.tableExists``).

    Only a not-found error means "no table". Any other error (a registered table whose files are
    unreadable, an engine that is restarting) is raised: a job that took it for "no table" would start
    its table over, or a request would succeed with zero rows, and data would be silently lost.
    """
    try:
        spark.table(full_name).schema  # noqa: B018 - forces the lookup
    except Exception as error:  # AnalysisException, or its Spark Connect twin
        if any(condition in str(error) for condition in NOT_FOUND_CONDITIONS):
            return False
        raise
    return True


def delta_commit(spark: SparkSession, location: str) -> tuple[int, dt.datetime]:
    """(version, time) of the newest commit of the Delta table at ``location``.

    ``DESCRIBE HISTORY`` where the engine has it (Databricks); Sail has not, so there the newest
    ``_delta_log/<version>.json`` commit file gives both (the newest commit is always such a file, even
    after checkpoints and log clean-up). The time tells a table rebuilt from scratch, whose versions start
    again at 0, from the one before. Errors are raised, never taken for "no table": a caller that skips
    work on an unchanged table must not skip it because storage hiccuped. Assumption: Databricks answers
    the first way, so its check against reading a Delta folder in another format never sees the listing."""
    try:
        newest = spark.sql(f"DESCRIBE HISTORY delta.`{location}` LIMIT 1").collect()
    except Exception:  # Sail: DESCRIBE HISTORY is not supported
        newest = []
    if newest:
        return int(newest[0]["version"]), newest[0]["timestamp"]
    commits = (
        spark.read.format("binaryFile")
        .option("pathGlobFilter", "*.json")
        .load(f"{location}/_delta_log")
        .select("path", "modificationTime")
        .collect()
    )
    named = [(r["path"].rsplit("/", 1)[-1][: -len(".json")], r["modificationTime"]) for r in commits]
    versions = [(int(name), time) for name, time in named if name.isdigit()]
    if not versions:
        raise RuntimeError(f"no Delta commits under {location}/_delta_log")
    return max(versions)


def sql_list(values: list[str]) -> str:
    """A SQL ``IN`` list of string literals (single quotes doubled)."""
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def request_table_suffix(request_id: str) -> str:
    """A Unity Catalog-safe table name part for a request id (lower-case letters, digits, underscores)."""
    return re.sub(r"[^a-z0-9_]", "_", request_id.lower())
