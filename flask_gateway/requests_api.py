"""``/v1/requests``: ask for weather data, follow the request, fetch its result.

A request is accepted once its manifest is in storage (202); from there the event-driven pipeline takes
over. Status lives in Table Storage; the result is read from the request's Delta table, found through
Unity Catalog.
"""

from __future__ import annotations

import json

from azure.core.exceptions import ResourceExistsError
from flask import Blueprint, Response, g, jsonify, request, url_for

from climatelake.lake import read_table
from climatelake.manifest import ManifestError, new_request_id, parse_manifest
from climatelake.storage import JSON
from flask_gateway import clients
from flask_gateway.auth import require_key
from flask_gateway.errors import Problem

bp = Blueprint("requests", __name__, url_prefix="/v1/requests")
REQUEST_FIELDS = ("city_ids", "start_date", "end_date", "metrics", "granularity")


def _links(request_id: str) -> dict[str, str]:
    return {
        "self": url_for("requests.get_request", request_id=request_id),
        "results": url_for("requests.get_results", request_id=request_id),
    }


@bp.post("")
@require_key
def create_request():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem(
            400, "Bad Request", "The body must be a JSON object with city_ids, start_date, end_date."
        )
    unknown = sorted(set(body) - set(REQUEST_FIELDS))
    if unknown:
        raise Problem(400, "Bad Request", f"Unknown fields: {', '.join(unknown)}.", invalid_fields=unknown)
    request_id = new_request_id()
    doc = {
        "manifest_version": 1,
        "request_id": request_id,
        "submitted_by": g.caller,
        **{k: body[k] for k in REQUEST_FIELDS if k in body},
    }
    try:
        manifest = parse_manifest(json.dumps(doc).encode())
    except ManifestError as error:
        raise Problem(400, "Bad Request", error.reason) from None

    settings = clients.settings()
    store = clients.statuses()
    store.create(request_id, "accepted", submitted_by=g.caller)
    blob_name = f"{request_id}.json"
    try:
        clients.blobs().get_blob_client(settings.manifests_container, blob_name).upload_blob(
            manifest.to_json(), overwrite=False, content_settings=JSON
        )
    except ResourceExistsError:
        pass  # the same id cannot be re-issued; a retry of this very upload is harmless
    store.advance(request_id, "manifest_written", manifest_blob=f"{settings.manifests_container}/{blob_name}")
    answer = jsonify({"request_id": request_id, "status": "manifest_written", "links": _links(request_id)})
    answer.status_code = 202
    answer.headers["Location"] = url_for("requests.get_request", request_id=request_id)
    return answer


def _owned_status(request_id: str):
    record = clients.statuses().get(request_id)
    if record is None or record.submitted_by not in ("", g.caller):
        raise Problem(404, "Not Found", f"No request {request_id}.")
    return record


@bp.get("/<request_id>")
@require_key
def get_request(request_id: str):
    record = _owned_status(request_id)
    return jsonify({**record.to_dict(), "links": _links(request_id)})


@bp.get("/<request_id>/results")
@require_key
def get_results(request_id: str):
    record = _owned_status(request_id)
    if record.status == "failed":
        raise Problem(409, "Conflict", f"Request {request_id} failed: {record.details.get('reason', '')}")
    if record.status != "succeeded":
        raise Problem(409, "Conflict", f"Request {request_id} is {record.status}; results are not ready yet.")
    table = record.details["result_table"]
    version = int(record.details["delta_version"])
    frame = read_table(clients.workspace(), clients.settings(), table, version=version)
    frame = frame.sort([c for c in ("city_id", "date", "hour") if c in frame.columns])
    head = json.dumps(
        {"request_id": request_id, "table": table, "delta_version": version, "row_count": frame.height}
    )
    body = f'{head[:-1]},"rows":{frame.write_json()}}}'
    return Response(body, mimetype="application/json")
