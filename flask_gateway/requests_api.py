"""``/v1/requests``: ask for weather data, follow the request, fetch its result.

A request is accepted once its manifest is in storage (202); from there the event-driven pipeline takes
over. Storage unreachable before that is a 503 with Retry-After (``errors.py``), never a 202. Status lives
in Table Storage; the result is read from the request's Delta table, found through Unity Catalog, at the
Delta version the completion recorded (so pages of one result never shift).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging

import polars as pl
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from flask import Blueprint, Response, g, jsonify, request, stream_with_context, url_for

from climatelake.keys import role_allows
from climatelake.lake import read_table
from climatelake.manifest import ManifestError, new_request_id, parse_manifest
from climatelake.status import RequestStatus
from climatelake.storage import JSON
from flask_gateway import clients
from flask_gateway.auth import require
from flask_gateway.errors import Problem
from flask_gateway.schemas import LIST_QUERY, REQUEST_BODY, RESULTS_QUERY, coerce_query, validate

bp = Blueprint("requests", __name__, url_prefix="/v1/requests")
log = logging.getLogger("gateway.requests")
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def _links(request_id: str) -> dict[str, str]:
    return {
        "self": url_for("requests.get_request", request_id=request_id),
        "results": url_for("requests.get_results", request_id=request_id),
    }


def _json_body() -> dict:
    if not request.is_json:
        raise Problem(415, "Unsupported Media Type", "Send the body as application/json.")
    body = request.get_json(silent=True)
    if body is None:
        raise Problem(400, "Bad Request", "The body is not valid JSON.", invalid_fields=["body"])
    return body


@bp.post("")
@require("submitter")
def create_request():
    body = _json_body()
    validate(REQUEST_BODY, body)
    request_id = new_request_id()
    store = clients.statuses()
    idempotency_key = request.headers.get("Idempotency-Key", "").strip()
    if idempotency_key:
        if len(idempotency_key) > 200:
            raise Problem(400, "Bad Request", "Idempotency-Key is longer than 200 characters.")
        body_hash = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        claimed, same_body = store.claim_idempotency_key(g.key.key_id, idempotency_key, body_hash, request_id)
        if not same_body:
            raise Problem(409, "Conflict", "This Idempotency-Key was used with a different body.")
        if claimed != request_id:  # a replay: answer as the first time, if the first attempt got that far
            existing = store.get(claimed)
            if existing is not None and existing.status != "accepted":
                return _accepted(claimed, existing.status)
            request_id = claimed  # the first attempt died before its manifest: finish its work now
    doc = {
        "manifest_version": 1,
        "request_id": request_id,
        "submitted_by": g.key.key_id,
        **{k: body[k] for k in ("city_ids", "start_date", "end_date", "metrics", "granularity") if k in body},
    }
    try:
        manifest = parse_manifest(json.dumps(doc).encode())
    except ManifestError as error:
        raise Problem(400, "Bad Request", error.reason) from None

    settings = clients.settings()
    extra = {"callback_url": body["callback_url"]} if "callback_url" in body else {}
    store.create(request_id, "accepted", submitted_by=g.key.key_id, **extra)
    blob_name = f"{request_id}.json"
    try:
        clients.blobs().get_blob_client(settings.manifests_container, blob_name).upload_blob(
            manifest.to_json(), overwrite=False, content_settings=JSON
        )
    except ResourceExistsError:
        pass  # a replay of this very upload: the manifest is already there
    try:
        store.advance(
            request_id, "manifest_written", manifest_blob=f"{settings.manifests_container}/{blob_name}"
        )
    except (ServiceRequestError, ServiceResponseError, HttpResponseError) as error:
        # The manifest is stored, so the request is accepted: the pipeline will run it (its function moves
        # the status on). A 503 now would invite the client to submit it a second time.
        log.warning("request %s accepted; its status stays accepted for now: %s", request_id, error)
        return _accepted(request_id, "accepted")
    return _accepted(request_id, "manifest_written")


def _accepted(request_id: str, status: str) -> Response:
    answer = jsonify({"request_id": request_id, "status": status, "links": _links(request_id)})
    answer.status_code = 202
    answer.headers["Location"] = url_for("requests.get_request", request_id=request_id)
    return answer


def _visible(record: RequestStatus | None) -> bool:
    """Own requests, anonymous ones (direct uploads), or anything for admins. Others' are 404, not 403."""
    return record is not None and (
        record.submitted_by in ("", g.key.key_id) or role_allows(g.key.role, "admin")
    )


def _owned_status(request_id: str) -> RequestStatus:
    record = clients.statuses().get(request_id)
    if not _visible(record):
        raise Problem(404, "Not Found", f"No request {request_id}.")
    return record


def _public(record: RequestStatus) -> dict:
    hidden = ("event_published", "callback_url", "completion_event")
    view = {k: v for k, v in record.to_dict().items() if k not in hidden}
    return {**view, "links": _links(record.request_id)}


@bp.get("")
@require("reader")
def list_requests():
    query = coerce_query(LIST_QUERY, request.args.to_dict())
    limit = query.get("limit", 50)
    owner = None if role_allows(g.key.role, "admin") else g.key.key_id
    records = clients.statuses().list_for(owner, query.get("cursor"), limit + 1)
    page = records[:limit]
    next_cursor = page[-1].request_id if len(records) > limit else None
    return jsonify({"requests": [_public(r) for r in page], "next_cursor": next_cursor})


