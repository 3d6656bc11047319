"""Load raw hourly weather files (CSV in the seed schema) into ``<catalog>.silver.weather_hourly``.

Walking-skeleton scope: every run rebuilds the silver table from all raw files (idempotent by
construction); invalid rows (hour outside 0–23, humidity outside 0–100, negative wind or precipitation,
missing keys) are left out and counted. Incremental bronze → silver → gold is issue 6.
"""

from __future__ import annotations

import argparse

from lakehouse import ensure_schema, spark_session, write_table
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

RAW_SCHEMA = StructType(
    [
        StructField("City_id", StringType()),
        StructField("Date", StringType()),
        StructField("Hour", StringType()),
        StructField("Temp", StringType()),
        StructField("Wind_speed", StringType()),
        StructField("Description", StringType()),
        StructField("Precipitation", StringType()),
        StructField("Humidity", StringType()),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--raw-root", required=True)
    args = parser.parse_args()

    spark = spark_session("climatelake-ingest-weather")
    raw = spark.read.option("header", True).schema(RAW_SCHEMA).csv(f"{args.raw_root}/")
    typed = raw.select(
        F.col("City_id").cast(IntegerType()).alias("city_id"),
        F.to_date("Date").alias("date"),
        F.col("Hour").cast(IntegerType()).alias("hour"),
        F.col("Temp").cast(DoubleType()).alias("temp"),
        F.col("Wind_speed").cast(DoubleType()).alias("wind_speed"),
        F.lower(F.trim(F.col("Description"))).alias("description"),
        F.col("Precipitation").cast(DoubleType()).alias("precipitation"),
        F.col("Humidity").cast(IntegerType()).alias("humidity"),
    )
    valid = typed.where(
        F.col("city_id").isNotNull()
        & F.col("date").isNotNull()
        & F.col("hour").between(0, 23)
        & F.col("humidity").between(0, 100)
        & (F.col("wind_speed") >= 0)
        & (F.col("precipitation") >= 0)
    ).dropDuplicates(["city_id", "date", "hour"])

    ensure_schema(spark, args.catalog, "silver")
    write_table(valid, f"{args.catalog}.silver.weather_hourly", f"{args.lake_root}/silver/weather_hourly")
    print(f"silver.weather_hourly: {spark.table(f'{args.catalog}.silver.weather_hourly').count()} rows")


if __name__ == "__main__":
    main()
