"""Event Grid stand-in throughput: publish ingress through azure-eventgrid and publish-to-webhook latency,
beside a bare HTTP POST to the same webhook in the same run; and the cost of one blob-listing poll.

Three processes, as in the local stack: this one publishes (azure-eventgrid, unchanged), the stand-in runs
as ``python -m emulators.eventgrid`` (delivery one event per request, Azure's default), and the webhook
is a keep-alive HTTP server in its own process that stamps each event's arrival time. Latency is arrival
time minus the moment the publisher (or the bare POST) started sending, on the same clock.

Run: ``.venv/bin/python bench/eventgrid_throughput.py [--events 20000] [--no-azurite]``.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from azure.core.credentials import AzureKeyCredential  # noqa: E402
from azure.eventgrid import EventGridEvent, EventGridPublisherClient  # noqa: E402

from emulators.stack import Stack, free_port, wait_until  # noqa: E402

KEY = base64.b64encode(b"benchmark-topic-key-0123456789ab").decode()


# the webhook, in its own process ---------------------------------------------------------------------------
def serve_webhook(port: int, ready) -> None:
    arrivals: dict[str, float] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            now = time.time()
            events = json.loads(body)
            with lock:
                for event in events if isinstance(events, list) else [events]:
                    arrivals.setdefault(event["id"], now)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                payload = json.dumps(arrivals).encode()
                if self.path == "/reset":
                    arrivals.clear()
                    payload = b"{}"
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    ready.set()
    server.serve_forever(poll_interval=0.05)


class WebhookProcess:
    def __init__(self) -> None:
        self.port = free_port()
        ready = multiprocessing.Event()
        self.process = multiprocessing.Process(target=serve_webhook, args=(self.port, ready), daemon=True)
        self.process.start()
        ready.wait(10)
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def arrivals(self) -> dict[str, float]:
        return requests.get(f"http://127.0.0.1:{self.port}/arrivals", timeout=30).json()

    def reset(self) -> None:
        requests.get(f"http://127.0.0.1:{self.port}/reset", timeout=30)

    def wait_for(self, ids: set[str], timeout: float) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.arrivals()
            if ids <= got.keys() or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


# the stand-in, as its own process ---------------------------------------------------------------------------
class StandInProcess:
    def __init__(self, state: Path, webhook_url: str) -> None:
        self.port = free_port()
        config = {
            "data_dir": str(state / "eventgrid"),
            "time_scale": 1.0,
            "resources": [
                {"type": "Microsoft.EventGrid/topics", "name": "bench", "keys": [KEY]},
                {
                    "type": "Microsoft.EventGrid/topics/eventSubscriptions",
                    "name": "bench/webhook",
                    "properties": {
                        "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": webhook_url}}
                    },
                },
            ],
        }
        path = state / "eventgrid.json"
        path.write_text(json.dumps(config))
        self.log = open(state / "eventgrid.log", "wb")  # noqa: SIM115 - the child writes it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulators.eventgrid", "--port", str(self.port), "--config", str(path)],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until(
            lambda: requests.get(f"{self.url}/local/health", timeout=2).ok, 30, "stand-in", self.process
        )
        self.endpoint = f"{self.url}/api/events"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)
        self.log.close()


# measurements -----------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def lat(values: list[float]) -> str:
    return f"{pct(values, 0.5) * 1000:.1f} / {pct(values, 0.99) * 1000:.1f} ms"


def events(n: int) -> list[EventGridEvent]:
    return [
        EventGridEvent(
            subject=f"/bench/{i}", event_type="Bench.Event", data={"i": i, "pad": "x" * 64}, data_version="1"
        )
        for i in range(n)
    ]


def bare_posts(url: str, n: int) -> tuple[dict[str, float], float]:
    """Sequential single-event POSTs on one keep-alive connection; returns send times by id and the rate."""
    target = url.split("/", 3)
    conn = http.client.HTTPConnection(target[2], timeout=30)
    sent: dict[str, float] = {}
    began = time.perf_counter()
    for i in range(n):
        sent_id = str(uuid.uuid4())
        event = {
            "id": sent_id,
            "subject": f"/bare/{i}",
            "eventType": "Bench.Event",
            "data": {"i": i, "pad": "x" * 64},
        }
        body = json.dumps([{**event, "eventTime": "2026-01-01T00:00:00Z", "dataVersion": "1"}])
        sent[sent_id] = time.time()
        conn.request("POST", "/" + target[3], body=body, headers={"Content-Type": "application/json"})
        conn.getresponse().read()
    rate = n / (time.perf_counter() - began)
    conn.close()
    return sent, rate


def bare_throughput(url: str, n: int, threads: int = 8) -> float:
    """Single-event POSTs from ``threads`` keep-alive connections: what the webhook absorbs per second."""
    per = n // threads
    body = json.dumps([{"id": "x", "subject": "/b", "eventType": "T", "eventTime": "2026-01-01T00:00:00Z"}])

    def worker() -> None:
        host = url.split("/")[2]
        conn = http.client.HTTPConnection(host, timeout=30)
        for _ in range(per):
            conn.request("POST", "/hook", body=body, headers={"Content-Type": "application/json"})
            conn.getresponse().read()
        conn.close()

    began = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return per * threads / (time.perf_counter() - began)


def publish_run(client: EventGridPublisherClient, total: int, batch: int) -> tuple[dict[str, float], float]:
    """Publish ``total`` events in batches as fast as one client can; send times by id, and events/s."""
    sent: dict[str, float] = {}
    all_events = events(total)
    began = time.perf_counter()
    for start in range(0, total, batch):
        chunk = all_events[start : start + batch]
        moment = time.time()
        client.send(chunk)
        for event in chunk:
            sent[str(event.id)] = moment
    return sent, total / (time.perf_counter() - began)


def delivery_report(webhook: WebhookProcess, sent: dict[str, float], timeout: float) -> dict:
    got = webhook.wait_for(set(sent), timeout)
    latencies = [got[i] - t for i, t in sent.items() if i in got]
    first, last = min(sent.values()), max(got[i] for i in sent if i in got)
    return {
        "delivered": sum(1 for i in sent if i in got),
        "latencies": latencies,
        "delivered_per_s": len(latencies) / max(last - first, 1e-9),
        "drain_s": last - max(sent.values()),
    }


def blob_poll_cost() -> list[tuple[int, float]]:
    """Milliseconds per poll of one container holding 0, 100 and 1,000 blobs (median of 20 polls)."""
    from azure.storage.blob import BlobServiceClient

    from emulators.eventgrid.blob_watcher import BlobWatcher
    from emulators.eventgrid.config import load
    from emulators.eventgrid.models import EventGrid
    from emulators.eventgrid.store import GridStore

    results = []
    with tempfile.TemporaryDirectory() as state:
        stack = Stack(Path(state) / "azurite", in_memory=True)
        try:
            stack.start(only=("azurite",))
            service = BlobServiceClient.from_connection_string(stack.connection_string)
            for count in (0, 100, 1000):
                name = f"poll-{count}"
                client = service.create_container(name)
                for i in range(count):
                    client.upload_blob(f"b/{i:05d}.json", b"{}")
                config = load(
                    {
                        "data_dir": str(Path(state) / f"grid-{count}"),
                        "storage_connection_string": stack.connection_string,
                        "resources": [
                            {"type": "Microsoft.EventGrid/systemTopics", "name": "s", "containers": [name]}
                        ],
                    }
                )
                store = GridStore(config.data_dir / "eventgrid.sqlite")
                watcher = BlobWatcher(EventGrid(config, store), config.topics["s"], stack.connection_string)
                watcher.poll()  # the first poll records every blob as seen
                timings = []
                for _ in range(20):
                    began = time.perf_counter()
                    watcher.poll()
                    timings.append(time.perf_counter() - began)
                results.append((count, statistics.median(timings) * 1000))
                store.close()
        finally:
            stack.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000, help="events in the batches-of-100 run")
    parser.add_argument("--singles", type=int, default=2000, help="events in the batch-of-1 run")
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--no-azurite", action="store_true", help="skip the blob poll cost")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    webhook = WebhookProcess()
    with tempfile.TemporaryDirectory() as state:
        standin = StandInProcess(Path(state), webhook.url)
        try:
            client = EventGridPublisherClient(standin.endpoint, AzureKeyCredential(KEY))
            client.send(events(10))  # warm-up: connections, imports
            webhook.wait_for(set(), 1)

            # baseline: bare HTTP POSTs straight to the webhook
            webhook.reset()
            sent, bare_rate = bare_posts(webhook.url, args.latency_samples)
            got = webhook.wait_for(set(sent), 30)
            bare_latency = [got[i] - t for i, t in sent.items()]
            bare_capacity = bare_throughput(webhook.url, 8000)

            # publish → webhook latency, one event per publish, unloaded (about 100 events/s)
            webhook.reset()
            sent = {}
            for event in events(args.latency_samples):
                sent[str(event.id)] = time.time()
                client.send(event)
                time.sleep(0.01)
            single_latency = delivery_report(webhook, sent, 60)

            # ingress, batches of 1 and of 100, with delivery running
            webhook.reset()
            sent, rate_1 = publish_run(client, args.singles, 1)
            report_1 = delivery_report(webhook, sent, 120)
            webhook.reset()
            sent, rate_100 = publish_run(client, args.events, 100)
            report_100 = delivery_report(webhook, sent, 300)
        finally:
            standin.stop()
            webhook.stop()

    row = "  {:<52} {:>16} {:>22}  {}"
    print("\n" + row.format("what", "rate", "latency p50 / p99", "delivery"))
    print(
        row.format(
            "bare POST to the webhook, 1 event, sequential", f"{bare_rate:.0f} req/s", lat(bare_latency), ""
        )
    )
    print(
        row.format("bare POST to the webhook, 1 event, 8 connections", f"{bare_capacity:.0f} req/s", "", "")
    )
    print(
        row.format("publish → webhook, 1 event at a time (~100/s)", "", lat(single_latency["latencies"]), "")
    )
    for label, rate, report, total in (
        ("ingress, azure-eventgrid, batches of 1", rate_1, report_1, args.singles),
        ("ingress, azure-eventgrid, batches of 100", rate_100, report_100, args.events),
    ):
        delivery = (
            f"{report['delivered']}/{total} delivered at {report['delivered_per_s']:.0f} events/s, "
            f"last {report['drain_s']:.2f} s after the last publish"
        )
        print(row.format(label, f"{rate:.0f} events/s", lat(report["latencies"]), delivery))
    if not args.no_azurite and (ROOT / "node_modules" / ".bin" / "azurite").exists():
        print("\nSystem topic: one poll of one container (list + compare), median of 20")
        for count, cost in blob_poll_cost():
            print(f"  {count:5d} blobs  {cost:6.1f} ms")


if __name__ == "__main__":
    main()
