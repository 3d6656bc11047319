"""``job_events``: the Databricks job's webhook notification (on_success / on_failure) lands here.

Databricks calls a notification destination with ``{"event_type": "jobs.on_success", "run": {"run_id"},
"job": {"job_id", "name"}}``. The function reads the run (its parameters carry the request id), and for a
success reads the result table's Delta version and row count through Unity Catalog; then it finishes the
request (status + ``Climatelake.Request.Succeeded`` / ``.Failed``). No polling anywhere.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor

import azure.functions as func
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.jobs import Run

from climatelake import table_docs
from climatelake.lake import request_table_name, table_snapshot
from functions import clients
from functions.completion import finish

bp = func.Blueprint()
log = logging.getLogger("functions.job_events")


@bp.function_name("job_events")
@bp.route(route="job-events", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def job_events(req: func.HttpRequest) -> func.HttpResponse:
    try:
        payload = req.get_json()
        run_id = int(payload["run"]["run_id"])
        event_type = str(payload["event_type"])
    except (ValueError, KeyError, TypeError):
        return func.HttpResponse(
            json.dumps({"error": "expected a Databricks job notification"}),
            status_code=400,
            mimetype="application/json",
        )
    handle_job_event(event_type, run_id)
    return func.HttpResponse(status_code=204)


def handle_job_event(event_type: str, run_id: int) -> None:
    if event_type not in ("jobs.on_success", "jobs.on_failure"):
        return
    settings = clients.settings()
    w = clients.workspace()
    run = w.jobs.get_run(run_id)
    parameters = {p.name: p.value for p in run.job_parameters or []}
    request_id = parameters.get("request_id")
    if not request_id:
        log.info("run %s carries no request_id; not a climatelake request", run_id)
        return
    # a run the workspace could not finish (INTERNAL_ERROR) has no result_state: name its life cycle state
    result = _outcome(run)
    timings = {"run_id": run_id, "job_started_at_ms": run.start_time, "job_ended_at_ms": run.end_time}
    if result == "SUCCESS":
        name = request_table_name(settings, request_id)
        # The comments and the snapshot are independent calls (SQL statements, the Delta log): made side
        # by side, the request is reported after the slower of the two, not after both (issue 18, target 4).
        with ThreadPoolExecutor(max_workers=1) as pool:
            documented = pool.submit(document, w, settings.sql_warehouse_id, name)
            snapshot = table_snapshot(w, settings, name)
            documented.result()
        finish(
            request_id,
            "succeeded",
            result_table=snapshot.full_name,
            delta_version=snapshot.version,
            row_count=snapshot.row_count,
            **timings,
        )
    else:
        message = (run.state.state_message if run.state else "") or f"job run ended {result}"
        drop_partial_result(w, request_table_name(settings, request_id))
        finish(request_id, "failed", reason=f"job run {run_id} {result}: {message}", **timings)


def document(w: WorkspaceClient, warehouse_id: str, full_name: str) -> None:
    """Set the result table's documented comments before the request is reported succeeded
    (climatelake.table_docs: the request job's Spark session cannot). A failure is logged, not raised: the
    rows are there and correct, and a request must not fail for its table's description."""
    try:
        table_docs.document_table(w, warehouse_id, full_name)
    except Exception:
        log.exception("could not set the comments of %s", full_name)


def _outcome(run: Run) -> str:
    state = run.state
    if state and state.result_state:
        return state.result_state.value
    if state and state.life_cycle_state:
        return state.life_cycle_state.value
    return "UNKNOWN"


def drop_partial_result(w: WorkspaceClient, full_name: str) -> None:
    """A failed run may have registered its result table before it died (it writes the table, then the
    export files): unregister it, so a results table exists only for a succeeded request. Its Delta files
    stay where they are (an EXTERNAL table's data is not deleted with it), overwritten by any later run."""
    try:
        w.tables.delete(full_name)
        log.warning("dropped %s: its run failed after registering it", full_name)
    except NotFound:
        pass
