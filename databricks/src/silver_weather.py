"""Silver: type, validate and de-duplicate the bronze rows not yet promoted, and MERGE them into
``<catalog>.silver.weather_hourly`` (one row per city_id, date, hour); failures go to
``<catalog>.silver.weather_quarantine`` with their reason. Every bronze row of a batch ends in exactly one
of the two, so nothing is dropped silently.

Which rows: those of files the ledger lists as ``ingested`` and not yet promoted (``promoted_run_id`` is
null); a run that died half-way is simply redone. Later wins: inside a batch the row of the most recently
modified file (then the greater path, then the later row in the file) wins its key and the others are
quarantined as ``duplicate_superseded``; across batches MERGE lets the newer batch replace older rows.

Why staging: the batch is typed and validated once into a staging Delta folder and read back, because
Sail re-evaluates a MERGE source plan (and a window over 10 M rows costs ~20 s): re-reading a written
batch is cheaper and makes both writes see exactly the same rows. The staging copy keeps the raw text
only of rejected rows (the valid ones need only their typed values); the few rows a duplicate supersedes take
theirs from bronze by (file_id, source_row). It names a row's file by its index in the batch (``_file``,
an int) instead of bronze's two long strings ``source_file`` and ``file_id`` and its time: only rejected
and duplicate rows need those, and they get them by a join with the batch's file table (from the ledger);
measured on 10 M rows, the staging write 6.7 → 6.0 s and its re-read 2.3 → 1.9 s (bench/RESULTS.md,
issue 18). The window that picks the winner runs
only over keys that occur more than once in the batch, found by one aggregation. When silver is still empty
the winners are written directly instead of merged (the same result, a third of the time).

For gold (issue 18): before the MERGE, the (city_id, date) of the merged rows are appended to
``<catalog>.silver.weather_changes`` (one ``full`` row instead when silver is written afresh), which gold
reads to update just those days and then empties. When none of the batch's keys is in silver yet (new
days arriving: the common case), the batch is appended — what the MERGE would do, without Sail's MERGE
reading and rewriting the whole table (3 s at 10 M rows, growing with the lake; the look-up, filtered by
the batch's cities and days, takes 0.05 s there); a crash after the append is redone by the MERGE path,
as the keys are then known. Otherwise the MERGE condition carries the same cities and days as a condition
on the target alone: implied by the key equality (same result), it lets Databricks skip the files that
cannot match (Sail's MERGE does not prune by it: same 3 s).

Each step is idempotent (quarantine by ``replaceWhere file_id IN batch``, MERGE by key, ledger by MERGE),
so re-running after any crash converges to the same tables. Rules: ``weather_quality``.
"""

from __future__ import annotations

import argparse
import datetime as dt

from lakehouse import (
    CHANGES_SCHEMA,
    SILVER_COLUMNS,
    ensure_schema,
    register_table,
    spark_session,
    sql_list,
    step,
    table_exists,
    write_table,
)
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from weather_quality import classify

RAW_COLUMNS = ("City_id", "Date", "Hour", "Temp", "Wind_speed", "Description", "Precipitation", "Humidity")
KEYS = ("_city_id", "_date", "_hour")


def pending_files(spark: SparkSession, catalog: str) -> list[tuple[str, str, dt.datetime]]:
    """(file_id, path, modification time) of the ingested files not yet promoted, oldest first (then by
    path): their position in this list is the batch's file index (``_file``)."""
    ledger = spark.table(f"{catalog}.bronze.ingest_ledger")
    pending = ledger.where((F.col("status") == "ingested") & F.col("promoted_run_id").isNull())
    rows = pending.select("file_id", "path", "modification_time").collect()
    unique = {r["file_id"]: (r["file_id"], r["path"], r["modification_time"]) for r in rows}
    return sorted(unique.values(), key=lambda f: (f[2], f[1], f[0]))


def repeated_days(valid: DataFrame) -> DataFrame:
    """The (city, date) of the valid rows where some hour occurs more than once.

    Why per day and not per key: one aggregation over the ≈ 24× fewer (city, date) groups, each summing
    and OR-ing ``2^hour`` (hours are 0–23 once valid): the sum equals the OR exactly when no hour repeats.
    At 10 M rows this answers in a fraction of grouping by the full key (bench/RESULTS.md, issue 18);
    plain Spark SQL aggregates (``bit_or``), the same on Databricks."""
    bit = F.shiftleft(F.lit(1).cast("long"), F.col("_hour"))
    per_day = valid.groupBy("_city_id", "_date").agg(
        F.sum(bit).alias("_hours_sum"), F.bit_or(bit).alias("_hours_set")
    )
    return per_day.where(F.col("_hours_sum") != F.col("_hours_set")).select("_city_id", "_date")


