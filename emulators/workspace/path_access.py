"""Who gets a temporary path credential (``POST /api/2.0/unity-catalog/temporary-path-credentials``; issue
16).

What Databricks documents (REST reference, "Generate a temporary path credential",
docs.databricks.com/api/uc-credentials/v1/generate-temporary-path-credential, and
databricks-sdk's ``generate_temporary_path_credentials`` docstring, the same text): the API "is only
supported for external storage paths, specifically external locations and external tables. Managed tables
are not supported by this API … The caller must have the EXTERNAL_USE_LOCATION privilege on the external
location; this privilege can only be granted by external location owners. For requests on existing
external tables, the caller must also have the EXTERNAL_USE_SCHEMA privilege on the parent schema".

The decision, in this order (:func:`authorize_path_credential`):

1. the external location containing the url, by whole path segments (``table_paths.storage_key``: the
   ``abfss``, ``wasbs``, ``https`` and Azurite path-style spellings are one place). None → 400
   ``INVALID_PARAMETER_VALUE`` "[NO_PARENT_EXTERNAL_LOCATION_FOR_PATH] No parent external location was
   found for path '…'" — Databricks' error class for a path outside every location (SQLSTATE 22KD1, a data
   exception, not an access one; quoted in public write-ups of Databricks runs). Choice: the REST answer's
   ``error_code`` is ``INVALID_PARAMETER_VALUE`` (databricks-sdk: ``InvalidParameterValue``, a
   ``BadRequest``), the class kept in the message: no REST answer of this case was found to quote;
2. a path at, under or above managed storage (a MANAGED table's or volume's location, a catalog's or
   schema's ``__unitystorage`` folder) → 400 ``INVALID_PARAMETER_VALUE`` "Input path url '…' overlaps with
   managed storage within 'GenerateTemporaryPathCredential' call." (Databricks' ``LOCATION_OVERLAP``
   message, quoted in public write-ups for ``ListFiles`` and ``CheckPathAccess``; it refuses catalog owners
   too, so metastore admins are refused here as well);
3. a path reaching EXTERNAL tables (at, under or above their locations, ``table_paths.tables_at_path``):
   for each table ``EXTERNAL_USE_SCHEMA`` on its schema and ``SELECT`` (``PATH_READ``) or ``MODIFY``
   (``PATH_READ_WRITE``) on it, each with the path to it (``USE_CATALOG``, ``USE_SCHEMA``); the table's
   grants, not the location's ``READ FILES``, govern its files (SQL reference, external tables: "GRANT on
   external tables to encapsulate access to individual files within an external location").
   ``PATH_CREATE_TABLE`` over an existing table → 400 (tables cannot overlap: "Path rules and access");
4. otherwise the location's own privileges: ``READ_FILES`` (``PATH_READ``), ``READ_FILES`` + ``WRITE_FILES``
   (``PATH_READ_WRITE``), ``CREATE_EXTERNAL_TABLE`` (``PATH_CREATE_TABLE``);

and always ``EXTERNAL_USE_LOCATION`` on the location, first. Metastore admins pass the privilege checks, as
everywhere in the stand-in (``privileges.py``), not steps 1–2. Every decision is one audit row
(``generateTemporaryPathCredential``, ``url`` and ``operation``), refusals with their status.

Before all of it, the metastore must allow external data access (``external_access_enabled``, false until a
metastore admin turns it on: ``metastore.py``), else 403 ``PERMISSION_DENIED`` for everyone, admins too.

LIMITATIONS: External volumes' paths are decided by the
location's privileges, not the volume's. ``dry_run`` is accepted and ignored.
"""

from __future__ import annotations

from typing import Any

from emulators.workspace.audit import Caller
from emulators.workspace.errors import ApiError, invalid
from emulators.workspace.privileges import Securable
from emulators.workspace.table_paths import StorageKey, reaches, storage_key, tables_at_path

ACTION = "generateTemporaryPathCredential"
OPERATIONS = ("PATH_READ", "PATH_READ_WRITE", "PATH_CREATE_TABLE")
#: the location's privileges each operation needs when no table is reached
_LOCATION_PRIVILEGES = {
    "PATH_READ": ("READ_FILES",),
    "PATH_READ_WRITE": ("READ_FILES", "WRITE_FILES"),
    "PATH_CREATE_TABLE": ("CREATE_EXTERNAL_TABLE",),
}


