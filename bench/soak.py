"""Soak: a steady mix of every kind of work against the local stack for N minutes, one table a minute.

Run: ``make soak MINUTES=30`` (or ``.venv/bin/python bench/soak.py --minutes 30``); not in CI. It starts a
local stack in memory on free ports (loads ``--cities`` cities × ``--days`` days of sample weather through
the real ingest job), or with ``--attach`` uses the one ``make run`` started (its state folder,
``CLIMATELAKE_STATE_DIR`` or ``.local/stack``, and ports ``CLIMATELAKE_<PART>_PORT``).

The mix, each kind on its own thread at a fixed pace (per second, ``--rates``):

- ``request``: ``POST /v1/requests`` through the gateway; its latency is the 202 until its status (read
  from the status table, as the Functions host writes it) is terminal; a failed request or one not terminal
  within ``--terminal-timeout`` seconds counts as an error;
- ``upload``: a manifest uploaded straight into the manifests container (azure-storage-blob), timed the
  same way;
- ``hourly`` / ``daily``: ``GET /v1/weather/hourly`` and ``/v1/weather/daily`` for a random city and month;
- ``sql``: a parameterised ``SELECT`` through databricks-sdk ``statement_execution.execute_statement``;
- ``sharing``: a Delta Sharing read over plain HTTP as the protocol defines it (``POST …/query``, then every
  file URL it returns fetched), as a recipient activated through SQL and ``recipient_activation``.

Each minute it prints, per kind: operations finished, errors, p50/p99 latency in milliseconds; and the RSS
(MiB) of each process group of the stack. The last lines are the totals over the whole run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.helpers.memory import group_rss_mb, stack_rss_mb  # noqa: E402

KINDS = ("request", "upload", "hourly", "daily", "sql", "sharing")
DEFAULT_RATES = "request=0.3,upload=0.1,hourly=4,daily=2,sql=0.5,sharing=0.5"
SHARE = "soak_share"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Tally:
    """Latencies and errors per kind for the current minute and for the whole run (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.minute: dict[str, list[float]] = defaultdict(list)
        self.minute_errors: dict[str, int] = defaultdict(int)
        self.total: dict[str, list[float]] = defaultdict(list)
        self.total_errors: dict[str, int] = defaultdict(int)
        self.last_error: dict[str, str] = {}

    def ok(self, kind: str, seconds: float) -> None:
        with self._lock:
            self.minute[kind].append(seconds)
            self.total[kind].append(seconds)

    def error(self, kind: str, what: str) -> None:
        with self._lock:
            self.minute_errors[kind] += 1
            self.total_errors[kind] += 1
            self.last_error[kind] = what[:200]

    def take_minute(self) -> tuple[dict[str, list[float]], dict[str, int]]:
        with self._lock:
            taken = dict(self.minute), dict(self.minute_errors)
            self.minute, self.minute_errors = defaultdict(list), defaultdict(int)
            return taken


def row(label: str, kind: str, samples: list[float], errors: int, seconds: float) -> str:
    count = len(samples) + errors
    if samples:
        p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
        lat = f"{p50:9.1f} {p99:9.1f}"
    else:
        lat = f"{'-':>9} {'-':>9}"
    return f"{label:>6} {kind:8} {count:6d} {count / seconds:7.2f} {errors:6d} {lat}"


HEADER = f"{'minute':>6} {'kind':8} {'ops':>6} {'ops/s':>7} {'errors':>6} {'p50 ms':>9} {'p99 ms':>9}"


class Target:
    """What the mix talks to: addresses, credentials, and how to read each process's RSS."""

    def __init__(self, env: dict[str, str], gateway: str, api_key: str, rss) -> None:
        self.env, self.gateway, self.api_key, self.rss = env, gateway, api_key, rss

    def settings(self):
        from climatelake.settings import Settings

        return Settings.from_env(self.env)

    def workspace(self):
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.config import Config

        return WorkspaceClient(
            config=Config(
                host=self.env["DATABRICKS_HOST"], token=self.env["DATABRICKS_TOKEN"], retry_timeout_seconds=60
            )
        )


def _listening_pids() -> dict[int, int]:
    """Local TCP port → pid of the process listening on it (Linux /proc), for ``--attach``."""
    inodes = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                inodes[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    ports = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    ports[inodes[link[8:-1]]] = int(proc.name)
        except OSError:
            continue
    return ports


def attach() -> Target:
    """The stack ``make run`` started: its settings file, its ports; a new admin key for the gateway."""
    from climatelake.keys import ApiKeyStore
    from emulators.stack import _configured_ports

    state = Path(os.environ.get("CLIMATELAKE_STATE_DIR", ROOT / ".local" / "stack"))
    values = json.loads((state / "local.settings.json").read_text())["Values"]
    ports = _configured_ports()
    env = {k: v for k, v in values.items() if k.startswith(("CLIMATELAKE_", "DATABRICKS_"))}
    api_key, _ = ApiKeyStore(env["CLIMATELAKE_STORAGE_CONNECTION_STRING"]).create("admin", "soak")

    def rss() -> dict[str, float]:
        pids = _listening_pids()
        parts = {
            "azurite": "blob",
            **{p: p for p in ("sail", "workspace", "eventgrid", "functions", "gateway")},
        }
        return {
            name: round(group_rss_mb(os.getpgid(pids[ports[port]])), 1)
            for name, port in parts.items()
            if ports[port] in pids
        }

    return Target(env, f"http://127.0.0.1:{ports['gateway']}", api_key, rss)


def setup_sharing(target: Target, table: str) -> dict:
    """A share of the hourly table and an activated recipient: the profile a recipient would hold."""
    w = target.workspace()

    def sql(statement: str):
        answer = w.statement_execution.execute_statement(
            statement=statement, warehouse_id="local", wait_timeout="50s"
        )
        if answer.status.state.value != "SUCCEEDED":
            raise SystemExit(f"{statement}: {answer.status.error}")
        return answer

    suffix = uuid.uuid4().hex[:6]
    share, recipient = f"{SHARE}_{suffix}", f"soak_reader_{suffix}"
    sql(f"CREATE SHARE {share}")
    sql(f"ALTER SHARE {share} ADD TABLE {table} AS weather.hourly")
    link = sql(f"CREATE RECIPIENT {recipient}").result.data_array[0][4]
    sql(f"GRANT SELECT ON SHARE {share} TO RECIPIENT {recipient}")
    token = w.recipient_activation.retrieve_token(link.rsplit("?", 1)[1])
    return {"endpoint": token.endpoint.rstrip("/"), "token": token.bearer_token, "share": share}


class Mix:
    """The workers of each kind, paced; pending requests polled to their terminal state."""

    def __init__(self, target: Target, tally: Tally, args: argparse.Namespace, sharing: dict) -> None:
        from azure.storage.blob import BlobServiceClient

        from climatelake.status import RequestStatusStore

        self.target, self.tally, self.args, self.sharing = target, tally, args, sharing
        self.settings = target.settings()
        self.stop = threading.Event()
        self.pending: dict[str, tuple[str, float]] = {}  # request id → (kind, accepted at)
        self.pending_lock = threading.Lock()
        self.store = RequestStatusStore(self.settings.storage_connection_string, self.settings.requests_table)
        self.blobs = BlobServiceClient.from_connection_string(self.settings.storage_connection_string)
        self.random = random.Random(7)

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.target.api_key}"
        return session

    def _range(self) -> tuple[int, dt.date, dt.date]:
        city = self.random.randint(1, self.args.cities)
        first = self.args.start + dt.timedelta(days=self.random.randrange(max(1, self.args.days - 3)))
        return city, first, first + dt.timedelta(days=self.random.randint(0, 2))

    # one operation of each kind; raise on error ---------------------------------------------------
    def op_request(self, session: requests.Session) -> None:
        city, first, last = self._range()
        body = {"city_ids": [city], "start_date": first.isoformat(), "end_date": last.isoformat()}
        answer = session.post(f"{self.target.gateway}/v1/requests", json=body, timeout=30)
        if answer.status_code != 202:
            raise RuntimeError(f"{answer.status_code} {answer.text[:120]}")
        with self.pending_lock:
            self.pending[answer.json()["request_id"]] = ("request", time.monotonic())

    def op_upload(self, session: requests.Session) -> None:
        city, first, last = self._range()
        request_id = f"soak-{uuid.uuid4().hex[:12]}"
        manifest = {
            "manifest_version": 1,
            "city_ids": [city],
            "start_date": first.isoformat(),
            "end_date": last.isoformat(),
        }
        blob = self.blobs.get_blob_client(self.settings.manifests_container, f"{request_id}.json")
        blob.upload_blob(json.dumps(manifest).encode(), overwrite=False)
        with self.pending_lock:
            self.pending[request_id] = ("upload", time.monotonic())

    def _weather(self, session: requests.Session, path: str) -> float:
        city, first, _ = self._range()
        params = {
            "city_id": city,
            "start_date": first.isoformat(),
            "end_date": (first + dt.timedelta(30)).isoformat(),
        }
        started = time.monotonic()
        answer = session.get(f"{self.target.gateway}{path}", params=params, timeout=30)
        if answer.status_code != 200:
            raise RuntimeError(f"{answer.status_code} {answer.text[:120]}")
        return time.monotonic() - started

    def op_hourly(self, session: requests.Session) -> float:
        return self._weather(session, "/v1/weather/hourly")

    def op_daily(self, session: requests.Session) -> float:
        return self._weather(session, "/v1/weather/daily")

    def op_sql(self, session: requests.Session) -> None:
        from databricks.sdk.service.sql import StatementParameterListItem

        answer = self.sql_client.statement_execution.execute_statement(
            statement=f"SELECT count(*) AS n, avg(temp) AS t FROM {self.settings.hourly_table_name} "
            "WHERE city_id = :city",
            parameters=[
                StatementParameterListItem(
                    name="city", value=str(self.random.randint(1, self.args.cities)), type="INT"
                )
            ],
            warehouse_id="local",
            wait_timeout="30s",
        )
        if answer.status.state.value != "SUCCEEDED":
            raise RuntimeError(f"{answer.status.state.value}: {answer.status.error}")

    def op_sharing(self, session: requests.Session) -> None:
        share = self.sharing
        url = f"{share['endpoint']}/shares/{share['share']}/schemas/weather/tables/hourly/query"
        answer = requests.post(
            url, json={}, headers={"Authorization": f"Bearer {share['token']}"}, timeout=60
        )
        if answer.status_code != 200:
            raise RuntimeError(f"query {answer.status_code} {answer.text[:120]}")
        lines = [json.loads(line) for line in answer.text.splitlines() if line.strip()]
        files = [line["file"]["url"] for line in lines if "file" in line]
        if not files:
            raise RuntimeError("the share listed no files")
        for file_url in files:
            got = session.get(file_url, timeout=60)  # a pre-signed (SAS) URL: no bearer token
            if got.status_code != 200 or not got.content.startswith(b"PAR1"):
                raise RuntimeError(f"file {got.status_code}")

    # pacing ---------------------------------------------------------------------------------------
    def worker(self, kind: str, rate: float) -> None:
        session = requests.Session() if kind == "sharing" else self._session()
        if kind == "sql":
            self.sql_client = self.target.workspace()
        interval = 1.0 / rate
        due = time.monotonic()
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                timed = getattr(self, f"op_{kind}")(session)
                if kind not in ("request", "upload"):
                    self.tally.ok(kind, timed if isinstance(timed, float) else time.monotonic() - started)
            except Exception as error:  # noqa: BLE001 - every failure is counted and shown, never fatal
                self.tally.error(kind, f"{type(error).__name__}: {error}")
            due += interval
            self.stop.wait(max(0.0, due - time.monotonic()))

    def poller(self) -> None:
        """Every 0.25 s: each pending request's status; terminal → its latency (or an error)."""
        while not self.stop.is_set() or self.pending:
            with self.pending_lock:
                pending = list(self.pending.items())
            now = time.monotonic()
            for request_id, (kind, accepted) in pending:
                try:
                    record = self.store.get(request_id)
                except Exception as error:  # noqa: BLE001
                    self.tally.error(kind, f"status read: {error}")
                    continue
                done = record is not None and record.finished
                if done or now - accepted > self.args.terminal_timeout:
                    with self.pending_lock:
                        self.pending.pop(request_id, None)
                    if done and record.status == "succeeded":
                        self.tally.ok(kind, time.monotonic() - accepted)
                    else:
                        reason = record.details.get("reason", record.status) if record else "no status"
                        self.tally.error(kind, f"{request_id}: {reason}")
            if self.stop.is_set() and time.monotonic() > self.stopped_at + self.args.terminal_timeout:
                break
            time.sleep(0.25)


def run(target: Target, args: argparse.Namespace) -> int:
    settings = target.settings()
    sharing = setup_sharing(target, settings.hourly_table_name)
    tally = Tally()
    mix = Mix(target, tally, args, sharing)
    rates = dict((k, float(v)) for k, v in (p.split("=") for p in args.rates.split(",")))
    threads = [
        threading.Thread(target=mix.worker, args=(k, rates[k]), daemon=True) for k in KINDS if rates.get(k)
    ]
    poller = threading.Thread(target=mix.poller, daemon=True)
    for thread in [*threads, poller]:
        thread.start()
    started = time.monotonic()
    rss_first = target.rss()
    print(f"RSS at start (MiB): {rss_first}", flush=True)
    print(HEADER, flush=True)
    try:
        for minute in range(1, args.minutes + 1):
            mix.stop.wait(max(0.0, started + 60 * minute - time.monotonic()))
            samples, errors = tally.take_minute()
            for kind in KINDS:
                if rates.get(kind):
                    print(row(str(minute), kind, samples.get(kind, []), errors.get(kind, 0), 60), flush=True)
            rss = target.rss()
            print(f"{minute:>6} RSS MiB  " + "  ".join(f"{k} {v:.0f}" for k, v in rss.items()), flush=True)
    finally:
        mix.stopped_at = time.monotonic()
        mix.stop.set()
        for thread in threads:
            thread.join(timeout=90)
        poller.join(timeout=args.terminal_timeout + 5)
    elapsed = time.monotonic() - started
    print(f"\ntotal over {elapsed / 60:.1f} min (requests and uploads drained after the last minute)")
    print(HEADER)
    for kind in KINDS:
        if rates.get(kind):
            print(row("all", kind, tally.total.get(kind, []), tally.total_errors.get(kind, 0), elapsed))
    rss_last = target.rss()
    print(
        "RSS MiB start → end: "
        + ", ".join(f"{k} {rss_first.get(k, 0):.0f} → {v:.0f}" for k, v in rss_last.items())
    )
    for kind, what in tally.last_error.items():
        print(f"last {kind} error: {what}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=int(os.environ.get("MINUTES", 5)))
    parser.add_argument("--attach", action="store_true", help="use the stack `make run` started")
    parser.add_argument("--cities", type=int, default=3)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 1, 1))
    parser.add_argument("--rates", default=DEFAULT_RATES, help=f"per second, default {DEFAULT_RATES}")
    parser.add_argument("--terminal-timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)
    print(
        f"soak: {args.minutes} min, rates {args.rates}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        flush=True,
    )
    if args.attach:
        return run(attach(), args)

    from emulators.stack import Stack

    with tempfile.TemporaryDirectory() as folder:
        stack = Stack(
            Path(folder),
            in_memory=True,
            gateway_env={"CLIMATELAKE_GATEWAY_RATE_LIMIT_PER_MINUTE": "100000"},
        )
        try:
            started = time.monotonic()
            stack.start()
            end = args.start + dt.timedelta(days=args.days - 1)
            stack.bootstrap(list(range(1, args.cities + 1)), args.start, end)
            print(f"stack up and loaded in {time.monotonic() - started:.0f} s", flush=True)
            return run(
                Target(stack.env, stack.url("gateway"), stack.api_key, lambda: stack_rss_mb(stack)), args
            )
        finally:
            stack.stop()


if __name__ == "__main__":
    raise SystemExit(main())
