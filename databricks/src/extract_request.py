"""Extract one request's hourly rows into ``<catalog>.results.request_<request id>``.

Re-running the same request overwrites its table with the same rows (a new Delta version, no duplicates).
The result keeps the key columns (city_id, date, hour) and the requested metrics, ordered by key.
"""

from __future__ import annotations

import argparse

from lakehouse import ensure_schema, request_table_suffix, spark_session, write_table
from pyspark.sql import functions as F

METRICS = ("temp", "wind_speed", "precipitation", "humidity", "description")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--request-id", required=True)
    parser.add_argument("--city-ids", required=True, help="comma-separated")
    parser.add_argument("--start-date", required=True)
    parser.add_argument("--end-date", required=True)
    parser.add_argument("--metrics", default=",".join(METRICS))
    args = parser.parse_args()

    city_ids = [int(c) for c in args.city_ids.split(",") if c.strip()]
    metrics = [m for m in args.metrics.split(",") if m]
    unknown = set(metrics) - set(METRICS)
    if not city_ids or unknown:
        raise SystemExit(f"invalid parameters: city_ids={args.city_ids!r}, unknown metrics={sorted(unknown)}")

    spark = spark_session("climatelake-extract-request")
    hourly = spark.table(f"{args.catalog}.silver.weather_hourly")
    rows = (
        hourly.where(
            F.col("city_id").isin(city_ids)
            & F.col("date").between(F.lit(args.start_date).cast("date"), F.lit(args.end_date).cast("date"))
        )
        .select("city_id", "date", "hour", *metrics)
        .orderBy("city_id", "date", "hour")
    )
    suffix = request_table_suffix(args.request_id)
    ensure_schema(spark, args.catalog, "results")
    write_table(
        rows, f"{args.catalog}.results.request_{suffix}", f"{args.lake_root}/results/request_{suffix}"
    )
    print(f"results.request_{suffix}: written")


if __name__ == "__main__":
    main()
