"""Gateway read path: one city × one year of hourly rows through /v1/weather/hourly.

In the same run, beside:
  (a) the bare in-process read of the same rows from the Delta table (polars) + JSON encode (orjson);
  (b) a hello-world endpoint (/healthz) on the same server configuration (gunicorn, same workers/threads);
  (c) the same answer bytes (plain and gzip) served by a bare WSGI app under the same gunicorn settings
      (bench/static_body_app.py) — the cost of moving those bytes alone, the ceiling for (a)-free serving.
Two load generators, both with keep-alive connections, on this machine (so they share its 2 cores with the
server: figures are a floor):
- Python threads with ``requests`` sessions — precise latency (p50/p99) and the req/s a Python caller sees;
- a native load generator — req/s with a client that costs the server's cores little: wrk (C; the figures
  in bench/RESULTS.md; ``apt-get install wrk``) when it is on PATH, else autocannon (Node, from
  package.json), which is slow on binary bodies (gzip answers measure low with it).
Each runs the weather query with ``Accept-Encoding: gzip`` (what requests, curl --compressed and browsers
send) and with ``identity``, and the hello world. Targets (issue 5): p50 ≤ 1.5 × (a); requests/s ≥ 60 % of
(b).

Run: ``.venv/bin/python bench/gateway_latency.py [--seconds 5]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
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
from emulators.stack import Stack, free_port, wait_until  # noqa: E402

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


AUTOCANNON = ROOT / "node_modules" / ".bin" / "autocannon"
TOOL = "wrk" if shutil.which("wrk") else "autocannon"


def native_load(url: str, headers: dict, clients: int, seconds: float) -> float:
    """Requests per second of wrk (preferred) or autocannon."""
    if shutil.which("wrk"):
        return wrk(url, headers, clients, seconds)
    return autocannon(url, headers, clients, seconds)


def wrk(url: str, headers: dict, clients: int, seconds: float) -> float:
    command = ["wrk", "-t", str(min(clients, 2)), "-c", str(clients), "-d", f"{int(seconds)}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60)
    if "Non-2xx" in done.stdout or "Socket errors" in done.stdout:
        raise RuntimeError(f"wrk saw failures:\n{done.stdout}")
    return float(re.search(r"Requests/sec:\s+([0-9.]+)", done.stdout).group(1))


def autocannon(url: str, headers: dict, clients: int, seconds: float) -> float:
    """Requests per second autocannon reaches (its latency histogram has only whole milliseconds)."""
    command = [str(AUTOCANNON), "-j", "-c", str(clients), "-d", str(int(seconds))]
    for name, value in headers.items():
        command += ["-H", f"{name}={value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60)
    report = json.loads(done.stdout)
    if report["non2xx"] or report["errors"]:
        raise RuntimeError(f"autocannon saw failures: {report['non2xx']} non-2xx, {report['errors']} errors")
    return report["requests"]["total"] / report["duration"]


def start_static_server(state: Path, plain: bytes, gzipped: bytes, workers: int):
    """(c): gunicorn with the gateway's settings serving the answer bytes from a bare WSGI app."""
    (state / "plain.json").write_bytes(plain)
    (state / "gzip.json").write_bytes(gzipped)
    port = free_port()
    env = {
        **os.environ,
        "STATIC_BODY_PLAIN": str(state / "plain.json"),
        "STATIC_BODY_GZIP": str(state / "gzip.json"),
    }
    command = [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers"]
    command += [str(workers), "--threads", "4", "--access-logfile", "-", "--chdir", str(ROOT / "bench")]
    process = subprocess.Popen(
        [*command, "static_body_app:app"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/"
    wait_until(lambda: requests.get(url, timeout=1).ok, 30, "static body server", process)
    return url, process


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
            gzip_headers = {**headers, "Accept-Encoding": "gzip"}
            plain_headers = {**headers, "Accept-Encoding": "identity"}
            gateway = stack.url("gateway")
            weather = f"{gateway}/v1/weather/hourly?" + "&".join(f"{k}={v}" for k, v in QUERY.items())
            first = requests.get(weather, headers=plain_headers, timeout=60)
            rows = len(first.json()["rows"])
            gzip_body = requests.get(weather, headers=gzip_headers, stream=True).raw.read()
            sizes = (len(first.content), len(gzip_body))

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

            static = start_static_server(Path(state), first.content, gzip_body, stack.gateway_workers)
            hello = f"{gateway}/healthz"
            cases = {"weather gzip": (weather, gzip_headers), "weather plain": (weather, plain_headers)}
            cases["hello"] = (hello, {})
            cases["(c) bytes gzip"] = (static[0], {"Accept-Encoding": "gzip"})
            cases["(c) bytes plain"] = (static[0], {"Accept-Encoding": "identity"})
            results, rates = {}, {}
            for clients in (1, 8):
                for name, (url, sent) in cases.items():
                    results[(name, clients)] = load(url, sent, clients, args.seconds)
                    rates[(name, clients)] = native_load(url, sent, clients, args.seconds)
        finally:
            if "static" in locals():
                static[1].terminate()
                static[1].wait(10)
            stack.stop()

    print(
        f"date {dt.date.today()}  machine {platform.machine()} {os.cpu_count()} cores  "
        f"python {platform.python_version()}  gateway: gunicorn {stack.gateway_workers} workers × 4 threads"
    )
    print(f"rows per answer: {rows} (city 1, 2024); body {sizes[0]:,} bytes, gzip {sizes[1]:,} bytes")
    bare_p50 = statistics.median(bare)
    bare_p99 = percentile(bare, 99)
    print(
        f"(a) bare read from Delta + JSON encode: p50 {bare_p50 * 1000:.1f} ms, p99 {bare_p99 * 1000:.1f} ms"
    )
    for clients in (1, 8):
        hello_lat, hello_rps = results[("hello", clients)]
        hello_rate = rates[("hello", clients)]
        print(
            f"{clients} client(s), (b) hello: python p50 {statistics.median(hello_lat) * 1000:.2f} ms, "
            f"{hello_rps:.0f} req/s | {TOOL} {hello_rate:.0f} req/s"
        )
        for name in ("weather gzip", "weather plain", "(c) bytes gzip", "(c) bytes plain"):
            lat, rps = results[(name, clients)]
            rate = rates[(name, clients)]
            print(
                f"  {name}: python p50 {statistics.median(lat) * 1000:.2f} ms "
                f"(p50/(a) {statistics.median(lat) / bare_p50:.2f}), "
                f"p99 {percentile(lat, 99) * 1000:.1f} ms, "
                f"{rps:.0f} req/s ({rps / hello_rps:.0%} of (b)) | {TOOL} {rate:.0f} req/s "
                f"({rate / hello_rate:.0%} of (b))"
            )


if __name__ == "__main__":
    main()
