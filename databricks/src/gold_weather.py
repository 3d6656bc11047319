"""Gold: daily aggregates and per-city coverage, rebuilt whole from silver whenever silver has changed.

Why rebuild rather than update affected days: a full rebuild is idempotent by construction (the same silver
gives the same gold, whatever ran before), and on this engine rebuilding from 10 M hourly rows takes
1.5–2 s, task process included; tracking which days a MERGE touched would save little and add a way to be
wrong. Why skip when silver has not changed: a re-run must change nothing — not even a new Delta version of
the same rows, which readers polling versions (Delta Sharing recipients, caches) would take for new data.
``gold.build_log`` records the silver commit (version and time) each build read (appended after both
tables are written, so a crash in between only means the next run builds again). The aggregate
definitions are the ones the request job's ``granularity=daily`` uses
(``extract_request.daily_aggregates``), so both agree.

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
    step,
    table_exists,
    write_table,
)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

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
    built = [daily_name, coverage_name, builds_name]
    if all(table_exists(spark, t) for t in built) and last_build(spark, builds_name) == silver_commit:
        print(f"gold: silver unchanged since the last build (version {silver_version}); nothing rebuilt")
        return
    hourly = spark.table(silver_name)
    with step("daily aggregates"):
        write_table(weather_daily(hourly), daily_name, f"{args.lake_root}/gold/weather_daily")
    with step("city coverage"):
        write_table(
            city_coverage(spark.table(daily_name)), coverage_name, f"{args.lake_root}/gold/city_coverage"
        )
    record_build(spark, builds_name, builds_path, silver_commit, args.run_id)
    print(f"gold: weather_daily and city_coverage rebuilt from silver version {silver_version}")


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
