"""R2 kill: SIGKILL the Functions host, then the workspace, then Sail, each while requests are in flight.

For each part: ``REQUESTS`` gateway requests are accepted (202), the part is killed (SIGKILL to its process
group, as a crash) once runs are going, and started again on its port. Then every accepted request must
reach a terminal state — succeeded, or failed with a reason — none lost, none run twice (at most one job
run per request in the workspace, and a succeeded request's result table at Delta version 0: a second run
would have overwritten it as version 1), and no partial result visible (a results table exists only for a
succeeded request, with exactly the rows asked for).

Waits are on events (completion events at the subscriber, run states) with timeouts; the recovery timer
(``functions/recovery.py``) runs every few seconds here so a request whose run was lost is finished within
the test's bounds.

Two more tests show the recovery timer itself under the real host: a request no event will ever finish
(recorded, manifest never stored) is failed with a reason, and a completion lost while the host was down
longer than the workspace's webhook retries is recovered from the run.

What it found (2026-12-06): after the workspace's kill, requests stayed in ``job_started`` for good — on an
in-memory stack all 20 (``Stack.restart`` started the workspace on a wiped folder: jobs, runs, tables gone),
with the state kept the one whose run was RUNNING (ended INTERNAL_ERROR at restart, no notification, nothing
looking). The Functions host and Sail kills passed on that code (the workspace's webhook retries outlast a
host restart; a run Sail's kill broke fails with the engine's error)."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from databricks.sdk.errors import NotFound

from climatelake.bundle import job_id_by_name
from climatelake.lake import request_table_name
from climatelake.manifest import new_request_id
from climatelake.status import RequestStatusStore
from emulators.common.event_sink import EventSink
from emulators.stack import Stack, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.reliability]
REQUESTS = 20
CITY, START, END = 1, dt.date(2024, 3, 1), dt.date(2024, 3, 4)
TERMINAL_TIMEOUT = 150.0


@pytest.fixture(scope="module")
def kill_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, EventSink]]:
    sink = EventSink()
    stack = Stack(
        Path(tmp_path_factory.mktemp("r2")),
        in_memory=True,
        subscribers=[sink.url],
        # recovery every 2 s for requests unmoved for 5 s (production: minutes; README, Configuration)
        functions_env={
            "CLIMATELAKE_RECOVERY_SCHEDULE": "*/2 * * * * *",
            "CLIMATELAKE_RECOVERY_GRACE_SECONDS": "5",
        },
    )
    try:
        stack.start()
        stack.bootstrap([CITY], START, END)
        yield stack, sink
    finally:
        stack.stop()
        sink.close()


def submit(stack: Stack, count: int) -> list[tuple[str, int]]:
    """``count`` accepted requests: (request id, the rows its result must have: one a day-hour)."""
    gateway = requests.Session()
    gateway.headers["Authorization"] = f"Bearer {stack.api_key}"
    accepted = []
    for i in range(count):
        days = 1 + i % 3
        end = START + dt.timedelta(days=days - 1)
        body = {
            "city_ids": [CITY],
            "start_date": START.isoformat(),
            "end_date": end.isoformat(),
            "metrics": ["temp"],
        }
        answer = gateway.post(f"{stack.url('gateway')}/v1/requests", json=body, timeout=30)
        assert answer.status_code == 202, answer.text
        accepted.append((answer.json()["request_id"], 24 * days))
    return accepted


def status_of(stack: Stack, request_id: str) -> dict:
    answer = requests.get(
        f"{stack.url('gateway')}/v1/requests/{request_id}",
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_for_a_running_run(stack: Stack, timeout: float = 60) -> None:
    """Until the request job has a run RUNNING (so a kill lands on work in flight)."""
    w = stack.workspace_client()
    job_id = job_id_by_name(w, "climatelake_weather_request")

    def running() -> bool:
        return any(
            r.state and r.state.life_cycle_state and r.state.life_cycle_state.value == "RUNNING"
            for r in w.jobs.list_runs(job_id=job_id, active_only=True)
        )

    wait_until(running, timeout, "a running request job run")


def wait_terminal(stack: Stack, sink: EventSink, ids: list[str]) -> dict[str, dict]:
    """Every request's completion event arrives (one shared deadline), then its stored status."""
    deadline = time.monotonic() + TERMINAL_TIMEOUT
    late = []
    for request_id in ids:
        try:
            sink.wait_for(
                lambda e, r=request_id: e.get("data", {}).get("request_id") == r,
                max(0.1, deadline - time.monotonic()),
            )
        except TimeoutError:
            late.append(request_id)
    statuses = {r: status_of(stack, r) for r in ids}
    assert not late, {r: statuses[r]["status"] for r in late}
    return statuses


