"""``PUT /v1/manifests/<name>``: upload a manifest file as is — the same path a direct storage upload takes.

The gateway does not interpret the file: it lands in the manifests container, Event Grid reports it, and the
function validates it (an invalid one is rejected there, with its reason, like any upload). Only the name
and size are checked here, so the behaviour cannot differ from uploading with a storage client.
"""

from __future__ import annotations

import re

from azure.core.exceptions import ResourceExistsError
from flask import Blueprint, jsonify, request, url_for

from climatelake.manifest import request_id_from_blob_name
from climatelake.storage import JSON
from flask_gateway import clients
from flask_gateway.auth import require
from flask_gateway.errors import Problem

bp = Blueprint("manifests", __name__, url_prefix="/v1/manifests")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}\.json$")


@bp.put("/<name>")
@require("submitter")
def put_manifest(name: str):
    if not NAME.match(name):
        raise Problem(
            400,
            "Bad Request",
            "The name must be <request id>.json: letters, digits, '-' and '_', at most 100 before '.json'.",
            invalid_fields=["name"],
        )
    data = request.get_data()
    if not data:
        raise Problem(400, "Bad Request", "The manifest file is empty.", invalid_fields=["body"])
    container = clients.settings().manifests_container
    try:
        clients.blobs().get_blob_client(container, name).upload_blob(
            data, overwrite=False, content_settings=JSON
        )
    except ResourceExistsError:
        raise Problem(409, "Conflict", f"A manifest named {name} already exists.") from None
    request_id = request_id_from_blob_name(name)
    answer = jsonify(
        {
            "manifest": f"{container}/{name}",
            "request_id": request_id,
            "links": {"request": url_for("requests.get_request", request_id=request_id)},
        }
    )
    answer.status_code = 201
    answer.headers["Location"] = url_for("requests.get_request", request_id=request_id)
    return answer
