"""Unity Catalog 2.1 routes (``/api/2.1/unity-catalog``), shaped as ../shared/specs/unitycatalog-api.yaml."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify

from emulators.workspace.catalog import split_full_name
from emulators.workspace.catalog_commits import UNITY_TABLE_ID_PROPERTIES
from emulators.workspace.errors import invalid
from emulators.workspace.routes.common import arg, body, flag, from_sail, page, workspace

uc = Blueprint("unity_catalog", __name__, url_prefix="/api/2.1/unity-catalog")
#: Databricks serves the temporary credentials under 2.0 too, and databricks-sdk calls those paths
uc_credentials_v20 = Blueprint("unity_catalog_credentials_v20", __name__, url_prefix="/api/2.0/unity-catalog")


def _catalog():
    return workspace().catalog


# catalogs ---------------------------------------------------------------------------------------
@uc.post("/catalogs")
def create_catalog():
    return jsonify(_catalog().create_catalog(body(), g.principal))


@uc.get("/catalogs")
def list_catalogs():
    return jsonify(page(_catalog().list_catalogs(), "catalogs", "catalogs", lambda c: c["name"]))


@uc.get("/catalogs/<name>")
def get_catalog(name: str):
    return jsonify(_catalog().get_catalog(name))


@uc.patch("/catalogs/<name>")
def update_catalog(name: str):
    return jsonify(_catalog().update_catalog(name, body(), g.principal))


@uc.delete("/catalogs/<name>")
def delete_catalog(name: str):
    _catalog().delete_catalog(name, flag("force"))
    return jsonify({})


# schemas ----------------------------------------------------------------------------------------
@uc.post("/schemas")
def create_schema():
    return jsonify(_catalog().create_schema(body(), g.principal))


@uc.get("/schemas")
def list_schemas():
    catalog_name = arg("catalog_name")
    return jsonify(page(_catalog().list_schemas(catalog_name), "schemas", f"schemas:{catalog_name.lower()}"))


@uc.get("/schemas/<full_name>")
def get_schema(full_name: str):
    return jsonify(_catalog().get_schema(full_name))


@uc.patch("/schemas/<full_name>")
def update_schema(full_name: str):
    return jsonify(_catalog().update_schema(full_name, body(), g.principal))


@uc.delete("/schemas/<full_name>")
def delete_schema(full_name: str):
    _catalog().delete_schema(full_name, flag("force"))
    return jsonify({})


# tables -----------------------------------------------------------------------------------------
def _table_view(table: dict[str, Any]) -> dict[str, Any]:
    """A table as answered to this client.

    Deviation, for Sail only: a MANAGED Delta table that is not catalog-managed (``is_catalog_managed``)
    is answered to Sail without its ``table_id``. Sail 0.7.2 takes any MANAGED Delta table whose info
    carries a table id as a catalog-managed one (sail-delta-lake ``catalog_managed.rs``: the id, kept as the
    property ``io.unitycatalog.tableId``, "is the explicit marker that this table participates in Unity
    coordinated commits") and would stage its writes as catalog commits that delta-rs (polars'
    ``scan_table``) never sees. On Databricks a managed table is plain Delta unless created with
    ``delta.feature.catalogManaged``; so Sail writes such a table's ``_delta_log`` as plain Delta, and every
    other client gets the full table info, as Databricks answers it.
    """
    if not from_sail() or table.get("table_type") != "MANAGED" or _catalog().is_catalog_managed(table):
        return table
    view = {k: v for k, v in table.items() if k != "table_id"}
    if view.get("properties"):
        view["properties"] = {
            k: v for k, v in view["properties"].items() if k not in UNITY_TABLE_ID_PROPERTIES
        }
    return view


@uc.post("/tables")
def create_table():
    table = _catalog().create_table(body(), g.principal)
    if from_sail() and table["table_type"] == "MANAGED" and table.get("data_source_format") == "DELTA":
        # Sail 0.7.2 makes every MANAGED Delta table it creates catalog-managed: it requires the table id in
        # this answer and writes the catalogManaged feature into version 0 (sail-delta-lake
        # ``table_format.rs``: "catalog-managed Delta CREATE TABLE requires a Unity table id"); the catalog
        # then ratifies its versions, and Sail keeps getting its id
        _catalog().mark_catalog_managed(table["table_id"])
    return jsonify(_table_view(table))


@uc.get("/tables")
def list_tables():
    catalog_name, schema_name = arg("catalog_name"), arg("schema_name")
    tables = [_table_view(t) for t in _catalog().list_tables(catalog_name, schema_name)]
    return jsonify(page(tables, "tables", f"tables:{catalog_name.lower()}.{schema_name.lower()}"))


@uc.get("/tables/<full_name>")
def get_table(full_name: str):
    return jsonify(_table_view(_catalog().get_table(full_name)))


@uc.get("/tables/<full_name>/exists")
def table_exists(full_name: str):
    """``{"table_exists": bool}``, never 404 for a missing table: Databricks REST API reference,
    Unity Catalog > Tables > "Get boolean reflecting if table exists" (what ``w.tables.exists`` calls)."""
    catalog = _catalog()
    return jsonify({"table_exists": catalog.store.get("table", full_name.lower()) is not None})


@uc.patch("/tables/<full_name>")
def update_table(full_name: str):
    return jsonify(_table_view(_catalog().update_table(full_name, body(), g.principal)))


@uc.delete("/tables/<full_name>")
def delete_table(full_name: str):
    _catalog().delete_table(full_name)
    return jsonify({})


@uc.post("/staging-tables")
def create_staging_table():
    return jsonify(_catalog().create_staging_table(body(), g.principal))


# volumes ----------------------------------------------------------------------------------------
@uc.post("/volumes")
def create_volume():
    return jsonify(_catalog().create_volume(body(), g.principal))


@uc.get("/volumes")
def list_volumes():
    catalog_name, schema_name = arg("catalog_name"), arg("schema_name")
    volumes = _catalog().list_volumes(catalog_name, schema_name)
    return jsonify(page(volumes, "volumes", f"volumes:{catalog_name.lower()}.{schema_name.lower()}"))


@uc.get("/volumes/<name>")
def get_volume(name: str):
    split_full_name(name, 3, "volume")
    return jsonify(_catalog().get_volume(name))


@uc.patch("/volumes/<name>")
def update_volume(name: str):
    return jsonify(_catalog().update_volume(name, body(), g.principal))


@uc.delete("/volumes/<name>")
def delete_volume(name: str):
    _catalog().delete_volume(name)
    return jsonify({})


# functions --------------------------------------------------------------------------------------
@uc.post("/functions")
def create_function():
    return jsonify(_catalog().create_function(body(), g.principal))


@uc.get("/functions")
def list_functions():
    catalog_name, schema_name = arg("catalog_name"), arg("schema_name")
    functions = _catalog().list_functions(catalog_name, schema_name)
    return jsonify(page(functions, "functions", f"functions:{catalog_name.lower()}.{schema_name.lower()}"))


@uc.get("/functions/<name>")
def get_function(name: str):
    return jsonify(_catalog().get_function(name))


@uc.delete("/functions/<name>")
def delete_function(name: str):
    _catalog().delete_function(name)
    return jsonify({})


# temporary credentials --------------------------------------------------------------------------
@uc.post("/temporary-table-credentials")
def temporary_table_credentials():
    request = body()
    if not request.get("table_id"):
        raise invalid("table_id is required.")
    location = _catalog().storage_for_table_id(request["table_id"])
    return jsonify(workspace().credentials.vend(location, request.get("operation") or "READ"))


@uc.post("/temporary-volume-credentials")
def temporary_volume_credentials():
    request = body()
    if not request.get("volume_id"):
        raise invalid("volume_id is required.")
    volume = _catalog().get_volume_by_id(request["volume_id"])
    operation = request.get("operation") or "READ_VOLUME"
    return jsonify(workspace().credentials.vend(volume["storage_location"], operation))


@uc.post("/temporary-path-credentials")
def temporary_path_credentials():
    request = body()
    if not request.get("url"):
        raise invalid("url is required.")
    return jsonify(workspace().credentials.vend(request["url"], request.get("operation") or "PATH_READ"))


for _view in (temporary_table_credentials, temporary_volume_credentials, temporary_path_credentials):
    uc_credentials_v20.add_url_rule("/" + _view.__name__.replace("_", "-"), view_func=_view, methods=["POST"])


# catalog-managed Delta commits ------------------------------------------------------------------
@uc.get("/delta/preview/commits")
def get_commits():
    return jsonify(_catalog().get_commits(body()))


@uc.post("/delta/preview/commits")
def commit():
    return jsonify(_catalog().commit(body(), g.principal))
