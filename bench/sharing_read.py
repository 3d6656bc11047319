"""Delta Sharing read: the real ``delta-sharing`` client's ``load_as_pandas`` of one city-year of the silver
hourly table through the workspace's sharing server, beside a direct polars read of the same Delta table,
in the same run (issue 8).

Run: ``python bench/sharing_read.py [--reads 10] [--city 1] [--year 2024]``. Starts the local stack (in
memory, free ports), loads one city-year of sample weather through the real ingest job (raw → bronze →
silver → gold), shares ``silver.weather_hourly`` through SQL statements, activates a recipient, and times:

- ``load_as_pandas``: the recipient client in its own virtual environment (``.local/venv-sharing``: the
  client caps pyarrow below the project's pin); each read is timed inside that process (list files with
  SAS URLs from the sharing server, fetch every parquet file from Azurite, build the pandas frame), so
  process start and imports are not counted;
- polars: ``pl.scan_delta(location, storage_options=climatelake.lake.storage_options(...)).collect()``.

Each is read once uncounted, then ``--reads`` times; prints p50/min in milliseconds, rows, and the ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from emulators.stack import Stack  # noqa: E402


def _sql(w, statement: str):
    answer = w.statement_execution.execute_statement(
        statement=statement, warehouse_id="local", wait_timeout="50s"
    )
    if answer.status.state.value != "SUCCEEDED":
        raise SystemExit(f"{statement}: {answer.status.error}")
    return answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=10)
    parser.add_argument("--city", type=int, default=1)
    parser.add_argument("--year", type=int, default=2024)
    args = parser.parse_args(argv)
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)

    import polars as pl
    from test_delta_sharing import ensure_sharing_python  # the side venv the tests use

    from climatelake.lake import storage_options

    python = ensure_sharing_python()
    with tempfile.TemporaryDirectory() as folder:
        stack = Stack(Path(folder), in_memory=True)
        try:
            stack.start()
            stack.bootstrap([args.city], dt.date(args.year, 1, 1), dt.date(args.year, 12, 31))
            settings = stack.settings()
            w = stack.workspace_client()
            table = settings.hourly_table_name
            share = f"bench_{uuid.uuid4().hex[:6]}"
            _sql(w, f"CREATE SHARE {share}")
            _sql(w, f"ALTER SHARE {share} ADD TABLE {table} AS weather.hourly")
            link = _sql(w, "CREATE RECIPIENT bench_reader").result.data_array[0][4]
            _sql(w, f"GRANT SELECT ON SHARE {share} TO RECIPIENT bench_reader")
            token = w.recipient_activation.retrieve_token(link.rsplit("?", 1)[1])
            profile = {
                "shareCredentialsVersion": token.share_credentials_version,
                "endpoint": token.endpoint,
                "bearerToken": token.bearer_token,
                "expirationTime": token.expiration_time,
            }
            step = {"do": "load", "table": f"{share}.weather.hourly", "rows": False}
            done = subprocess.run(
                [python, str(ROOT / "tests" / "helpers" / "sharing_recipient.py")],
                input=json.dumps({"profile": profile, "steps": [step] * (args.reads + 1)}),
                capture_output=True,
                text=True,
                timeout=1200,
                check=True,
            )
            results = json.loads(done.stdout.strip().splitlines()[-1])["results"]
            failed = [r for r in results if "error" in r]
            if failed:
                raise SystemExit(f"load_as_pandas failed: {failed[0]}")
            shared = [r["seconds"] for r in results[1:]]

            location = w.tables.get(table).storage_location
            options = storage_options(settings)
            rows = pl.scan_delta(location, storage_options=options).collect().height  # uncounted
            direct = []
            for _ in range(args.reads):
                started = time.perf_counter()
                pl.scan_delta(location, storage_options=options).collect()
                direct.append(time.perf_counter() - started)
            columns = len(w.tables.get(table).columns or [])
        finally:
            stack.stop()
    if results[-1]["row_count"] != rows:
        raise SystemExit(f"row counts differ: sharing {results[-1]['row_count']}, polars {rows}")
    sharing_ms, direct_ms = statistics.median(shared) * 1000, statistics.median(direct) * 1000
    print(
        f"{table}: city {args.city}, year {args.year}: {rows} rows, {columns} columns, "
        f"{args.reads} reads each"
    )
    print(f"{'read':44} {'p50 ms':>8} {'min ms':>8}")
    print(f"{'delta-sharing load_as_pandas (sharing server)':44} {sharing_ms:8.1f} {min(shared) * 1000:8.1f}")
    print(f"{'polars scan_delta().collect() (direct)':44} {direct_ms:8.1f} {min(direct) * 1000:8.1f}")
    print(f"ratio sharing / direct (p50): {sharing_ms / direct_ms:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
