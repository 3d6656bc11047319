"""R7 storage restart: Azurite stopped and started again while requests and a weather ingest run.

Azurite runs on disk (``in_memory=False``) and is ended by a signal to its process group, then started on
the same ports with the same ``--location``. SIGTERM, not SIGKILL: Azurite writes its LokiJS metadata to
disk only every 5 s and on SIGTERM, so a SIGKILL loses blobs and entities it had acknowledged (measured:
5 of 5 blobs uploaded just before a SIGKILL were gone after the restart, 0 of 5 with SIGTERM). Azure
Storage acknowledges a write only once it is durable ("Azure Storage redundancy": LRS writes synchronously
to three replicas before success is returned), so a SIGKILL would test Azurite's durability, not ours.

While storage is down and comes back, on the real local stack:
- requests keep coming through the gateway (one background client, one request after another); every
  answer is 202, or 503 ``application/problem+json`` with ``Retry-After`` (never a stack trace or a 500),
  within a bounded time, and a 202 only for a request whose manifest is in storage;
- a weather ingest run (new raw files) is in flight; it ends, and its city is readable afterwards;
- every accepted request (≥ 20) reaches a terminal state — succeeded, or failed with a reason — exactly
  once: one terminal status, one completion event, at most one job run;
- the Event Grid stand-in's storage system topic delivers exactly one ``BlobCreated`` per manifest blob to
  a subscriber (made through the ARM API like any other) and no ``BlobDeleted``: its listing-based watcher
  neither misses the blobs written around the restart nor repeats the ones it had seen.

Waits are on events (completion events, BlobCreated at the subscriber, run states) with timeouts. The
recovery timer keeps its production grace (15 minutes): nothing here may depend on it.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from databricks.sdk.service.sql import StatementParameterListItem, StatementState

from climatelake.bootstrap import run_job, upload_sample_weather
from climatelake.bundle import job_id_by_name
from climatelake.keys import ApiKeyStore
from climatelake.storage import blob_service
from emulators.common.event_sink import EventSink
from emulators.stack import Stack, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.reliability]
CITY, INGEST_CITY = 1, 2
START, END = dt.date(2024, 3, 1), dt.date(2024, 3, 3)
HOURS = 24 * 3  # hourly rows a city has in silver for START..END
BEFORE, AFTER = 14, 8  # requests accepted before the stop, and after the restart (≥ 20 in all)
TERMINAL_TIMEOUT = 240.0
#: how long a gateway answer may take while storage is down (its storage clients retry for a few seconds)
DOWN_ANSWER_SECONDS = 20.0
ARM = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
    "Microsoft.EventGrid/systemTopics/storage/eventSubscriptions/r7-blobs"
)
BLOB_CREATED, BLOB_DELETED = "Microsoft.Storage.BlobCreated", "Microsoft.Storage.BlobDeleted"
MANIFESTS = "/blobServices/default/containers/manifests/blobs/"


@dataclass
class Answer:
    """One gateway answer the background client got, and whether storage was up when it was sent."""

    status: int
    content_type: str
    retry_after: str | None
    body: Any
    seconds: float
    storage: str  # "up", "down" or "restarting"


@pytest.fixture(scope="module")
def disk_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, EventSink, EventSink]]:
    sink, blob_sink = EventSink(), EventSink()
    stack = Stack(Path(tmp_path_factory.mktemp("r7")), in_memory=False, subscribers=[sink.url])
    try:
        stack.start()
        stack.bootstrap([CITY], START, END)
        answer = requests.put(
            f"{stack.url('eventgrid')}{ARM}",
            params={"api-version": "2025-02-15"},
            json={
                "properties": {
                    "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": blob_sink.url}},
                    "filter": {
                        "includedEventTypes": [BLOB_CREATED, BLOB_DELETED],
                        "subjectBeginsWith": MANIFESTS,
                    },
                    "eventDeliverySchema": "EventGridSchema",
                }
            },
            timeout=30,
        )
        assert answer.status_code in (200, 201), answer.text
        yield stack, sink, blob_sink
    finally:
        stack.stop()
        sink.close()
        blob_sink.close()


def request_body(i: int) -> dict[str, Any]:
    end = START + dt.timedelta(days=i % 3)
    return {
        "city_ids": [CITY],
        "start_date": START.isoformat(),
        "end_date": end.isoformat(),
        "metrics": ["temp"],
    }


def post_request(gateway: requests.Session, url: str, i: int, storage: str) -> Answer:
    began = time.monotonic()
    answer = gateway.post(f"{url}/v1/requests", json=request_body(i), timeout=120)
    try:
        body: Any = answer.json()
    except ValueError:
        body = answer.text[:500]
    return Answer(
        answer.status_code,
        answer.headers.get("Content-Type", ""),
        answer.headers.get("Retry-After"),
        body,
        time.monotonic() - began,
        storage,
    )


class Submitter(threading.Thread):
    """A client sending one request after another (a short pause between) until ``AFTER`` requests were
    accepted after the restart, or ``limit`` were sent."""

    def __init__(self, stack: Stack, api_key: str, limit: int = 400) -> None:
        super().__init__(name="r7-submitter", daemon=True)
        self.stack, self.limit = stack, limit
        self.gateway = requests.Session()
        self.gateway.headers["Authorization"] = f"Bearer {api_key}"
        self.storage = "up"
        self.answers: list[Answer] = []
        self.error: BaseException | None = None
        self._done = threading.Event()

    def run(self) -> None:
        try:
            for i in range(self.limit):
                answer = post_request(self.gateway, self.stack.url("gateway"), i, self.storage)
                self.answers.append(answer)
                after = [a for a in self.answers if a.storage == "up again" and a.status == 202]
                if len(after) >= AFTER or self._done.wait(0.2):  # a client's pace, not a synchronisation
                    return
        except BaseException as error:  # reported by the test
            self.error = error

    def stop(self) -> None:
        self._done.set()


def is_clear_unavailable(answer: Answer) -> bool:
    return (
        answer.status == 503
        and answer.content_type.startswith("application/problem+json")
        and answer.retry_after is not None
        and answer.retry_after.isdigit()
        and isinstance(answer.body, dict)
        and answer.body.get("status") == 503
    )


def job_runs(stack: Stack, name: str) -> list:
    w = stack.workspace_client()
    return [w.jobs.get_run(r.run_id) for r in w.jobs.list_runs(job_id=job_id_by_name(w, name))]


def life_cycle(run) -> str:
    return run.state.life_cycle_state.value if run.state and run.state.life_cycle_state else ""


def check_answers_while_down(stack: Stack, api_key: str, unseen_key: str, request_id: str) -> list[Answer]:
    """Storage down: a submission, a status read (cached key) and a submission with a valid key the gateway
    has not seen yet (it cannot verify it: not a 401) are each a clear 503, soon."""
    gateway = requests.Session()
    gateway.headers["Authorization"] = f"Bearer {api_key}"
    url = stack.url("gateway")
    answers = [post_request(gateway, url, 0, "down")]
    began = time.monotonic()
    read = gateway.get(f"{url}/v1/requests/{request_id}", timeout=120)
    answers.append(
        Answer(
            read.status_code,
            read.headers.get("Content-Type", ""),
            read.headers.get("Retry-After"),
            read.json() if read.headers.get("Content-Type", "").endswith("json") else read.text[:500],
            time.monotonic() - began,
            "down",
        )
    )
    stranger = requests.Session()
    stranger.headers["Authorization"] = f"Bearer {unseen_key}"
    answers.append(post_request(stranger, url, 0, "down"))
    return answers


def test_no_accepted_request_or_blob_event_is_lost_or_repeated_across_a_storage_restart(disk_stack) -> None:
    stack, sink, blob_sink = disk_stack
    settings = stack.settings()
    api_key = stack.api_key  # a restart of Azurite makes a new admin key; this one stays valid
    unseen_key, _ = ApiKeyStore(stack.connection_string).create("submitter", "r7: first used while down")
    timings: dict[str, float] = {}

    # the ingest: new raw files for another city, and its run started (not awaited)
    upload_sample_weather(settings, [INGEST_CITY], START, END)
    w = stack.workspace_client()
    ingest_began = time.monotonic()
    ingest_run_id = w.jobs.run_now(job_id_by_name(w, settings.ingest_job_name)).run_id

    gateway = requests.Session()
    gateway.headers["Authorization"] = f"Bearer {api_key}"
    before = [post_request(gateway, stack.url("gateway"), i, "up") for i in range(BEFORE)]
    assert all(a.status == 202 for a in before), [a.body for a in before if a.status != 202]
    wait_until(lambda: life_cycle(w.jobs.get_run(ingest_run_id)) == "RUNNING", 60, "the ingest running")

    submitter = Submitter(stack, api_key)
    submitter.start()
    wait_until(lambda: len(submitter.answers) >= 2, 60, "the background client going")
    began = time.monotonic()
    submitter.storage = "down"
    stack.kill("azurite", signal.SIGTERM)
    timings["stop"] = time.monotonic() - began
    down = check_answers_while_down(stack, api_key, unseen_key, before[0].body["request_id"])
    began = time.monotonic()
    submitter.storage = "restarting"
    stack.restart("azurite")
    submitter.storage = "up again"
    timings["restart"] = time.monotonic() - began
    timings["down"] = timings["stop"] + sum(a.seconds for a in down) + timings["restart"]
    submitter.join(timeout=180)
    submitter.stop()
    assert not submitter.is_alive() and submitter.error is None, submitter.error

    print("while down:", *down, sep="\n  ")
    print("background:", *[(a.storage, a.status, round(a.seconds, 1)) for a in submitter.answers])
    # while down: clear 503s, soon; in the background, only 202 or a clear 503 ever. Checked at the end,
    # so that one run shows every way the stack got it wrong.
    problems = [f"while down: {a}" for a in down if not is_clear_unavailable(a)]
    problems += [f"slow while down: {a}" for a in down if a.seconds >= DOWN_ANSWER_SECONDS]
    unclear = Counter(a.status for a in submitter.answers if a.status != 202 and not is_clear_unavailable(a))
    if unclear:
        problems.append(f"background answers neither 202 nor a clear 503: {dict(unclear)}")
    answers = before + submitter.answers
    accepted = [a.body["request_id"] for a in answers if a.status == 202]
    assert len(accepted) >= BEFORE + AFTER

    # a 202 only for what is stored: every accepted request's manifest is in storage after the restart
    manifests = {b.name for b in blob_service(settings).get_container_client("manifests").list_blobs()}
    assert not [r for r in accepted if f"{r}.json" not in manifests]

    # every accepted request terminal, once
    began = time.monotonic()
    deadline = began + TERMINAL_TIMEOUT
    late = []
    for request_id in accepted:
        try:
            sink.wait_for(
                lambda e, r=request_id: e.get("data", {}).get("request_id") == r,
                max(0.1, deadline - time.monotonic()),
            )
        except TimeoutError:
            late.append(request_id)
    timings["terminal"] = time.monotonic() - began
    statuses = {r: status_of(stack, api_key, r) for r in accepted}
    assert not late, {r: statuses[r]["status"] for r in late}
    for status in statuses.values():
        assert status["status"] in ("succeeded", "failed"), status
        assert status["status"] == "succeeded" or status.get("reason"), status
        terminal_entries = [t for t in status["timeline"] if t["status"] in ("succeeded", "failed")]
        assert len(terminal_entries) == 1, status
    # one completion event per request: a retry may deliver it again (at-least-once), with the same id
    completion_ids: dict[str, set[str]] = {}
    for e in sink.events:
        if e.get("data", {}).get("request_id"):
            completion_ids.setdefault(e["data"]["request_id"], set()).add(e["id"])
    assert {r: completion_ids.get(r) for r in accepted if len(completion_ids.get(r, ())) != 1} == {}
    runs = Counter(
        {p.name: p.value for p in run.job_parameters or []}.get("request_id")
        for run in job_runs(stack, settings.weather_job_name)
    )
    assert {r: runs[r] for r in accepted if runs[r] > 1} == {}

    # exactly one BlobCreated per manifest blob at the subscriber, no BlobDeleted
    for name in sorted(manifests):
        blob_sink.wait_for(
            lambda e, s=MANIFESTS + name: e["subject"] == s, max(0.1, deadline - time.monotonic())
        )
    created = Counter(e["subject"] for e in blob_sink.events if e["eventType"] == BLOB_CREATED)
    assert {s: n for s, n in created.items() if n != 1} == {}
    assert set(created) == {MANIFESTS + n for n in manifests}
    assert not [e for e in blob_sink.events if e["eventType"] == BLOB_DELETED]

    # The ingest ended, and did not hang. Sail's object store gives up after 10 quick retries (≈ 5 s), so
    # an ingest reading while storage is down fails with the engine's error, as a Databricks task does on
    # a storage outage (no task retries configured). Then a second run finishes it, and each city's hours
    # are in silver exactly once: no partial commit, nothing ingested twice.
    ingest = w.jobs.wait_get_run_job_terminated_or_skipped(ingest_run_id, timeout=dt.timedelta(seconds=180))
    result = ingest.state.result_state.value if ingest.state and ingest.state.result_state else "none"
    assert result == "SUCCESS" or (ingest.state and ingest.state.state_message), ingest.state
    if result != "SUCCESS":
        run_job(w, settings.ingest_job_name, timeout=dt.timedelta(seconds=180))
    hours = {city: silver_hours(stack, city) for city in (CITY, INGEST_CITY)}
    assert hours == {CITY: HOURS, INGEST_CITY: HOURS}, hours
    timings["ingest"] = time.monotonic() - ingest_began
    print(f"R7 ingest: first run {result}: {(ingest.state.state_message or '')[:300]}")

    assert not problems, problems
    outcomes = Counter(s["status"] for s in statuses.values())
    unavailable = sum(1 for a in submitter.answers if a.status == 503)
    print(
        f"R7: {len(accepted)} accepted, {dict(outcomes)}, {unavailable} background 503s, "
        f"{len(manifests)} manifests; " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    )


def status_of(stack: Stack, api_key: str, request_id: str) -> dict:
    answer = requests.get(
        f"{stack.url('gateway')}/v1/requests/{request_id}",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def silver_hours(stack: Stack, city: int) -> int:
    """Rows of ``city`` in silver.weather_hourly, through SQL statements (databricks-sdk)."""
    answer = stack.workspace_client().statement_execution.execute_statement(
        statement="SELECT count(*) AS n FROM weather_hourly WHERE city_id = :city",
        parameters=[StatementParameterListItem(name="city", value=str(city), type="INT")],
        warehouse_id="local",
        catalog="climatelake",
        schema="silver",
        wait_timeout="30s",
    )
    assert answer.status.state == StatementState.SUCCEEDED, answer.status.error
    return int(answer.result.data_array[0][0])
