"""Incremental ingest cost (issue 18, target 2): one new city-day file (24 rows) through the real
``climatelake_weather_ingest`` job (bronze → silver → gold) on Sail, (a) onto an empty lake and (b) onto a
lake already holding ``--cities`` × ``--days`` × 24 rows; target (b) ≤ 2× (a).

Run: ``python bench/weather_incremental.py [--cities 1000] [--days 417] [--cities-per-file 50]``
(1,000 cities = 10,008,000 rows, as ``bench/weather_pipeline.py``, whose file generation, cache and stack
set-up this reuses; ``--cities 100`` → 1 M rows). One stack, in this order:

* warm-up: a bare read + groupBy + Delta write of one city-day file (the engine's first query is slower);
* (a): the ingest job over one city-day file on the empty lake (the tables are created by this run);
* the lake is filled: the big files uploaded and ingested by one job run (timed, for reference);
* (b): two more city-day files, each ingested by its own run (best of the two; each a day after the big
  range, for city 1, so gold's daily rows and city 1's coverage change);
* bare baselines: the same bare read + groupBy + Delta write over one city-day file and over the lake.

Per task: the run's task seconds and the step timings each task prints in its log.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from weather_pipeline import START, bare, bench_lake, generate_files, run_seconds, task_seconds  # noqa: E402

from climatelake import sample_data  # noqa: E402
from climatelake.bootstrap import run_job, upload_weather_files  # noqa: E402


def city_day(city: int, day: dt.date) -> dict[str, bytes]:
    """One raw file of one city and one day: 24 rows, ``city=<id>/<day>_<day>.csv``."""
    return sample_data.weather_files([city], day, day, seed=day.toordinal())


def ingest(w, settings, label: str) -> dict[str, float]:
    """One ingest run: its duration and per-task seconds, printed with each task's step timings."""
    run = run_job(w, settings.ingest_job_name, timeout=dt.timedelta(hours=1))
    tasks = task_seconds(run)
    print(
        f"{label}: {run_seconds(run):.2f} s (" + ", ".join(f"{k} {v:.2f} s" for k, v in tasks.items()) + ")"
    )
    for task in run.tasks or []:
        logs = w.jobs.get_run_output(task.run_id).logs or ""
        steps = [line.strip() for line in logs.splitlines() if line.startswith("  ")]
        if steps:
            print(f"    {task.task_key}: " + "; ".join(steps))
    return {"run": run_seconds(run), **tasks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cities", type=int, default=1000)
    parser.add_argument("--days", type=int, default=417)
    parser.add_argument("--cities-per-file", type=int, default=50)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "climatelake-bench")
    args = parser.parse_args(argv)
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)
    rows = args.cities * args.days * 24
    end = START + dt.timedelta(days=args.days - 1)

    started = time.perf_counter()
    files = generate_files(args.cities, args.days, args.cities_per_file, args.cache_dir)
    print(f"lake files: {len(files)} ({rows:,} rows) ready in {time.perf_counter() - started:.1f} s")
    with bench_lake() as (_, settings, w, spark):
        account = settings.storage_account
        raw_root = f"abfss://raw@{account}.dfs.core.windows.net/weather"
        out = f"abfss://lake@{account}.dfs.core.windows.net/bench/bare_daily"

        first = city_day(1, START - dt.timedelta(days=1))
        upload_weather_files(settings, first)
        one_file = f"{raw_root}/{next(iter(first))}"
        bare(spark, one_file, out)  # warm-up: the engine's first query
        a = ingest(w, settings, "(a) one city-day file (24 rows) onto the empty lake")

        started = time.perf_counter()
        upload_weather_files(settings, files)
        files.clear()
        print(f"upload of the lake files: {time.perf_counter() - started:.1f} s")
        ingest(w, settings, f"fill the lake ({rows:,} rows, full pipeline)")
        silver = spark.table(f"{settings.catalog}.silver.weather_hourly").count()
        print(f"silver rows: {silver:,}")

        runs = []
        for n in (1, 2):
            upload_weather_files(settings, city_day(1, end + dt.timedelta(days=n)))
            runs.append(ingest(w, settings, f"(b{n}) one city-day file onto the {silver:,}-row lake"))
        b = min(runs, key=lambda r: r["run"])

        bare_one = min(bare(spark, one_file, out) for _ in range(2))
        bare_lake = min(bare(spark, raw_root, out) for _ in range(2))
        print(
            f"bare read+groupBy+Delta write, best of two: one city-day file {bare_one:.2f} s, "
            f"the whole lake {bare_lake:.2f} s"
        )
        print(
            "per task, (a) → best (b): "
            + ", ".join(f"{k} {a[k]:.2f} → {b[k]:.2f} s" for k in a if k != "run")
        )
        print(
            f"(b) / (a): {b['run'] / a['run']:.2f}× (target ≤ 2×); (a) = {a['run']:.2f} s, "
            f"(b) = {b['run']:.2f} s; (b) / bare one file: {b['run'] / bare_one:.1f}×"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
