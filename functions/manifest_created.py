"""``on_manifest_created``: a BlobCreated event for a manifest starts one job run per request.

Valid manifest → status ``job_started`` and ``jobs.run_now(…, idempotency_token=request_id)``, so however
often Event Grid delivers the event, the request runs once. Invalid manifest → copied to the rejected
container with the reason, status ``failed``, and a ``Climatelake.Request.Failed`` event. A transient error
(storage or workspace unreachable) raises, the host answers 500, and Event Grid retries.
"""

from __future__ import annotations

import json
import logging

import azure.functions as func

from climatelake.manifest import (
    REQUEST_ID_PATTERN,
    Manifest,
    ManifestError,
    parse_manifest,
    request_id_from_blob_name,
)
from climatelake.storage import JSON
from functions import clients
from functions.completion import finish
from functions.job_runs import with_job_id

bp = func.Blueprint()
log = logging.getLogger("functions.manifest_created")


def _blob_path(subject: str) -> tuple[str, str]:
    """``/blobServices/default/containers/<c>/blobs/<name>`` → (container, name)."""
    _, _, rest = subject.partition("/containers/")
    container, _, name = rest.partition("/blobs/")
    return container, name


@bp.function_name("on_manifest_created")
@bp.event_grid_trigger(arg_name="event")
def on_manifest_created(event: func.EventGridEvent) -> None:
    if event.event_type != "Microsoft.Storage.BlobCreated":
        log.info("ignoring %s", event.event_type)
        return
    handle_manifest_created(event.subject)


def handle_manifest_created(subject: str) -> None:
    settings = clients.settings()
    container, name = _blob_path(subject)
    if container != settings.manifests_container or not name:
        log.info("ignoring blob %s/%s: not a manifest", container, name)
        return
    data = clients.blobs().get_blob_client(container, name).download_blob().readall()
    try:
        manifest = parse_manifest(data, name)
    except ManifestError as error:
        reject(name, data, error.reason)
        return
    store = clients.statuses()
    store.create(
        manifest.request_id,
        "manifest_written",
        submitted_by=manifest.submitted_by,
        manifest_blob=f"{container}/{name}",
    )
    run_id, job_id = launch(manifest)
    store.advance(manifest.request_id, "job_started", run_id=run_id, job_id=job_id)
    log.info("request %s: job %s run %s", manifest.request_id, job_id, run_id)


def launch(manifest: Manifest) -> tuple[int, int]:
    """Start the request's job run; (run id, job id). The request id is the idempotency token, so however
    often this is called for one request (event redeliveries, the recovery timer) the workspace runs it
    once and answers every later call with that first run. The job's id is cached per worker
    (:mod:`functions.job_runs`), re-resolved when the workspace says the job is gone."""
    w = clients.workspace()
    run, job_id = with_job_id(
        w,
        clients.settings().weather_job_name,
        lambda job_id: w.jobs.run_now(
            job_id, job_parameters=manifest.job_parameters(), idempotency_token=manifest.request_id
        ),
    )
    return run.run_id, job_id


def reject(name: str, data: bytes, reason: str) -> None:
    """Keep the manifest (never lose accepted data) beside its reason; fail the request; tell subscribers."""
    settings = clients.settings()
    rejected = clients.blobs().get_container_client(settings.rejected_container)
    rejected.upload_blob(
        name, data, overwrite=True, metadata={"reason": reason[:1000].encode("ascii", "replace").decode()}
    )
    rejected.upload_blob(
        f"{name}.reason.json",
        json.dumps({"manifest": name, "reason": reason}).encode(),
        overwrite=True,
        content_settings=JSON,
    )
    request_id = request_id_from_blob_name(name)
    if not REQUEST_ID_PATTERN.match(request_id):
        log.warning("rejected %s (no usable request id): %s", name, reason)
        return
    log.warning("rejected request %s: %s", request_id, reason)
    finish(request_id, "failed", reason=reason, rejected_blob=f"{settings.rejected_container}/{name}")
