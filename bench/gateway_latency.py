"""Gateway read path: one city × one year of hourly rows through /v1/weather/hourly.

In the same run, beside:
  (a) the bare in-process read of the same rows from the Delta table (polars) + JSON encode (orjson);
  (b) a hello-world endpoint (/healthz) on the same server configuration (gunicorn, same workers/threads).
Clients are Python threads with keep-alive sessions on this machine (so they share its 2 cores with the
server: figures are a floor). Targets (issue 5): p50 ≤ 1.5 × (a); requests/s ≥ 60 % of (b).

Run: ``.venv/bin/python bench/gateway_latency.py [--seconds 5]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import polars as pl  # noqa: E402
import requests  # noqa: E402
from timing import percentile  # noqa: E402

from climatelake.lake import storage_options  # noqa: E402
from emulators.stack import Stack  # noqa: E402

QUERY = {"city_id": 1, "start_date": "2024-01-01", "end_date": "2024-12-31"}


def load(url: str, headers: dict, clients: int, seconds: float) -> tuple[list[float], float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker() -> None:
        session = requests.Session()
        mine = []
        while time.perf_counter() < stop:
            began = time.perf_counter()
            answer = session.get(url, headers=headers, timeout=30)
            answer.raise_for_status()
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, len(latencies) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        # Rate limits off: this measures the read path, not the limiter.
        stack = Stack(
            Path(state),
            in_memory=True,
            gateway_env={
                "CLIMATELAKE_GATEWAY_RATE_LIMIT_PER_MINUTE": "100000000",
                "CLIMATELAKE_GATEWAY_RATE_LIMIT_BURST": "1000000",
            },
        )
        try:
            stack.start()
            stack.bootstrap([1, 2], dt.date(2024, 1, 1), dt.date(2024, 12, 31))
            headers = {"Authorization": f"Bearer {stack.api_key}"}
            gateway = stack.url("gateway")
            weather = f"{gateway}/v1/weather/hourly?" + "&".join(f"{k}={v}" for k, v in QUERY.items())
            first = requests.get(weather, headers=headers, timeout=60).json()
            rows = len(first["rows"])

            location = (
                stack.workspace_client().tables.get("climatelake.silver.weather_hourly").storage_location
            )
            options = storage_options(stack.settings())
            bare = []
            for _ in range(30):
                began = time.perf_counter()
                frame = (
                    pl.scan_delta(location, storage_options=options)
                    .filter((pl.col("city_id") == 1) & (pl.col("date").dt.year() == 2024))
                    .collect()
                )
                orjson.dumps(frame.to_dicts())
                bare.append(time.perf_counter() - began)

            results = {}
            for clients in (1, 8):
                results[("weather", clients)] = load(weather, headers, clients, args.seconds)
                results[("hello", clients)] = load(f"{gateway}/healthz", {}, clients, args.seconds)
        finally:
            stack.stop()

    print(
        f"date {dt.date.today()}  machine {platform.machine()} {os.cpu_count()} cores  "
        f"python {platform.python_version()}  gateway: gunicorn {stack.gateway_workers} workers × 4 threads"
    )
    print(f"rows per answer: {rows} (city 1, 2024)")
    bare_p50 = statistics.median(bare)
    bare_p99 = percentile(bare, 99)
    print(
        f"(a) bare read from Delta + JSON encode: p50 {bare_p50 * 1000:.1f} ms, p99 {bare_p99 * 1000:.1f} ms"
    )
    for clients in (1, 8):
        lat, rps = results[("weather", clients)]
        hello_lat, hello_rps = results[("hello", clients)]
        print(
            f"{clients} client(s): weather p50 {statistics.median(lat) * 1000:.1f} ms, "
            f"p99 {percentile(lat, 99) * 1000:.1f} ms, {rps:.0f} req/s | (b) hello p50 "
            f"{statistics.median(hello_lat) * 1000:.1f} ms, {hello_rps:.0f} req/s | "
            f"p50/(a) {statistics.median(lat) / bare_p50:.2f}, req/s vs (b) {rps / hello_rps:.0%}"
        )


if __name__ == "__main__":
    main()