def _contains(location: StorageKey, path: StorageKey) -> bool:
    """Whether ``path`` is at or under ``location``, by whole segments (a url names no glob here)."""
    if location.scheme != path.scheme or location.container != path.container:
        return False
    if location.account and path.account and location.account != path.account:
        return False
    return path.parts[: len(location.parts)] == location.parts


def containing_location(locations: list[dict[str, Any]], url: str) -> dict[str, Any] | None:
    """The external location record whose url contains ``url`` (locations never overlap: at most one)."""
    path = storage_key(url)
    if path is None:
        return None
    for location in locations:
        key = storage_key(str(location.get("url") or ""))
        if key is not None and _contains(key, path):
            return location
    return None


def _managed_storage(store: Any) -> list[str]:
    """Every managed storage location: managed tables and volumes, catalogs' and schemas' folders."""
    found = [
        str(t["storage_location"])
        for _, t in store.scan("table")
        if t.get("table_type") == "MANAGED" and t.get("storage_location")
    ]
    found += [
        str(v["storage_location"])
        for _, v in store.scan("volume")
        if v.get("volume_type") == "MANAGED" and v.get("storage_location")
    ]
    for kind in ("catalog", "schema"):
        found += [str(r["storage_location"]) for _, r in store.scan(kind) if r.get("storage_location")]
    return found


def authorize_path_credential(ws: Any, caller: Caller, url: str, operation: str) -> None:
    """Allow the credential (one audit row) or raise Databricks' refusal (its audit row written first)."""
    params = {"url": url, "operation": operation}
    if operation not in OPERATIONS:
        raise invalid(f"Unsupported operation '{operation}'.")
    try:  # the metastore must allow external data access at all (``metastore.py``)
        ws.metastore.refuse_unless_external_access()
    except ApiError as error:
        ws.access.audit.record(caller, ACTION, params, error.status, error.message)
        raise
    location = containing_location(ws.external_storage.list_locations(), url)
    if location is None:
        raise _refuse(
            ws,
            caller,
            params,
            f"[NO_PARENT_EXTERNAL_LOCATION_FOR_PATH] No parent external location was found for path "
            f"'{url}'. Please create an external location on one of the parent paths and then retry.",
        )
    store = ws.catalog.store
    if any(reaches(url, managed) for managed in _managed_storage(store)):
        raise _refuse(
            ws,
            caller,
            params,
            f"Input path url '{url}' overlaps with managed storage within '{_call()}' call.",
        )
    tables = sorted(tables_at_path(url, (t for _, t in store.scan("table"))))
    if tables and operation == "PATH_CREATE_TABLE":
        raise _refuse(
            ws,
            caller,
            params,
            f"Input path url '{url}' overlaps with an existing table ({tables[0]}) within '{_call()}' call.",
        )
    privileges = ws.privileges
    securable = privileges.resolve("EXTERNAL_LOCATION", location["name"])
    params["external_location_name"] = securable.full_name
    needs: list[tuple[Securable, str]] = [(securable, "EXTERNAL_USE_LOCATION")]
    if tables:
        privilege = "MODIFY" if operation == "PATH_READ_WRITE" else "SELECT"
        for name in tables:
            table = privileges.resolve("TABLE", name)
            needs += [(table.parents[-1], "EXTERNAL_USE_SCHEMA"), (table, privilege)]
        params["table_full_names"] = ",".join(tables)
    else:
        needs += [(securable, p) for p in _LOCATION_PRIVILEGES[operation]]
    ws.access.use_all(caller, ACTION, needs, params)


def _call() -> str:
    return "GenerateTemporaryPathCredential"


def _refuse(ws: Any, caller: Caller, params: dict[str, Any], message: str) -> ApiError:
    error = ApiError(400, "INVALID_PARAMETER_VALUE", message)
    ws.access.audit.record(caller, ACTION, params, error.status, error.message)
    return error
