"""Extract one request's rows into ``<catalog>.results.request_<request id>``.

Hourly: the key columns (city_id, date, hour) and the requested metrics. Daily: per city and date, the
aggregates of each requested metric (temp → temp_min/temp_max/temp_mean, wind_speed → wind_speed_max,
precipitation → precipitation_sum, humidity → humidity_mean, description → the most frequent one), each
over the hours where that metric exists, with ``<metric>_hours_observed`` beside it, and hours_observed
(hours with a row at all). Re-running the same request overwrites its table with the same rows (a new Delta
version, no duplicates). The rows are also exported as one Parquet and one CSV file under
``<results root>/<request id>/`` in the results container, for download.
"""

from __future__ import annotations

import argparse

from lakehouse import ensure_schema, request_table_suffix, spark_session, table_exists, write_table
from pyspark.sql import functions as F

METRICS = ("temp", "wind_speed", "precipitation", "humidity", "description")
SILVER_SCHEMA = (
    "city_id int, date date, hour int, temp double, wind_speed double, description string, "
    "precipitation double, humidity double, missing_measures array<string>"
)


def daily_aggregates(metric: str) -> list:
    """The daily columns of one metric; the same definitions the gateway's daily query uses.

    Each is computed over the hours where the metric exists (SQL aggregates skip NULLs), and
    ``<metric>_hours_observed`` says how many those were: a day with 23 temperatures and 24 precipitation
    readings reports 23 and 24. No reading at all → the aggregate is NULL (unknown), never 0.
    """
    column = F.col(metric)
    return [
        *{
            "temp": [
                F.min(column).alias("temp_min"),
                F.max(column).alias("temp_max"),
                F.round(F.avg(column), 2).alias("temp_mean"),
            ],
            "wind_speed": [F.max(column).alias("wind_speed_max")],
            "precipitation": [F.round(F.sum(column), 2).alias("precipitation_sum")],
            "humidity": [F.round(F.avg(column), 2).alias("humidity_mean")],
            "description": [F.mode(column, deterministic=True).alias("description")],
        }[metric],
        F.count(column).alias(f"{metric}_hours_observed"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--results-root", required=True)
    parser.add_argument("--request-id", required=True)
    parser.add_argument("--city-ids", required=True, help="comma-separated")
    parser.add_argument("--start-date", required=True)
    parser.add_argument("--end-date", required=True)
    parser.add_argument("--metrics", default=",".join(METRICS))
    parser.add_argument("--granularity", choices=("hourly", "daily"), default="hourly")
    args = parser.parse_args()

    city_ids = [int(c) for c in args.city_ids.split(",") if c.strip()]
    metrics = [m for m in args.metrics.split(",") if m]
    unknown = set(metrics) - set(METRICS)
    if not city_ids or unknown:
        raise SystemExit(f"invalid parameters: city_ids={args.city_ids!r}, unknown metrics={sorted(unknown)}")

    spark = spark_session("climatelake-extract-request")
    silver = f"{args.catalog}.silver.weather_hourly"
    # No silver yet (a fresh deployment): the request still succeeds, with zero rows, and says so.
    hourly = spark.table(silver) if table_exists(spark, silver) else spark.createDataFrame([], SILVER_SCHEMA)
    selected = hourly.where(
        F.col("city_id").isin(city_ids)
        & F.col("date").between(F.lit(args.start_date).cast("date"), F.lit(args.end_date).cast("date"))
    )
    if args.granularity == "daily":
        rows = (
            selected.groupBy("city_id", "date")
            .agg(*[a for m in metrics for a in daily_aggregates(m)], F.count("*").alias("hours_observed"))
            .orderBy("city_id", "date")
        )
    else:
        rows = selected.select("city_id", "date", "hour", *metrics).orderBy("city_id", "date", "hour")
    suffix = request_table_suffix(args.request_id)
    ensure_schema(spark, args.catalog, "results")
    write_table(
        rows, f"{args.catalog}.results.request_{suffix}", f"{args.lake_root}/results/request_{suffix}"
    )
    # Export files for download: one Parquet and one CSV file (coalesced: a request is small), overwritten on
    # a re-run like the table.
    export = spark.table(f"{args.catalog}.results.request_{suffix}").coalesce(1)
    export.write.mode("overwrite").parquet(f"{args.results_root}/{args.request_id}/parquet")
    export.write.mode("overwrite").option("header", True).csv(f"{args.results_root}/{args.request_id}/csv")
    print(f"results.request_{suffix}: written, exported to {args.results_root}/{args.request_id}")


if __name__ == "__main__":
    main()
