"""Bronze: copy new raw weather files, row for row, into ``<catalog>.bronze.weather_hourly_raw``.

Incremental by a ledger (``<catalog>.bronze.ingest_ledger``): a file is identified by (path, length,
modification time), so each version of a file is ingested once, however often the job runs; a file
overwritten with new content is a new version and is ingested again (silver lets the later one win).

Why per-file reads: Sail has neither ``input_file_name()`` nor the ``_metadata`` column, so the only way to
know which file a row came from is to read files one at a time. The header of each file is checked
against the seed schema first, because Spark's CSV reader would otherwise fill a missing column with nulls
or drop an extra one silently; such a file is recorded in the ledger as ``rejected`` with the reason, and
none of its rows go anywhere.

Crash safety: bronze rows are written with ``replaceWhere file_id IN (…)`` before the ledger entries, so a
run that dies in between is redone by the next run without duplicating rows.

Layout: files are listed with Spark's ``binaryFile`` source under the raw root; Sail's partition discovery
needs every file at the same depth (e.g. ``weather/city=<id>/<name>.csv``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from functools import reduce

from lakehouse import (
    SEED_COLUMNS,
    ensure_schema,
    spark_session,
    sql_list,
    step,
    table_exists,
    write_table,
)
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

CHUNK_FILES = 100  # files per bronze commit: bounds the plan size of the union and the work a crash redoes
HEADER_THREADS = 8
"""Headers read at once: each is one round trip to the engine (an analysis of a one-file CSV read, ≈ 10 ms
on Sail), waiting on the engine rather than on this process, so they overlap (issue 18)."""
LEDGER_SCHEMA = StructType(
    [
        StructField("file_id", StringType()),
        StructField("path", StringType()),
        StructField("length", LongType()),
        StructField("modification_time", TimestampType()),
        StructField("status", StringType()),  # ingested | rejected
        StructField("reason", StringType()),
        StructField("rows", LongType()),
        StructField("run_id", StringType()),
        StructField("ingest_time", TimestampType()),
        StructField("promoted_run_id", StringType()),  # set by silver once the file's rows are merged
    ]
)


def container_root(raw_root: str) -> str:
    """``abfss://raw@acct.dfs.core.windows.net/weather`` → ``abfss://raw@acct.dfs.core.windows.net``:
    binaryFile reports paths relative to the container."""
    scheme, rest = raw_root.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}"


def list_files(spark: SparkSession, raw_root: str) -> list[Row]:
    """Every file under the raw root: path (container-relative), length, modificationTime; once each (a
    listing of 20 large blobs was seen to report one of them twice)."""
    listing = spark.read.format("binaryFile").option("pathGlobFilter", "*.csv").load(raw_root)
    rows = listing.select("path", "length", "modificationTime").orderBy("modificationTime", "path").collect()
    return list({file_id(r): r for r in rows}.values())


def file_id(row: Row) -> str:
    return f"{row['path']}|{row['length']}|{int(row['modificationTime'].timestamp())}"


def header_problem(columns: list[str]) -> str | None:
    """Why a file's header is not exactly the seed schema, or None when it is."""
    if tuple(columns) == SEED_COLUMNS:
        return None
    missing = [c for c in SEED_COLUMNS if c not in columns]
    extra = [c for c in columns if c not in SEED_COLUMNS]
    parts = []
    if missing:
        parts.append(f"missing columns {missing}")
    if extra:
        parts.append(f"extra columns {extra}")
    if not parts:
        parts.append(f"columns out of order {columns}")
    return "header mismatch: " + "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--raw-root", required=True)
    parser.add_argument("--run-id", default="manual")
    args = parser.parse_args()

    spark = spark_session("climatelake-bronze-weather")
    ledger_name = f"{args.catalog}.bronze.ingest_ledger"
    ledger_path = f"{args.lake_root}/bronze/ingest_ledger"
    bronze_name = f"{args.catalog}.bronze.weather_hourly_raw"
    with step("schema and ledger ready"):
        ensure_schema(spark, args.catalog, "bronze")
        if not table_exists(spark, ledger_name):
            write_table(spark.createDataFrame([], LEDGER_SCHEMA), ledger_name, ledger_path)
    with step("list new files"), ThreadPoolExecutor(1) as pool:  # the ledger is read during the listing
        known_ids = pool.submit(lambda: spark.table(ledger_name).select("file_id").collect())
        listed = list_files(spark, args.raw_root)
        known = {r["file_id"] for r in known_ids.result()}
        new_files = [f for f in listed if file_id(f) not in known]

    root = container_root(args.raw_root)
    totals = {"ingested": 0, "rejected": 0}
    for i in range(0, len(new_files), CHUNK_FILES):
        for status in ingest_chunk(
            spark, new_files[i : i + CHUNK_FILES], root, args.run_id, args.lake_root, bronze_name
        ):
            totals[status] += 1
    print(f"bronze: {len(new_files)} new files, {totals['ingested']} ingested, {totals['rejected']} rejected")


