"""End-to-end latency: manifest written → completion event received, beside the bare job run.

Both are measured in the same run on the same warm engine (Sail):
- e2e: a manifest uploaded with azure-storage-blob, until the subscriber receives
  ``Climatelake.Request.Succeeded`` (BlobCreated detection + function + run-now + job process + webhook +
  result snapshot + event publish + delivery);
- bare: the same job file run directly against the same Sail (what the job itself costs), forked from a
  warm Python as the workspace runs its tasks (``emulators/workspace/warm_python.py``); a cold ``python``
  process is also timed and printed.

Each end-to-end run is also split into its hops, from timestamps the parts already record: the request's
status timeline in Table storage (``manifest_written``, ``job_started``, ``succeeded``), the run's and its
task's start/end times from ``jobs.get_run``, the functions host's ``Executing 'Functions.…'`` log lines
(when Event Grid's delivery and the workspace's webhook reached each function), the completion event's
``eventTime`` and the moment the subscriber received it. All are wall-clock times of one machine
(milliseconds).

Run: ``make bench`` (or ``.venv/bin/python bench/e2e_latency.py --runs 10``). Prints medians and the ratio.
``--on-disk`` runs Azurite with ``--location`` as ``make run`` does, so its writes wake the Event Grid
stand-in's listing (``emulators/eventgrid/write_hints.py``); in memory it finds blobs by polling alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from azure.storage.blob import BlobServiceClient  # noqa: E402

from climatelake.status import RequestStatusStore  # noqa: E402
from emulators.common.event_sink import EventSink  # noqa: E402
from emulators.stack import Stack  # noqa: E402
from emulators.workspace.warm_python import WarmPython  # noqa: E402

#: the hops of one request, in order: (label, from, to) over the instants ``_instants`` collects
HOPS = [
    ("blob written → BlobCreated delivered to the function", "written", "manifest_fn"),
    ("function: manifest read, status manifest_written", "manifest_fn", "manifest_written"),
    ("function → run-now answered (status job_started)", "manifest_written", "job_started"),
    ("run queued → task running (workspace dispatch)", "run_created", "task_start"),
    ("task running → task done (the job itself)", "task_start", "task_end"),
    ("task done → run terminated", "task_end", "run_end"),
    ("run terminated → completion webhook at the function", "run_end", "webhook_fn"),
    ("webhook → status succeeded (get_run + result snapshot)", "webhook_fn", "succeeded"),
    ("status succeeded → event built", "succeeded", "event_time"),
    ("event published → received by the subscriber", "event_time", "received"),
]
_TASK_TIMINGS = re.compile(r"task timings run (\d+) task \S+: (.*)$")
_EXECUTING = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*Executing 'Functions\.(\w+)'")


def _seconds(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _function_starts(log: Path) -> list[tuple[float, str]]:
    """(when, function name) of every invocation the functions host logged (its local time, ms)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if match := _EXECUTING.match(line):
            when = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            found.append((when, match.group(2)))
    return found


