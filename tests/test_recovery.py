"""The recovery timer's pass (functions/recovery.py) on the real local stack: Azurite, Sail, the workspace and
Event Grid stand-ins, but no Functions host — so no event and no webhook reaches the functions, and each
request is exactly as stuck as the test leaves it. The pass runs in the test process, as the host would run
it, configured by the same environment (``Stack.env``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk.errors import NotFound

from climatelake.bundle import job_id_by_name
from climatelake.lake import request_table_name
from climatelake.manifest import new_request_id, parse_manifest
from climatelake.storage import JSON
from emulators.stack import Stack, wait_until
from functions import clients, recovery

pytestmark = pytest.mark.stack
CITY, START, END = 1, dt.date(2024, 3, 1), dt.date(2024, 3, 2)
TERMINAL = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(Path(tmp_path_factory.mktemp("recovery")), in_memory=True)
    try:
        stack.start(only=("azurite", "sail", "workspace", "eventgrid"))
        stack.bootstrap([CITY], START, END)
        yield stack
    finally:
        stack.stop()


@pytest.fixture()
def functions_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The functions' clients configured for this stack (they are built once per process: rebuilt here)."""
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(recovery.GRACE_SETTING, "0")
    caches = [clients.settings, clients.workspace, clients.statuses, clients.blobs, clients.publisher]
    for cached in caches:
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()


def store_manifest(days: int = 2) -> str:
    """A valid manifest in the manifests container, as the gateway writes it; its request id."""
    request_id = new_request_id()
    end = START + dt.timedelta(days=days - 1)
    doc = {
        "manifest_version": 1,
        "request_id": request_id,
        "submitted_by": "recovery-test",
        "city_ids": [CITY],
        "start_date": START.isoformat(),
        "end_date": end.isoformat(),
        "metrics": ["temp"],
    }
    manifest = parse_manifest(json.dumps(doc).encode())
    blob = clients.blobs().get_blob_client(clients.settings().manifests_container, f"{request_id}.json")
    blob.upload_blob(manifest.to_json(), content_settings=JSON)
    return request_id


def wait_run_ended(stack: Stack, run_id: int) -> None:
    w = stack.workspace_client()
    wait_until(
        lambda: w.jobs.get_run(run_id).state.life_cycle_state.value in TERMINAL, 120, f"run {run_id} to end"
    )


def runs_of(stack: Stack, request_id: str) -> list[int]:
    w = stack.workspace_client()
    job_id = job_id_by_name(w, clients.settings().weather_job_name)
    found = []
    for listed in w.jobs.list_runs(job_id=job_id):
        parameters = {p.name: p.value for p in w.jobs.get_run(listed.run_id).job_parameters or []}
        if parameters.get("request_id") == request_id:
            found.append(listed.run_id)
    return found


def test_a_request_never_launched_is_launched_once_and_finished_when_its_webhook_is_lost(
    stack: Stack, functions_env
) -> None:
    store = clients.statuses()
    request_id = store_manifest(days=2)
    store.create(request_id, "manifest_written", submitted_by="recovery-test")

    done = recovery.recover()
    assert "launched from its manifest" in done[request_id]
    record = store.get(request_id)
    assert record.status == "job_started"
    run_id = int(record.details["run_id"])

    wait_run_ended(stack, run_id)  # its webhook goes to a Functions host that is not there: lost
    done = recovery.recover()
    assert "without a completion event" in done[request_id]
    record = store.get(request_id)
    assert record.status == "succeeded", record
    assert record.details["row_count"] == 48 and record.details["delta_version"] == 0
    assert record.details["completion_event"]["type"] == "Climatelake.Request.Succeeded"
    assert runs_of(stack, request_id) == [run_id]
    assert recovery.recover().get(request_id) is None  # finished: never looked at again


def test_a_run_the_workspace_lost_is_started_again_under_the_same_idempotency_token(
    stack: Stack, functions_env
) -> None:
    store = clients.statuses()
    request_id = store_manifest(days=1)
    store.create(request_id, "job_started", submitted_by="recovery-test", run_id=987654321)

    done = recovery.recover()
    assert "started again" in done[request_id], done
    record = store.get(request_id)
    run_id = int(record.details["run_id"])
    assert run_id != 987654321 and record.details["relaunched_from"] == 987654321

    wait_run_ended(stack, run_id)
    recovery.recover()
    assert store.get(request_id).status == "succeeded"
    assert runs_of(stack, request_id) == [run_id]


def test_a_deleted_run_whose_token_is_spent_fails_with_a_reason_and_is_not_run_again(
    stack: Stack, functions_env
) -> None:
    store = clients.statuses()
    request_id = store_manifest(days=1)
    store.create(request_id, "manifest_written", submitted_by="recovery-test")
    recovery.recover()
    run_id = int(store.get(request_id).details["run_id"])
    wait_run_ended(stack, run_id)
    stack.workspace_client().jobs.delete_run(run_id)  # the run is gone, its idempotency token is not

    recovery.recover()
    record = store.get(request_id)
    assert record.status == "failed", record
    assert f"job run {run_id} no longer exists" in record.details["reason"]
    assert runs_of(stack, request_id) == []  # not run a second time
    w = stack.workspace_client()
    # no partial result: its one run succeeded and registered the table, yet the request failed
    with pytest.raises(NotFound):
        w.tables.get(request_table_name(clients.settings(), request_id))


def test_a_request_whose_manifest_was_never_stored_fails_with_a_reason(stack: Stack, functions_env) -> None:
    store = clients.statuses()
    request_id = new_request_id()
    store.create(request_id, "accepted", submitted_by="recovery-test")
    assert recovery.recover()[request_id] == "failed: no manifest"
    record = store.get(request_id)
    assert record.status == "failed" and "never stored" in record.details["reason"]


def test_requests_within_the_grace_period_are_left_alone(
    stack: Stack, functions_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = clients.statuses()
    request_id = new_request_id()
    store.create(request_id, "accepted", submitted_by="recovery-test")
    monkeypatch.setenv(recovery.GRACE_SETTING, "3600")
    assert request_id not in recovery.recover()
    assert store.get(request_id).status == "accepted"
    monkeypatch.setenv(recovery.GRACE_SETTING, "-1")
    with pytest.raises(ValueError, match="must not be negative"):
        recovery.recover()
