"""Unity Catalog storage credentials and external locations (``/api/2.1/unity-catalog``): the wire of
``catalog_external.py``. External locations are shaped as ../shared/specs/unitycatalog-api.yaml;
storage credentials as databricks-sdk's ``StorageCredentialsAPI`` calls them (the open spec has none)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from emulators.workspace.routes.common import body, flag, page, workspace

uc_external = Blueprint("unity_catalog_external", __name__, url_prefix="/api/2.1/unity-catalog")


def _external():
    return workspace().external_storage


# storage credentials ----------------------------------------------------------------------------
@uc_external.post("/storage-credentials")
def create_storage_credential():
    return jsonify(_external().create_credential(body(), g.principal))


@uc_external.get("/storage-credentials")
def list_storage_credentials():
    credentials = _external().list_credentials()
    return jsonify(page(credentials, "storage_credentials", "storage-credentials", lambda c: c["name"]))


@uc_external.get("/storage-credentials/<name>")
def get_storage_credential(name: str):
    return jsonify(_external().get_credential(name))


@uc_external.patch("/storage-credentials/<name>")
def update_storage_credential(name: str):
    return jsonify(_external().update_credential(name, body(), g.principal))


@uc_external.delete("/storage-credentials/<name>")
def delete_storage_credential(name: str):
    _external().delete_credential(name, flag("force"))
    return jsonify({})


# external locations -----------------------------------------------------------------------------
@uc_external.post("/external-locations")
def create_external_location():
    return jsonify(_external().create_location(body(), g.principal))


@uc_external.get("/external-locations")
def list_external_locations():
    locations = _external().list_locations()
    return jsonify(page(locations, "external_locations", "external-locations", lambda c: c["name"]))


@uc_external.get("/external-locations/<name>")
def get_external_location(name: str):
    return jsonify(_external().get_location(name))


@uc_external.patch("/external-locations/<name>")
def update_external_location(name: str):
    return jsonify(_external().update_location(name, body(), g.principal))


@uc_external.delete("/external-locations/<name>")
def delete_external_location(name: str):
    _external().delete_location(name)
    return jsonify({})