def _task_pieces(log: Path) -> dict[int, dict[str, float]]:
    """run id → the pieces of its task hop the workspace logged (ms: token, proxy start, process, …)."""
    found: dict[int, dict[str, float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if match := _TASK_TIMINGS.search(line):
            pairs = (item.split("=") for item in match.group(2).split())
            found[int(match.group(1))] = {k: float(v) for k, v in pairs}
    return found


def _instants(written: float, received: float, event: dict, statuses, w, starts) -> dict[str, float]:
    """The moments one request passed each part (seconds since the epoch)."""
    record = statuses.get(event["data"]["request_id"])
    at = {entry["status"]: _seconds(entry["at"]) for entry in record.timeline}
    run = w.jobs.get_run(int(event["data"]["run_id"]))
    task = run.tasks[0]
    found = {"written": written, "received": received, "event_time": _seconds(event["eventTime"])}
    found.update({k: at[k] for k in ("manifest_written", "job_started", "succeeded")})
    found.update(
        run_created=run.start_time / 1000,
        task_start=task.start_time / 1000,
        task_end=task.end_time / 1000,
        run_end=run.end_time / 1000,
    )
    # sequential requests: the function invocations are the last ones before each status change
    found["manifest_fn"] = max(
        t for t, name in starts if name == "on_manifest_created" and t <= at["manifest_written"]
    )
    found["webhook_fn"] = max(t for t, name in starts if name == "job_events" and t <= at["succeeded"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cities", type=int, default=10)
    parser.add_argument(
        "--on-disk",
        action="store_true",
        help="Azurite with --location, as `make run` starts it (its writes wake the Event Grid stand-in's "
        "listing); default in memory (the stand-in finds blobs by polling alone)",
    )
    args = parser.parse_args()
    cities = list(range(1, args.cities + 1))
    received_at: dict[str, float] = {}
    sink = EventSink(on_event=lambda e: received_at.setdefault(e["data"].get("request_id", ""), time.time()))
    with tempfile.TemporaryDirectory() as state:
        stack = Stack(Path(state), in_memory=not args.on_disk, subscribers=[sink.url])
        try:
            stack.start()
            stack.bootstrap(cities, dt.date(2024, 1, 1), dt.date(2024, 12, 31))
            service = BlobServiceClient.from_connection_string(stack.connection_string)
            manifest = {
                "manifest_version": 1,
                "city_ids": cities[:3],
                "start_date": "2024-03-01",
                "end_date": "2024-05-31",
            }
            statuses = RequestStatusStore(stack.connection_string)
            w = stack.workspace_client()
            e2e, bare, cold, hops, run_ids = [], [], [], [], []
            warm = WarmPython()  # what the workspace runs tasks in: the same footing for the bare run
            log = Path(state) / "bare.log"
            job_file = ROOT / "databricks" / "src" / "extract_request.py"
            env = {**os.environ, "SPARK_REMOTE": f"sc://127.0.0.1:{stack.ports['sail']}"}
            for i in range(args.runs + 1):  # the first of each is a warm-up, not counted
                request_id = f"bench-{uuid.uuid4().hex[:12]}"
                written, began = time.time(), time.perf_counter()
                service.get_blob_client("manifests", f"{request_id}.json").upload_blob(json.dumps(manifest))
                event = sink.wait_for(lambda e, r=request_id: e["data"].get("request_id") == r, timeout=300)
                elapsed = time.perf_counter() - began
                assert event["eventType"] == "Climatelake.Request.Succeeded", event
                starts = _function_starts(Path(state) / "logs" / "functions.log")
                at = _instants(written, received_at[request_id], event, statuses, w, starts)
                command = [
                    sys.executable,
                    str(job_file),
                    "--catalog",
                    "climatelake",
                    "--lake-root",
                    "abfss://lake@devstoreaccount1.dfs.core.windows.net",
                    "--results-root",
                    "abfss://results@devstoreaccount1.dfs.core.windows.net/requests",
                    "--request-id",
                    f"bare-{request_id}",
                    "--city-ids",
                    "1,2,3",
                    "--start-date",
                    "2024-03-01",
                    "--end-date",
                    "2024-05-31",
                ]
                began = time.perf_counter()
                subprocess.run(command, env=env, cwd=job_file.parent, check=True, capture_output=True)
                cold_elapsed = time.perf_counter() - began
                command[command.index("--request-id") + 1] = f"warm-{request_id}"
                began = time.perf_counter()
                task = warm.start(str(job_file), command[2:], str(job_file.parent), env, log)
                assert task.wait(timeout=300) == 0, log.read_text()
                bare_elapsed = time.perf_counter() - began
                if i:
                    e2e.append(elapsed)
                    bare.append(bare_elapsed)
                    cold.append(cold_elapsed)
                    hops.append([at[b] - at[a] for _, a, b in HOPS])
                    run_ids.append(int(event["data"]["run_id"]))
            pieces = _task_pieces(Path(state) / "logs" / "workspace.log")
        finally:
            warm.stop()
            stack.stop()
            sink.close()
    e2e_med, bare_med = statistics.median(e2e), statistics.median(bare)
    print(
        f"date {dt.date.today()}  machine {platform.machine()} {os.cpu_count()} cores  "
        f"python {platform.python_version()}"
    )
    print(
        f"runs {args.runs}; request: 3 cities × 92 days (6,624 rows) "
        f"from a {args.cities}-city-year hourly table; Azurite {'on disk' if args.on_disk else 'in memory'}"
    )
    print(
        f"bare job run (warm Python fork + Spark Connect + Delta write + register): median {bare_med:.2f} s, "
        f"min {min(bare):.2f} s; as a cold `python` process: median {statistics.median(cold):.2f} s"
    )
    print(
        f"end to end (manifest written → completion event):         median {e2e_med:.2f} s, "
        f"min {min(e2e):.2f} s, max {max(e2e):.2f} s"
    )
    print(f"ratio e2e / bare: {e2e_med / bare_med:.2f}; pipeline overhead {e2e_med - bare_med:.2f} s")
    print("hops of manifest written → completion event (ms: median, min, max):")
    for n, (label, _, _) in enumerate(HOPS):
        values = [h[n] * 1000 for h in hops]
        print(f"  {label:<58} {statistics.median(values):6.0f} {min(values):6.0f} {max(values):6.0f}")
    sums = [sum(h) * 1000 for h in hops]
    print(f"  {'sum of the hops':<58} {statistics.median(sums):6.0f} {min(sums):6.0f} {max(sums):6.0f}")
    measured = [pieces[r] for r in run_ids if r in pieces]
    if measured:
        print("the task hop's pieces, from the workspace log (ms: median, min, max):")
        for name in measured[0]:
            values = [m[name] for m in measured if name in m]
            print(f"  {name:<58} {statistics.median(values):6.1f} {min(values):6.1f} {max(values):6.1f}")
    print(f"bare job runs (ms): {' '.join(f'{b * 1000:.0f}' for b in bare)}")
    print(f"task hops (ms):     {' '.join(f'{h[4] * 1000:.0f}' for h in hops)}")


if __name__ == "__main__":
    main()