def split_duplicates(valid: DataFrame, files: DataFrame) -> tuple[DataFrame, DataFrame | None]:
    """(winners, losers) of the valid rows: one winner per key; losers (with their ``file_id``) None when no
    key repeats. The exact repeated keys are looked for only on the days :func:`repeated_days` names
    (usually none); only their rows are joined to ``files`` for the file's time and path the order needs."""
    days = repeated_days(valid)
    if days.limit(1).count() == 0:
        return valid, None
    candidates = valid.join(days, ["_city_id", "_date"], "left_semi")
    repeated = candidates.groupBy(*KEYS).count().where(F.col("count") > 1).select(*KEYS)
    order = Window.partitionBy(*KEYS).orderBy(
        F.col("source_modified").desc(), F.col("source_file").desc(), F.col("source_row").desc()
    )
    ranked = (
        valid.join(repeated, list(KEYS), "left_semi")
        .join(files, "_file")
        .withColumn("_rank", F.row_number().over(order))
    )
    file_columns = [c for c in files.columns if c != "_file"]
    winners = valid.join(repeated, list(KEYS), "left_anti").unionByName(
        ranked.where(F.col("_rank") == 1).drop("_rank", *file_columns)
    )
    return winners, ranked.where(F.col("_rank") > 1).drop("_rank")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--run-id", default="manual")
    args = parser.parse_args()

    spark = spark_session("climatelake-silver-weather")
    ensure_schema(spark, args.catalog, "silver")
    silver_name = f"{args.catalog}.silver.weather_hourly"
    silver_path = f"{args.lake_root}/silver/weather_hourly"
    quarantine_name = f"{args.catalog}.silver.weather_quarantine"
    pending = pending_files(spark, args.catalog)
    if not pending:
        print("silver: no new files")
        return
    files = [f[0] for f in pending]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    staging = f"{args.lake_root}/_staging/silver_weather_batch"
    file_table = spark.createDataFrame(
        [(i, *f) for i, f in enumerate(pending)],
        "_file int, file_id string, source_file string, source_modified timestamp",
    )
    bronze = (
        spark.table(f"{args.catalog}.bronze.weather_hourly_raw")
        .where(F.col("file_id").isin(files))
        .select(*RAW_COLUMNS, "source_row", "file_id")  # less to stage
    )
    staged = classify(
        bronze.join(file_table.select("_file", "file_id").hint("broadcast"), "file_id").drop("file_id")
    )
    bad = F.col("reason").isNotNull()
    with step("validate and stage the batch"):
        staged.select(  # raw text only where quarantine needs it; the file as its index: less to write
            *[F.when(bad, F.col(c)).alias(c) for c in RAW_COLUMNS],
            *[c for c in staged.columns if c not in RAW_COLUMNS],
        ).write.format("delta").mode("overwrite").save(staging)
    classified = spark.read.format("delta").load(staging)

    with step("find repeated keys"):
        winners, losers = split_duplicates(classified.where(F.col("reason").isNull()), file_table)
    provenance = file_table.select("_file", "source_file", "file_id")
    rejected = (
        classified.where(bad)
        .join(provenance, "_file")
        .select(*RAW_COLUMNS, "source_file", "file_id", "source_row", "reason")
    )
    if losers is not None:  # valid rows were staged without their raw text: take it from bronze
        superseded = bronze.join(
            losers.select("file_id", "source_row"), ["file_id", "source_row"], "left_semi"
        ).join(provenance.drop("_file"), "file_id")
        rejected = rejected.unionByName(superseded.withColumn("reason", F.lit("duplicate_superseded")))
    quarantine = rejected.select(
        *[F.col(c).alias(c.lower()) for c in RAW_COLUMNS],
        "source_file",
        "source_row",
        "file_id",
        "reason",
        F.lit(args.run_id).alias("run_id"),
        F.lit(now).cast("timestamp").alias("quarantined_at"),
    )
    quarantine_path = f"{args.lake_root}/silver/weather_quarantine"
    with step("write the quarantine"):
        if table_exists(spark, quarantine_name):
            write_table(
                quarantine, quarantine_name, quarantine_path, replace_where=f"file_id IN ({sql_list(files)})"
            )
        else:
            write_table(quarantine, quarantine_name, quarantine_path)

    rows = winners.select(*[F.col(f"_{c}").alias(c) for c in SILVER_COLUMNS])
    fresh = not table_exists(spark, silver_name) or spark.table(silver_name).limit(1).count() == 0
    with step("record the changed days for gold"):
        record_changes(spark, args.catalog, args.lake_root, None if fresh else rows, args.run_id, now)
    if fresh:
        with step("write silver (it was empty)"):
            rows.write.format("delta").mode("overwrite").save(silver_path)
            register_table(spark, silver_name, silver_path)
    elif (bounds := batch_bounds(rows)) is None:
        print("silver: no valid row in the batch; silver unchanged")
    else:
        with step("look for the batch's keys in silver"):
            known = (
                spark.table(silver_name)
                .where(F.expr(within(bounds)))
                .join(rows.select("city_id", "date", "hour"), ["city_id", "date", "hour"], "left_semi")
                .limit(1)
                .count()
            )
        if not known:  # every key is new: what the MERGE would do, without rewriting silver's files
            with step("append to silver (all keys new)"):
                rows.write.format("delta").mode("append").save(silver_path)
        else:
            view = f"silver_batch_{args.run_id}".replace("-", "_")
            rows.createOrReplaceTempView(view)
            with step("merge into silver"):
                spark.sql(
                    f"MERGE INTO {silver_name} AS t USING {view} AS s "
                    "ON t.city_id = s.city_id AND t.date = s.date AND t.hour = s.hour "
                    f"AND {within(bounds, 't.')} "
                    "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
                )
    with step("mark the files promoted"):
        mark_promoted(spark, args.catalog, files, args.run_id)
    print(f"silver: {len(files)} files merged into {silver_name}; quarantine updated")


