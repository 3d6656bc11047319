"""``recover_requests``: a timer that finishes requests the event chain dropped (none stays pending forever).

The pipeline is push-only (Event Grid → function → run-now; the job's webhook → function). Each hop retries,
but a hop can still be lost for good: the workspace ended a run without notifying anyone (it restarted
mid-run), the function app was down for longer than the workspace's webhook retries, Event Grid gave up on
a manifest event. Every ``CLIMATELAKE_RECOVERY_SCHEDULE`` (NCRONTAB, an app setting) this function looks at
each request that is not finished and has not moved for ``CLIMATELAKE_RECOVERY_GRACE_SECONDS`` (default
900: longer than Event Grid's and the webhook's early retries, so it never races a delivery still on its
way; racing one is harmless anyway, as every status write is ETag-conditional and never moves backwards):

- ``job_started``, run still active (pending, queued, running) → left alone: it is merely slow or queued.
- ``job_started``, run ended (TERMINATED, SKIPPED, INTERNAL_ERROR) but no completion arrived → finished as
  the webhook would have (``job_events.handle_job_event``): succeeded with the result table's version and
  row count, or failed with the run's own reason. A lost run is never re-run: it may have written part of
  its result, and one run per request is the guarantee (a failed request can be submitted again).
- ``job_started``, run unknown to the workspace (``ResourceDoesNotExist``: the workspace lost it) → started
  again with run-now under the same idempotency token (the request id). A workspace that still knows the
  token answers with the run it has, so this cannot run a request twice; if it answers with the vanished
  run, or refuses the token, the request fails with that reason.
- ``accepted`` / ``manifest_written`` (never launched): the manifest is in storage → handled as its
  BlobCreated event would be (idempotent for the same reason); no manifest → failed ("never stored").

Whenever it fails a request, a result table the lost run may have registered is unregistered first: only a
succeeded request has one (``job_events.drop_partial_result``).

Assumptions: a request's status record exists (a manifest uploaded straight to storage whose event never
arrived has none; Event Grid's dead-letter container is where it is found); one timer instance runs at a
time (Azure's timer trigger holds a singleton lock across instances).
"""

from __future__ import annotations

import datetime as dt
import logging
import os

import azure.functions as func
from azure.core.exceptions import ResourceNotFoundError
from databricks.sdk.errors import (
    BadRequest,
    NotFound,
    ResourceAlreadyExists,
    ResourceConflict,
    ResourceDoesNotExist,
)

from climatelake.lake import request_table_name
from climatelake.manifest import ManifestError, parse_manifest
from climatelake.status import RequestStatus
from functions import clients
from functions.completion import finish
from functions.job_events import drop_partial_result, handle_job_event
from functions.manifest_created import handle_manifest_created, launch

bp = func.Blueprint()
log = logging.getLogger("functions.recovery")
GRACE_SETTING = "CLIMATELAKE_RECOVERY_GRACE_SECONDS"
DEFAULT_GRACE_SECONDS = 900.0
#: Jobs 2.2 life cycle states of a run that may still finish (and notify) by itself
ACTIVE_RUN_STATES = {"PENDING", "QUEUED", "RUNNING", "TERMINATING", "BLOCKED", "WAITING_FOR_RETRY"}
#: run-now errors that will not change by asking again (a refused or spent idempotency token)
PERMANENT_RUN_NOW_ERRORS = (BadRequest, ResourceConflict, ResourceAlreadyExists, NotFound)


@bp.function_name("recover_requests")
@bp.timer_trigger(
    schedule="%CLIMATELAKE_RECOVERY_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=False
)
def recover_requests(timer: func.TimerRequest) -> None:
    done = recover()
    for request_id, action in done.items():
        log.warning("recovered request %s: %s", request_id, action)
    if timer.past_due:
        log.info("the recovery timer ran late")


def grace_period() -> dt.timedelta:
    """``CLIMATELAKE_RECOVERY_GRACE_SECONDS`` (a number of seconds ≥ 0), else 900 s."""
    text = os.environ.get(GRACE_SETTING, "").strip()
    seconds = float(text) if text else DEFAULT_GRACE_SECONDS
    if seconds < 0:
        raise ValueError(f"{GRACE_SETTING} must not be negative, not {text}")
    return dt.timedelta(seconds=seconds)


