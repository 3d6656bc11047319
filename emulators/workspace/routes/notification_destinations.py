"""Notification destinations 2.0 (``/api/2.0/notification-destinations``), as databricks-sdk's
``NotificationDestinationsAPI`` calls them; the models are ``notification_destinations.py``."""

from __future__ import annotations

from flask import Blueprint, jsonify

from emulators.workspace.routes.common import body, workspace

notification_destinations_api = Blueprint(
    "notification_destinations", __name__, url_prefix="/api/2.0/notification-destinations"
)


def _destinations():
    return workspace().notification_destinations


@notification_destinations_api.post("")
def create_destination():
    return jsonify(_destinations().create(body()))


@notification_destinations_api.get("")
def list_destinations():
    results = _destinations().list()
    return jsonify({"results": results} if results else {})


@notification_destinations_api.get("/<destination_id>")
def get_destination(destination_id: str):
    return jsonify(_destinations().get(destination_id))


@notification_destinations_api.patch("/<destination_id>")
def update_destination(destination_id: str):
    return jsonify(_destinations().update(destination_id, body()))


@notification_destinations_api.delete("/<destination_id>")
def delete_destination(destination_id: str):
    _destinations().delete(destination_id)
    return jsonify({})