@bp.get("/<request_id>")
@require("reader")
def get_request(request_id: str):
    """The status record, with a weak ETag of its body: a poller sending it back as If-None-Match gets a
    bodiless 304 while nothing changed (weak, as the compressed and plain forms share it)."""
    response = jsonify(_public(_owned_status(request_id)))
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32], weak=True)
    response.headers["Cache-Control"] = "private, no-cache"  # per caller, and always revalidated
    return response.make_conditional(request)


def _negotiate(query: dict) -> str:
    if "format" in query:
        return query["format"]
    best = request.accept_mimetypes.best_match(list(MEDIA_TYPES.values()), default="application/json")
    return next(name for name, media in MEDIA_TYPES.items() if media == best)


def _cursor_offset(cursor: str | None, version: int) -> int:
    if not cursor:
        return 0
    try:
        tag, _, offset = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if tag != f"v{version}":
            raise ValueError
        return int(offset)
    except ValueError:
        raise Problem(
            400, "Bad Request", "The cursor is not valid for this result.", invalid_fields=["cursor"]
        ) from None


@bp.get("/<request_id>/results")
@require("reader")
def get_results(request_id: str):
    query = coerce_query(RESULTS_QUERY, request.args.to_dict())
    record = _owned_status(request_id)
    if record.status == "failed":
        raise Problem(409, "Conflict", f"Request {request_id} failed: {record.details.get('reason', '')}")
    if record.status != "succeeded":
        raise Problem(409, "Conflict", f"Request {request_id} is {record.status}; results are not ready yet.")
    table = record.details["result_table"]
    version = int(record.details["delta_version"])
    frame = read_table(clients.workspace(), clients.settings(), table, version=version)
    frame = frame.sort([c for c in ("city_id", "date", "hour") if c in frame.columns])
    fmt = _negotiate(query)
    filename = f"{request_id}.{fmt}"
    if fmt == "csv":

        def chunks():
            for start in range(0, max(frame.height, 1), 10_000):
                yield frame.slice(start, 10_000).write_csv(include_header=start == 0)

        return Response(
            stream_with_context(chunks()),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        return Response(
            buffer.getvalue(),
            mimetype=MEDIA_TYPES["parquet"],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    limit = query.get("limit", 5000)
    offset = _cursor_offset(query.get("cursor"), version)
    page = frame.slice(offset, limit)
    more = offset + limit < frame.height
    next_cursor = base64.urlsafe_b64encode(f"v{version}:{offset + limit}".encode()).decode() if more else None
    summary = {
        "request_id": request_id,
        "table": table,
        "delta_version": version,
        "row_count": frame.height,
        "coverage": _coverage(record, frame),
        "next_cursor": next_cursor,
    }
    if frame.height == 0:
        summary["notice"] = "There is no data for the requested cities and dates: the result has zero rows."
    head = json.dumps(summary)
    return Response(f'{head[:-1]},"rows":{page.write_json()}}}', mimetype="application/json")


def _coverage(record: RequestStatus, frame: pl.DataFrame) -> list[dict] | None:
    """Per requested city: hours expected in the range (days × 24, UTC) vs hours present in the result, so
    a user sees gaps instead of guessing. From the request's manifest (the range) and the result rows
    (hourly: a row per hour present; daily: ``hours_observed``). None when the manifest is gone."""
    blob = record.details.get("manifest_blob", "")
    container, _, name = blob.partition("/")
    try:
        data = clients.blobs().get_blob_client(container, name).download_blob().readall()
        manifest = parse_manifest(data, name)
    except (ResourceNotFoundError, ManifestError, ValueError):
        return None
    expected = ((manifest.end_date - manifest.start_date).days + 1) * 24
    if "hour" in frame.columns:
        present = frame.group_by("city_id").agg(pl.len().alias("n"))
    else:
        present = frame.group_by("city_id").agg(pl.col("hours_observed").sum().alias("n"))
    counts = dict(zip(present["city_id"].to_list(), present["n"].to_list(), strict=True))
    return [
        {
            "city_id": city,
            "hours_expected": expected,
            "hours_present": int(counts.get(city, 0)),
            "completeness": round(counts.get(city, 0) / expected, 4),
        }
        for city in manifest.city_ids
    ]


@bp.get("/<request_id>/lineage")
@require("reader")
def get_lineage(request_id: str):
    """Request lineage: manifest blob → job run → result table at its Delta version → completion event."""
    record = _owned_status(request_id)
    details = record.details
    lineage: dict = {
        "request_id": request_id,
        "status": record.status,
        "timeline": record.timeline,
        "manifest": {"blob": details.get("manifest_blob") or details.get("rejected_blob")},
    }
    if "run_id" in details:
        run = clients.workspace().jobs.get_run(int(details["run_id"]))
        lineage["job_run"] = {
            "job_id": run.job_id,
            "run_id": run.run_id,
            "run_page_url": run.run_page_url,
            "life_cycle_state": run.state.life_cycle_state.value
            if run.state and run.state.life_cycle_state
            else None,
            "result_state": run.state.result_state.value if run.state and run.state.result_state else None,
            "start_time_ms": run.start_time,
            "end_time_ms": run.end_time,
        }
    if "result_table" in details:
        table = clients.workspace().tables.get(details["result_table"])
        lineage["result"] = {
            "table": table.full_name,
            "table_id": table.table_id,
            "storage_location": table.storage_location,
            "delta_version": details.get("delta_version"),
            "row_count": details.get("row_count"),
        }
    if "completion_event" in details and details.get("event_published"):
        lineage["event"] = {**details["completion_event"], "subject": f"/requests/{request_id}"}
    return jsonify(lineage)