def batch_bounds(rows: DataFrame) -> tuple[list[int], dt.date, dt.date] | None:
    """The batch's cities and its first and last day (None when it has no row)."""
    (bounds,) = rows.agg(
        F.collect_set("city_id").alias("cities"), F.min("date").alias("first"), F.max("date").alias("last")
    ).collect()
    if not bounds["cities"]:
        return None
    return sorted(bounds["cities"]), bounds["first"], bounds["last"]


def within(bounds: tuple[list[int], dt.date, dt.date], table: str = "") -> str:
    """A condition on silver alone that every row the batch can match satisfies: implied by the key
    equality, so a MERGE's result is the same, but an engine that prunes files by column statistics (Delta
    on Databricks) reads only the files that can hold them; what Sail prunes: bench/RESULTS.md, issue 18."""
    cities, first, last = bounds
    return (
        f"{table}city_id IN ({', '.join(str(int(c)) for c in cities)}) "
        f"AND {table}date BETWEEN DATE'{first.isoformat()}' AND DATE'{last.isoformat()}'"
    )


def record_changes(
    spark: SparkSession, catalog: str, lake_root: str, rows: DataFrame | None, run_id: str, now: dt.datetime
) -> None:
    """Append to ``silver.weather_changes`` the (city_id, date) of every row this batch MERGEs, before the
    MERGE, so that gold rebuilds just those days (``rows`` None: silver is written afresh, and one ``full``
    row tells gold to rebuild everything). Gold deletes the rows it has built from; a crash anywhere
    leaves rows behind, never loses one, and rebuilding a day twice gives the same row."""
    if rows is None:
        changes = spark.createDataFrame([(None, None, True, run_id, now)], CHANGES_SCHEMA)
    else:
        changes = (
            rows.select("city_id", "date")
            .distinct()
            .select(
                "city_id",
                "date",
                F.lit(False).alias("full"),
                F.lit(run_id).alias("run_id"),
                F.lit(now).cast("timestamp").alias("changed_at"),
            )
        )
    location = f"{lake_root}/silver/weather_changes"
    changes.write.format("delta").mode("append").save(location)
    register_table(spark, f"{catalog}.silver.weather_changes", location)


def mark_promoted(spark: SparkSession, catalog: str, files: list[str], run_id: str) -> None:
    """Record in the ledger that these files' rows are in silver (MERGE: idempotent)."""
    done = spark.createDataFrame([(f, run_id) for f in files], "file_id string, promoted_run_id string")
    view = f"promoted_{run_id}".replace("-", "_")
    done.createOrReplaceTempView(view)
    spark.sql(
        f"MERGE INTO {catalog}.bronze.ingest_ledger AS t USING {view} AS s ON t.file_id = s.file_id "
        "WHEN MATCHED THEN UPDATE SET promoted_run_id = s.promoted_run_id"
    )


if __name__ == "__main__":
    main()
