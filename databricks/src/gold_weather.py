"""Gold: daily aggregates and per-city coverage, updated for the days silver changed, or rebuilt whole.

Which days: the silver task records, before each MERGE, the (city_id, date) of every row it merges in
``silver.weather_changes`` (issue 18); gold recomputes just those days from silver, appends them to
``gold.weather_daily`` (all new) or MERGEs them, recomputes the coverage of their cities from the daily rows
and MERGEs it into ``gold.city_coverage``, then deletes the change rows it read. Silver rows are never
deleted (MERGE updates or inserts), so a changed day is updated or new, never gone, and recomputing a day
twice gives the same row: a crash at any point leaves change rows behind (the next build redoes those days),
never loses one. Gold is rebuilt whole instead when it has no tables or build yet, when silver was written
afresh (a ``full`` change row) or restarted its versions, or when silver changed without any change row
(written by something other than the silver task). Why skip when silver has not changed: a re-run must
change nothing — not even a new Delta version of the same rows, which readers polling versions (Delta
Sharing recipients, caches) would take for new data. ``gold.build_log`` records the silver commit (version
and time) each build read (appended after both tables are written). The aggregate definitions are the ones
the request job's ``granularity=daily`` uses (``extract_request.daily_aggregates``), so both agree.

* ``gold.weather_daily``: city_id, date, temp_min, temp_max, temp_mean, precipitation_sum,
  humidity_mean, wind_speed_max, description (most frequent; ties → the alphabetically first), each over
  the hours where its measure exists, with ``<measure>_hours_observed`` (temp, precipitation, humidity,
  wind_speed, description) beside it; hours_observed counts the hours with a row at all. Means and sums are
  rounded to 2 decimals; a measure with no reading that day is NULL, never 0.
* ``gold.city_coverage``: city_id, first_date, last_date, days_observed (days with any hour), span_days
  (last − first + 1), hours_observed, completeness = hours_observed / (span_days × 24), 4 decimals.
* ``gold.cities``: the city registry (``city_registry``), published from its file on every run where the
  file changed, whether or not silver did.
"""

from __future__ import annotations

import argparse
import datetime as dt

import city_registry
from extract_request import daily_aggregates
from lakehouse import (
    delta_commit,
    ensure_schema,
    register_table,
    spark_session,
    sql_list,
    step,
    table_exists,
    write_table,
)
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

MAX_DAYS = 2000
"""More changed (city, date) than this and gold is rebuilt whole: at 4,170 changed days, updating them
took 1.45 s against 0.6 s for a rebuild from 1 M silver rows (bench/weather_incremental.py, issue 18)."""
DAILY_METRICS = ("temp", "precipitation", "humidity", "wind_speed", "description")


def weather_daily(hourly: DataFrame) -> DataFrame:
    return hourly.groupBy("city_id", "date").agg(
        *[a for m in DAILY_METRICS for a in daily_aggregates(m)], F.count("*").alias("hours_observed")
    )


