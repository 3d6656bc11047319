"""Workspace 2.0 (``/api/2.0/workspace``): the wire of ``workspace_files.py``, as databricks-sdk's
``WorkspaceAPI``/``WorkspaceExt`` call it (``upload`` posts a multipart form, ``download`` reads raw
bytes)."""

from __future__ import annotations

import base64

from flask import Blueprint, Response, jsonify, request

from emulators.workspace.routes.common import arg, body, workspace
from emulators.workspace.workspace_files import decode

workspace_files_api = Blueprint("workspace_files", __name__, url_prefix="/api/2.0/workspace")


def _files():
    return workspace().workspace_files


@workspace_files_api.post("/mkdirs")
def mkdirs():
    _files().mkdirs(body().get("path"))
    return jsonify({})


@workspace_files_api.post("/import")
def import_file():
    if request.files or request.form:  # WorkspaceExt.upload: a multipart form, the content as a file
        form = request.form
        upload = request.files.get("content")
        content = upload.read() if upload else form.get("content", "").encode()
        path, fmt, overwrite = form.get("path"), form.get("format", ""), form.get("overwrite") == "true"
    else:
        fields = body()
        path, fmt, overwrite = fields.get("path"), fields.get("format", ""), bool(fields.get("overwrite"))
        content = decode(fields.get("content"))
    _files().import_file(path, content, fmt, overwrite)
    return jsonify({})


@workspace_files_api.get("/export")
def export():
    content = _files().export(arg("path"))
    if request.args.get("direct_download") == "true":
        return Response(content, mimetype="application/octet-stream")
    return jsonify({"content": base64.b64encode(content).decode(), "file_type": ""})


@workspace_files_api.get("/get-status")
def get_status():
    return jsonify(_files().status(arg("path")))


@workspace_files_api.get("/list")
def list_objects():
    objects = _files().list(arg("path"))
    return jsonify({"objects": objects} if objects else {})


@workspace_files_api.post("/delete")
def delete():
    fields = body()
    _files().delete(fields.get("path"), bool(fields.get("recursive")))
    return jsonify({})