def runs_per_request(stack: Stack) -> Counter:
    w = stack.workspace_client()
    job_id = job_id_by_name(w, "climatelake_weather_request")
    counts: Counter = Counter()
    for listed in w.jobs.list_runs(job_id=job_id):
        run = w.jobs.get_run(listed.run_id)
        parameters = {p.name: p.value for p in run.job_parameters or []}
        counts[parameters.get("request_id")] += 1
    return counts


def check_outcomes(stack: Stack, accepted: list[tuple[str, int]], statuses: dict[str, dict]) -> None:
    w = stack.workspace_client()
    settings = stack.settings()
    runs = runs_per_request(stack)
    twice = {r: n for r, n in runs.items() if n > 1 and r in statuses}
    assert not twice, f"requests run more than once: {twice}"
    for request_id, rows in accepted:
        status = statuses[request_id]
        assert status["status"] in ("succeeded", "failed"), status
        table = request_table_name(settings, request_id)
        if status["status"] == "failed":
            assert status.get("reason"), status
            with pytest.raises(NotFound):
                w.tables.get(table)  # no partial result visible
            continue
        assert status["delta_version"] == 0, status  # written once
        assert status["row_count"] == rows, status
        answer = requests.get(
            f"{stack.url('gateway')}/v1/requests/{request_id}/results",
            headers={"Authorization": f"Bearer {stack.api_key}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["rows"]) == rows


@pytest.mark.parametrize("part", ["functions", "workspace", "sail"])
def test_every_request_finishes_once_after_a_part_is_killed(kill_stack, part: str) -> None:
    stack, sink = kill_stack
    accepted = submit(stack, REQUESTS)
    wait_for_a_running_run(stack)
    stack.kill(part)
    stack.restart(part)
    statuses = wait_terminal(stack, sink, [r for r, _ in accepted])
    check_outcomes(stack, accepted, statuses)
    counts = Counter(s["status"] for s in statuses.values())
    reasons = [s["reason"][:160] for s in statuses.values() if s["status"] == "failed"]
    print(f"{part}: {dict(counts)} {reasons}")


def test_the_host_runs_the_recovery_timer_for_a_request_no_event_will_finish(kill_stack) -> None:
    """A request the gateway recorded but whose manifest never reached storage (it died in between): no
    event will ever come for it. The Functions host's timer (``recover_requests``) fails it with a reason."""
    stack, sink = kill_stack
    settings = stack.settings()
    store = RequestStatusStore(settings.storage_connection_string, settings.requests_table)
    request_id = new_request_id()
    store.create(request_id, "accepted", submitted_by="r2-test")
    event = sink.wait_for(lambda e: e.get("data", {}).get("request_id") == request_id, 60)
    assert event["eventType"] == "Climatelake.Request.Failed"
    assert "never stored" in event["data"]["reason"]
    assert status_of(stack, request_id)["status"] == "failed"


def test_a_completion_lost_while_the_host_was_down_is_recovered_by_the_timer(kill_stack) -> None:
    """The Functions host killed and kept down until the workspace has given up on the run's webhook (five
    attempts): after its restart, the recovery timer finishes the request from the run, once."""
    stack, sink = kill_stack
    (request_id, rows), = submit(stack, 1)
    wait_until(lambda: status_of(stack, request_id)["status"] == "job_started", 60, "the request launched")
    run_id = int(status_of(stack, request_id)["run_id"])
    log_path = stack.state_dir / "logs" / "workspace.log"
    given_up_before = log_path.read_text(errors="replace").count("(attempt 5)")
    stack.kill("functions")
    w = stack.workspace_client()
    wait_until(lambda: w.jobs.get_run(run_id).state.life_cycle_state.value == "TERMINATED", 60, "run end")
    wait_until(
        lambda: log_path.read_text(errors="replace").count("(attempt 5)") > given_up_before,
        60,
        "the workspace giving up on the webhook",
    )
    stack.restart("functions")
    event = sink.wait_for(lambda e: e.get("data", {}).get("request_id") == request_id, 60)
    assert event["eventType"] == "Climatelake.Request.Succeeded", event
    status = status_of(stack, request_id)
    assert status["status"] == "succeeded" and status["row_count"] == rows and status["delta_version"] == 0
    assert runs_per_request(stack)[request_id] == 1