def city_coverage(daily: DataFrame) -> DataFrame:
    """Per city, from the daily rows (one per city and observed day): 24× fewer rows to read than the
    hourly table and no distinct count — the same figures."""
    per_city = daily.groupBy("city_id").agg(
        F.min("date").alias("first_date"),
        F.max("date").alias("last_date"),
        F.count("*").alias("days_observed"),
        F.sum("hours_observed").cast("long").alias("hours_observed"),
    )
    span = F.datediff("last_date", "first_date") + 1
    return per_city.select(
        "city_id",
        "first_date",
        "last_date",
        "days_observed",
        span.alias("span_days"),
        "hours_observed",
        F.round(F.col("hours_observed") / (span * 24), 4).alias("completeness"),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--run-id", default="manual")
    parser.add_argument("--registry-file", help="the city registry CSV to publish as gold.cities")
    args = parser.parse_args()

    spark = spark_session("climatelake-gold-weather")
    ensure_schema(spark, args.catalog, "gold")
    if args.registry_file:
        with step("city registry"):
            print(city_registry.refresh(spark, args.catalog, args.registry_file, args.lake_root))
    daily_name = f"{args.catalog}.gold.weather_daily"
    coverage_name = f"{args.catalog}.gold.city_coverage"
    builds_name = f"{args.catalog}.gold.build_log"
    builds_path = f"{args.lake_root}/gold/build_log"
    silver_name = f"{args.catalog}.silver.weather_hourly"
    if not table_exists(spark, silver_name):
        print("gold: silver has no data yet; nothing to build")
        return
    silver_commit = delta_commit(spark, f"{args.lake_root}/silver/weather_hourly")
    silver_version = silver_commit[0]
    built = all(table_exists(spark, t) for t in (daily_name, coverage_name, builds_name))
    previous = last_build(spark, builds_name) if built else None
    if previous == silver_commit:
        print(f"gold: silver unchanged since the last build (version {silver_version}); nothing rebuilt")
        return
    changes_name = f"{args.catalog}.silver.weather_changes"
    pending = pending_changes(spark, changes_name)
    days = None  # the changed days, when gold can be updated rather than rebuilt
    if previous is not None and previous[0] < silver_version and pending is not None and not pending[1]:
        days = spark.table(changes_name).where(F.col("run_id").isin(pending[0]))
    keys = None if days is None else days.select("city_id", "date").distinct().limit(MAX_DAYS + 1).collect()
    if keys is None or len(keys) > MAX_DAYS:
        rebuild(spark, args.catalog, args.lake_root)
        how = "rebuilt"
    else:
        with step("update the changed days"):
            update_days(spark, args.catalog, args.lake_root, keys)
        how = f"updated for {len(keys)} changed days"
    record_build(spark, builds_name, builds_path, silver_commit, args.run_id)
    if pending is not None:
        with step("clear the changes built from"):
            consume_changes(spark, changes_name, args.lake_root, pending[0])
    print(f"gold: weather_daily and city_coverage {how} from silver version {silver_version}")


def rebuild(spark: SparkSession, catalog: str, lake_root: str) -> None:
    """Both tables from the whole of silver."""
    daily_name = f"{catalog}.gold.weather_daily"
    with step("daily aggregates"):
        write_table(
            weather_daily(spark.table(f"{catalog}.silver.weather_hourly")),
            daily_name,
            f"{lake_root}/gold/weather_daily",
        )
    with step("city coverage"):
        write_table(
            city_coverage(spark.table(daily_name)),
            f"{catalog}.gold.city_coverage",
            f"{lake_root}/gold/city_coverage",
        )


def pending_changes(spark: SparkSession, changes_name: str) -> tuple[list[str], bool] | None:
    """(the silver runs with rows in ``silver.weather_changes``, whether any asks for a full rebuild), or None
    when there is no such table or no row in it (gold then rebuilds whole: a silver written before the
    table existed, or changed by something other than the silver task)."""
    if not table_exists(spark, changes_name):
        return None
    runs = spark.table(changes_name).groupBy("run_id").agg(F.max(F.col("full").cast("int"))).collect()
    if not runs:
        return None
    return [r[0] for r in runs], any(r[1] for r in runs)


def update_days(spark: SparkSession, catalog: str, lake_root: str, keys: list[Row]) -> None:
    """Write the daily rows of the changed (city_id, date) and MERGE the coverage of their cities: silver
    rows are never deleted (MERGE updates or inserts), so a changed day is updated or new, never gone.

    The days are read from silver through a literal filter (the changed cities, their first and last
    day) before the exact semi-join, so an engine that skips files by column statistics reads only the
    files that can hold them. When none of the days is in gold yet (new days: the usual increment) they
    are appended — the MERGE's result, without Sail's MERGE rewriting the whole table; a crash after the
    append takes the MERGE path next time, the days being known then."""
    cities = sorted({r["city_id"] for r in keys})
    first, last = min(r["date"] for r in keys), max(r["date"] for r in keys)
    key_frame = spark.createDataFrame(keys, "city_id int, date date")
    near = F.col("city_id").isin(cities) & F.col("date").between(F.lit(first), F.lit(last))
    hourly = (
        spark.table(f"{catalog}.silver.weather_hourly")
        .where(near)
        .join(key_frame, ["city_id", "date"], "left_semi")
    )
    daily_name = f"{catalog}.gold.weather_daily"
    known = spark.table(daily_name).where(near).join(key_frame, ["city_id", "date"], "left_semi")
    if known.limit(1).count():
        merge(spark, weather_daily(hourly), daily_name, ("city_id", "date"))
    else:
        weather_daily(hourly).write.format("delta").mode("append").save(f"{lake_root}/gold/weather_daily")
    daily = spark.table(daily_name).where(F.col("city_id").isin(cities))
    merge(spark, city_coverage(daily), f"{catalog}.gold.city_coverage", ("city_id",))


def merge(spark: SparkSession, source: DataFrame, target: str, keys: tuple[str, ...]) -> None:
    view = f"gold_{target.rsplit('.', 1)[-1]}_changed"
    source.createOrReplaceTempView(view)
    on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    spark.sql(
        f"MERGE INTO {target} AS t USING {view} AS s ON {on} "
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
    )


def consume_changes(spark: SparkSession, changes_name: str, lake_root: str, runs: list[str]) -> None:
    """Delete the change rows of the silver runs this build read: replaceWhere with no rows, a delete of
    the matching rows on Delta (Databricks) and Sail alike. The empty frame is the table's own (an empty
    ``createDataFrame`` of the same schema fails on Sail: its timestamps are "UTC", the table's
    "Etc/UTC")."""
    empty = spark.table(changes_name).where(F.lit(False))
    write_table(
        empty,
        changes_name,
        f"{lake_root}/silver/weather_changes",
        replace_where=f"run_id IN ({sql_list(runs)})",
    )


def last_build(spark: SparkSession, builds_name: str) -> tuple[int, dt.datetime] | None:
    """(version, commit time) of the silver commit the newest gold build was made from."""
    newest = spark.table(builds_name).orderBy(F.col("built_at").desc()).limit(1).collect()
    return (newest[0]["silver_version"], newest[0]["silver_committed_at"]) if newest else None


def record_build(
    spark: SparkSession, name: str, location: str, silver_commit: tuple[int, dt.datetime], run_id: str
) -> None:
    """Append one row to ``gold.build_log``: which silver commit this build read, by which run, when."""
    row = spark.createDataFrame(
        [(*silver_commit, run_id, dt.datetime.now(dt.UTC).replace(tzinfo=None))],
        "silver_version long, silver_committed_at timestamp, run_id string, built_at timestamp",
    )
    row.write.format("delta").mode("append").save(location)
    register_table(spark, name, location)


if __name__ == "__main__":
    main()