def recover(now: dt.datetime | None = None) -> dict[str, str]:
    """One recovery pass; returns request id → what was done (requests left alone are not listed)."""
    now = now or dt.datetime.now(dt.UTC)
    grace = grace_period()
    done: dict[str, str] = {}
    for record in clients.statuses().unfinished():
        changed = record.changed_at
        if changed is not None and now - changed < grace:
            continue
        try:
            action = recover_one(record)
        except Exception:  # one request's trouble (e.g. the workspace is down) must not stop the others
            log.exception("recovering request %s failed; the next pass tries again", record.request_id)
            continue
        if action:
            done[record.request_id] = action
    return done


def recover_one(record: RequestStatus) -> str | None:
    run_id = record.details.get("run_id")
    if record.status == "job_started" and run_id is not None:
        return _recover_started(record, int(run_id))
    return _recover_unlaunched(record)


def _recover_started(record: RequestStatus, run_id: int) -> str | None:
    try:
        run = clients.workspace().jobs.get_run(run_id)
    except ResourceDoesNotExist:
        return _relaunch(record, run_id)
    state = run.state.life_cycle_state.value if run.state and run.state.life_cycle_state else "UNKNOWN"
    if state in ACTIVE_RUN_STATES:
        return None
    success = bool(run.state and run.state.result_state and run.state.result_state.value == "SUCCESS")
    handle_job_event("jobs.on_success" if success else "jobs.on_failure", run_id)
    return f"run {run_id} ended {state} without a completion event: finished from the run"


def _relaunch(record: RequestStatus, run_id: int) -> str:
    request_id = record.request_id
    manifest = _manifest(record)
    if manifest is None:
        fail(request_id, f"job run {run_id} no longer exists and the manifest is gone")
        return "failed: run and manifest gone"
    try:
        new_run_id, job_id = launch(manifest)
    except PERMANENT_RUN_NOW_ERRORS as error:
        reason = f"job run {run_id} no longer exists and run-now refused to start it again: {error}"
        fail(request_id, reason)
        return "failed: run gone, run-now refused"
    if new_run_id == run_id:
        reason = (
            f"job run {run_id} no longer exists in the workspace, which still holds its idempotency token: "
            "it cannot run again without risking a second run; submit the request again"
        )
        fail(request_id, reason)
        return "failed: run gone, token spent"
    clients.statuses().add_details(request_id, run_id=new_run_id, job_id=job_id, relaunched_from=run_id)
    return f"run {run_id} vanished: started again as run {new_run_id} under the same idempotency token"


def fail(request_id: str, reason: str) -> None:
    """Fail a request; a result table its lost run may have registered goes (only succeeded ones have one)."""
    drop_partial_result(clients.workspace(), request_table_name(clients.settings(), request_id))
    finish(request_id, "failed", reason=reason)


def _manifest_location(record: RequestStatus) -> tuple[str, str]:
    stored = str(record.details.get("manifest_blob") or "")
    container, _, name = stored.partition("/")
    if not name:
        container, name = clients.settings().manifests_container, f"{record.request_id}.json"
    return container, name


def _manifest(record: RequestStatus):
    container, name = _manifest_location(record)
    try:
        data = clients.blobs().get_blob_client(container, name).download_blob().readall()
    except ResourceNotFoundError:
        return None
    try:
        return parse_manifest(data, name)
    except ManifestError:
        return None


def _recover_unlaunched(record: RequestStatus) -> str:
    container, name = _manifest_location(record)
    try:
        clients.blobs().get_blob_client(container, name).get_blob_properties()
    except ResourceNotFoundError:
        reason = (
            "the request's manifest was never stored (the gateway stopped before writing it); "
            "submit the request again"
        )
        fail(record.request_id, reason)
        return "failed: no manifest"
    handle_manifest_created(f"/blobServices/default/containers/{container}/blobs/{name}")
    return f"was {record.status} without a run: launched from its manifest"
