"""Unity Catalog 2.1 routes (``/api/2.1/unity-catalog``), shaped as ../shared/specs/unitycatalog-api.yaml.

Every read, list, create, update, delete and credential request is decided by the privilege model first
(``access.py``: 403 ``PERMISSION_DENIED`` and an audit row when refused; lists show only what the caller may
see), as Databricks' REST reference states for each call.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify

from emulators.workspace.catalog import split_full_name
from emulators.workspace.catalog_commits import UNITY_TABLE_ID_PROPERTIES
from emulators.workspace.errors import ApiError, invalid
from emulators.workspace.path_access import authorize_path_credential
from emulators.workspace.routes.common import arg, body, flag, from_sail, page, workspace
from emulators.workspace.routes.permissions import caller

uc = Blueprint("unity_catalog", __name__, url_prefix="/api/2.1/unity-catalog")
#: Databricks serves the temporary credentials under 2.0 too, and databricks-sdk calls those paths
uc_credentials_v20 = Blueprint("unity_catalog_credentials_v20", __name__, url_prefix="/api/2.0/unity-catalog")


def _catalog():
    return workspace().catalog


def _see(action: str, kind: str, full_name: str, arg_name: str = "full_name_arg") -> None:
    workspace().access.see(caller(), action, kind, full_name, {arg_name: full_name})


def _visible(action: str, kind: str, items: list[dict[str, Any]], **params: str) -> list[dict[str, Any]]:
    name_of = (lambda item: item["name"]) if kind == "CATALOG" else (lambda item: item["full_name"])
    return workspace().access.visible(caller(), action, kind, items, name_of, params)


def _manage(action: str, kind: str, full_name: str, apply, arg_name: str = "full_name_arg"):
    """An update or delete: the owner (of it or a parent), MANAGE, or a metastore admin."""
    ws = workspace()
    securable = ws.privileges.resolve(kind, full_name)
    return ws.access.manage(caller(), action, securable, {arg_name: full_name}, apply)


def _create(action: str, kind: str, parent: str, privilege: str, params: dict[str, Any]) -> None:
    """A create: ``privilege`` on the parent (the metastore, a catalog, a schema) with the path to it."""
    ws = workspace()
    securable = ws.privileges.resolve(kind, parent)
    ws.access.use(caller(), action, securable, privilege, {k: v for k, v in params.items() if v})


# catalogs ---------------------------------------------------------------------------------------
@uc.post("/catalogs")
def create_catalog():
    request = body()
    _create("createCatalog", "METASTORE", "", "CREATE_CATALOG", {"name": request.get("name")})
    return jsonify(_catalog().create_catalog(request, g.principal))


@uc.get("/catalogs")
def list_catalogs():
    catalogs = _visible("listCatalogs", "CATALOG", _catalog().list_catalogs())
    return jsonify(page(catalogs, "catalogs", "catalogs", lambda c: c["name"]))


@uc.get("/catalogs/<name>")
def get_catalog(name: str):
    _see("getCatalog", "CATALOG", name, "name_arg")
    return jsonify(_catalog().get_catalog(name))


@uc.patch("/catalogs/<name>")
def update_catalog(name: str):
    request = body()
    update = lambda: _catalog().update_catalog(name, request, g.principal)  # noqa: E731
    return jsonify(_manage("updateCatalog", "CATALOG", name, update, "name_arg"))


@uc.delete("/catalogs/<name>")
def delete_catalog(name: str):
    _manage(
        "deleteCatalog", "CATALOG", name, lambda: _catalog().delete_catalog(name, flag("force")), "name_arg"
    )
    return jsonify({})


# schemas ----------------------------------------------------------------------------------------
@uc.post("/schemas")
def create_schema():
    request = body()
    params = {"catalog_name": request.get("catalog_name"), "name": request.get("name")}
    _create("createSchema", "CATALOG", str(request.get("catalog_name") or ""), "CREATE_SCHEMA", params)
    return jsonify(_catalog().create_schema(request, g.principal))


@uc.get("/schemas")
def list_schemas():
    catalog_name = arg("catalog_name")
    schemas = _visible(
        "listSchemas", "SCHEMA", _catalog().list_schemas(catalog_name), catalog_name=catalog_name
    )
    return jsonify(page(schemas, "schemas", f"schemas:{catalog_name.lower()}"))


@uc.get("/schemas/<full_name>")
def get_schema(full_name: str):
    _see("getSchema", "SCHEMA", full_name)
    return jsonify(_catalog().get_schema(full_name))


@uc.patch("/schemas/<full_name>")
def update_schema(full_name: str):
    request = body()
    update = lambda: _catalog().update_schema(full_name, request, g.principal)  # noqa: E731
    return jsonify(_manage("updateSchema", "SCHEMA", full_name, update))


@uc.delete("/schemas/<full_name>")
def delete_schema(full_name: str):
    _manage("deleteSchema", "SCHEMA", full_name, lambda: _catalog().delete_schema(full_name, flag("force")))
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
    request = body()
    _create_in_schema("createTable", "CREATE_TABLE", request)
    table = _catalog().create_table(request, g.principal)
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
    found = _catalog().list_tables(catalog_name, schema_name)
    found = _visible("listTables", "TABLE", found, catalog_name=catalog_name, schema_name=schema_name)
    tables = [_table_view(t) for t in found]
    return jsonify(page(tables, "tables", f"tables:{catalog_name.lower()}.{schema_name.lower()}"))


@uc.get("/tables/<full_name>")
def get_table(full_name: str):
    _see("getTable", "TABLE", full_name)
    return jsonify(_table_view(_catalog().get_table(full_name)))


@uc.get("/tables/<full_name>/exists")
def table_exists(full_name: str):
    """``{"table_exists": bool}``, never 404 for a missing table: Databricks REST API reference,
    Unity Catalog > Tables > "Get boolean reflecting if table exists" (what ``w.tables.exists`` calls)."""
    catalog = _catalog()
    exists = catalog.store.get("table", full_name.lower()) is not None
    if exists:
        _see("tableExists", "TABLE", full_name)
    return jsonify({"table_exists": exists})


@uc.patch("/tables/<full_name>")
def update_table(full_name: str):
    request = body()
    update = lambda: _catalog().update_table(full_name, request, g.principal)  # noqa: E731
    return jsonify(_table_view(_manage("updateTables", "TABLE", full_name, update)))


@uc.delete("/tables/<full_name>")
def delete_table(full_name: str):
    _manage("deleteTable", "TABLE", full_name, lambda: _catalog().delete_table(full_name))
    return jsonify({})


@uc.post("/staging-tables")
def create_staging_table():
    request = body()
    _create_in_schema("createStagingTable", "CREATE_TABLE", request)
    return jsonify(_catalog().create_staging_table(request, g.principal))


def _create_in_schema(action: str, privilege: str, request: dict[str, Any]) -> None:
    schema = f"{request.get('catalog_name') or ''}.{request.get('schema_name') or ''}"
    _create(action, "SCHEMA", schema, privilege, {"full_name_arg": f"{schema}.{request.get('name') or ''}"})


# volumes ----------------------------------------------------------------------------------------
@uc.post("/volumes")
def create_volume():
    request = body()
    _create_in_schema("createVolume", "CREATE_VOLUME", request)
    return jsonify(_catalog().create_volume(request, g.principal))


@uc.get("/volumes")
def list_volumes():
    catalog_name, schema_name = arg("catalog_name"), arg("schema_name")
    volumes = _catalog().list_volumes(catalog_name, schema_name)
    volumes = _visible("listVolumes", "VOLUME", volumes, catalog_name=catalog_name, schema_name=schema_name)
    return jsonify(page(volumes, "volumes", f"volumes:{catalog_name.lower()}.{schema_name.lower()}"))


@uc.get("/volumes/<name>")
def get_volume(name: str):
    split_full_name(name, 3, "volume")
    _see("getVolume", "VOLUME", name)
    return jsonify(_catalog().get_volume(name))


@uc.patch("/volumes/<name>")
def update_volume(name: str):
    request = body()
    update = lambda: _catalog().update_volume(name, request, g.principal)  # noqa: E731
    return jsonify(_manage("updateVolume", "VOLUME", name, update))


@uc.delete("/volumes/<name>")
def delete_volume(name: str):
    _manage("deleteVolume", "VOLUME", name, lambda: _catalog().delete_volume(name))
    return jsonify({})


# functions --------------------------------------------------------------------------------------
@uc.post("/functions")
def create_function():
    request = body()
    info = request.get("function_info") if isinstance(request.get("function_info"), dict) else request
    _create_in_schema("createFunction", "CREATE_FUNCTION", info)
    return jsonify(_catalog().create_function(request, g.principal))


@uc.get("/functions")
def list_functions():
    catalog_name, schema_name = arg("catalog_name"), arg("schema_name")
    functions = _catalog().list_functions(catalog_name, schema_name)
    params = {"catalog_name": catalog_name, "schema_name": schema_name}
    functions = _visible("listFunctions", "FUNCTION", functions, **params)
    return jsonify(page(functions, "functions", f"functions:{catalog_name.lower()}.{schema_name.lower()}"))


@uc.get("/functions/<name>")
def get_function(name: str):
    _see("getFunction", "FUNCTION", name)
    return jsonify(_catalog().get_function(name))


@uc.delete("/functions/<name>")
def delete_function(name: str):
    _manage("deleteFunction", "FUNCTION", name, lambda: _catalog().delete_function(name))
    return jsonify({})


# temporary credentials --------------------------------------------------------------------------
@uc.post("/temporary-table-credentials")
def temporary_table_credentials():
    request = body()
    if not request.get("table_id"):
        raise invalid("table_id is required.")
    operation = str(request.get("operation") or "READ").upper()
    location = _catalog().storage_for_table_id(request["table_id"])
    _authorize_table_credentials(str(request["table_id"]), operation)
    return jsonify(workspace().credentials.vend(location, operation))


def _authorize_table_credentials(table_id: str, operation: str) -> None:
    """READ needs SELECT on the table, READ_WRITE MODIFY (each with the path to it); a staging table's
    storage needs CREATE_TABLE on its schema (the table is being made)."""
    ws = workspace()
    params = {"table_id": table_id, "operation": operation}
    try:
        table = _catalog().get_table_by_id(table_id)
        securable = ws.privileges.resolve("TABLE", table["full_name"])
        privilege = "MODIFY" if operation == "READ_WRITE" else "SELECT"
    except ApiError:  # a staging table (storage_for_table_id found it)
        staged = next(s for _, s in _catalog().store.scan("staging") if s["id"] == table_id)
        securable = ws.privileges.resolve("SCHEMA", f"{staged['catalog_name']}.{staged['schema_name']}")
        privilege = "CREATE_TABLE"
    params["full_name_arg"] = securable.full_name
    ws.access.use(caller(), "generateTemporaryTableCredential", securable, privilege, params)


@uc.post("/temporary-volume-credentials")
def temporary_volume_credentials():
    request = body()
    if not request.get("volume_id"):
        raise invalid("volume_id is required.")
    volume = _catalog().get_volume_by_id(request["volume_id"])
    operation = str(request.get("operation") or "READ_VOLUME").upper()
    ws = workspace()
    securable = ws.privileges.resolve("VOLUME", volume["full_name"])
    privilege = "WRITE_VOLUME" if operation == "WRITE_VOLUME" else "READ_VOLUME"
    params = {"volume_id": request["volume_id"], "operation": operation, "full_name_arg": volume["full_name"]}
    ws.access.use(caller(), "generateTemporaryVolumeCredential", securable, privilege, params)
    return jsonify(ws.credentials.vend(volume["storage_location"], operation))


@uc.post("/temporary-path-credentials")
def temporary_path_credentials():
    """Only for paths in an external location, never managed storage; the location's EXTERNAL_USE_LOCATION
    and READ_FILES / WRITE_FILES / CREATE_EXTERNAL_TABLE, or — for an external table's path —
    EXTERNAL_USE_SCHEMA and SELECT / MODIFY on the table (REST reference, "Generate a temporary path
    credential", docs.databricks.com/api/uc-credentials/v1/generate-temporary-path-credential;
    the decision is ``path_access.py``'s)."""
    request = body()
    if not request.get("url"):
        raise invalid("url is required.")
    operation = str(request.get("operation") or "PATH_READ").upper()
    authorize_path_credential(workspace(), caller(), str(request["url"]), operation)
    return jsonify(workspace().credentials.vend(request["url"], operation))


for _view in (temporary_table_credentials, temporary_volume_credentials, temporary_path_credentials):
    uc_credentials_v20.add_url_rule("/" + _view.__name__.replace("_", "-"), view_func=_view, methods=["POST"])


# catalog-managed Delta commits ------------------------------------------------------------------
@uc.get("/delta/preview/commits")
def get_commits():
    return jsonify(_catalog().get_commits(body()))


@uc.post("/delta/preview/commits")
def commit():
    return jsonify(_catalog().commit(body(), g.principal))