def ingest_chunk(
    spark: SparkSession,
    files: list[Row],
    root: str,
    run_id: str,
    lake_root: str,
    bronze_name: str,
) -> list[str]:
    """Read, check and write one chunk of files as one bronze commit, then their ledger entries."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    accepted: list[tuple[Row, DataFrame]] = []
    entries: list[tuple] = []

    def entry(f: Row, status: str, reason: str | None, rows: int) -> tuple:
        return (
            file_id(f),
            f["path"],
            f["length"],
            f["modificationTime"],
            status,
            reason,
            rows,
            run_id,
            now,
            None,
        )

    started = time.perf_counter()

    def read(f: Row) -> tuple[DataFrame, list[str]]:
        frame = spark.read.option("header", True).option("inferSchema", False).csv(f"{root}/{f['path']}")
        return frame, frame.columns

    with ThreadPoolExecutor(min(HEADER_THREADS, max(len(files), 1))) as pool:
        headers = list(pool.map(read, files))  # in file order, as before
    for f, (frame, columns) in zip(files, headers, strict=True):
        problem = header_problem(columns)
        if problem:
            print(f"REJECTED {f['path']}: {problem}")
            entries.append(entry(f, "rejected", problem, 0))
            continue
        rows = frame.select(
            *[F.col(c).cast("string").alias(c) for c in SEED_COLUMNS],
            F.lit(f["path"]).alias("source_file"),
            F.monotonically_increasing_id().alias("source_row"),  # increases in file order
            F.lit(file_id(f)).alias("file_id"),
            F.lit(f["modificationTime"]).cast("timestamp").alias("source_modified"),
            F.lit(now).cast("timestamp").alias("ingest_time"),
            F.lit(run_id).alias("run_id"),
        )
        accepted.append((f, rows))
    print(f"  check {len(files)} headers: {time.perf_counter() - started:.2f} s", flush=True)
    if accepted:
        batch = reduce(DataFrame.unionByName, [rows for _, rows in accepted])
        ids = [file_id(f) for f, _ in accepted]
        bronze_path = f"{lake_root}/bronze/weather_hourly_raw"
        with step(f"write {len(ids)} files to bronze"):
            if table_exists(spark, bronze_name):
                write_table(batch, bronze_name, bronze_path, replace_where=f"file_id IN ({sql_list(ids)})")
            else:
                write_table(batch, bronze_name, bronze_path)
        with step("count their rows"):
            counted = (
                spark.table(bronze_name)
                .where(F.col("file_id").isin(ids))
                .groupBy("file_id")
                .agg(F.count("*"))
            )
            counts = {r[0]: r[1] for r in counted.collect()}
        entries += [entry(f, "ingested", None, counts.get(file_id(f), 0)) for f, _ in accepted]
    if entries:
        with step("append to the ledger"):
            ledger = spark.createDataFrame(entries, LEDGER_SCHEMA)
            ledger.write.format("delta").mode("append").save(f"{lake_root}/bronze/ingest_ledger")
    return [e[4] for e in entries]


if __name__ == "__main__":
    main()
