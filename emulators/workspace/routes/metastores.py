"""The metastore's wire (``/api/2.1/unity-catalog``): current assignment, summary, get and update, as
databricks-sdk's ``MetastoresAPI`` calls them; the behaviour is ``metastore.py``'s."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from emulators.workspace.routes.common import body, workspace

metastores_api = Blueprint("metastores", __name__, url_prefix="/api/2.1/unity-catalog")


def _metastore():
    return workspace().metastore


@metastores_api.get("/current-metastore-assignment")
def current_assignment():
    return jsonify(_metastore().assignment())


@metastores_api.get("/metastore_summary")
def summary():
    return jsonify(_metastore().info())


@metastores_api.get("/metastores/<metastore_id>")
def get_metastore(metastore_id: str):
    return jsonify(_metastore().get(metastore_id))


@metastores_api.patch("/metastores/<metastore_id>")
def update_metastore(metastore_id: str):
    return jsonify(_metastore().update(metastore_id, body(), g.principal))
