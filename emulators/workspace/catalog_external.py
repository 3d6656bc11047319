"""Unity Catalog storage credentials and external locations (state and behaviour; no HTTP here).

Shapes: external locations as the open Unity Catalog spec's ``ExternalLocationInfo`` /
``CreateExternalLocation`` / ``UpdateExternalLocation`` (../shared/specs/unitycatalog-api.yaml; the tests
validate every answer against it). Storage credentials are Databricks' ``/storage-credentials`` (the open
spec has only the newer ``/credentials``, AWS roles only): their shape is databricks-sdk's
``StorageCredentialInfo`` with ``azure_managed_identity`` {``access_connector_id``, ``managed_identity_id``,
``credential_id``}, the one credential type an Azure workspace backed by an Access Connector uses.

Errors as Databricks answers them: a duplicate is 400 ``STORAGE_CREDENTIAL_ALREADY_EXISTS`` /
``EXTERNAL_LOCATION_ALREADY_EXISTS`` (databricks-sdk: BadRequest; ``errors.already_exists``), a missing one
404 ``…_DOES_NOT_EXIST`` (NotFound). Two external locations may not overlap (the same URL, or one under the
other): 400 ``INVALID_PARAMETER_VALUE`` "Input path url '<url>' overlaps with an existing external location
within '<Call>' call. Conflicting location: <name>." — the message Databricks answers (quoted in
databrickslabs/ucx, ``hive_metastore/locations.py``, which catches ``InvalidParameterValue`` on it), and
the rule open-source Unity Catalog adopted (unitycatalog/unitycatalog PR #1284: an update is checked
against the other locations only).

LIMITATIONS: credentials are not checked against Azure (``skip_validation`` is accepted and ignored; the
stand-in signs its SAS tokens with its own account key whatever the credential — which paths get one at all
is ``path_access.py``'s decision: only inside an external location); no metastore root location; a catalog's
``storage_root`` is not required to lie under an external location; no ``validate-storage-credentials``,
no file events, no ``include_unbound``/``include_browse`` filtering.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.catalog_records import check_name, clean, now_ms
from emulators.workspace.errors import already_exists, invalid, not_found

#: ARM id of an Azure Databricks Access Connector, as Databricks requires for ``access_connector_id``
_ACCESS_CONNECTOR = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Databricks/accessConnectors/[^/]+$",
    re.IGNORECASE,
)
#: the identity types a storage credential may carry (databricks-sdk's CreateStorageCredential)
_IDENTITY_TYPES = (
    "azure_managed_identity",
    "azure_service_principal",
    "aws_iam_role",
    "databricks_gcp_service_account",
    "cloudflare_api_token",
)
_URL = re.compile(r"^(abfss://[^@/]+@[^/]+|s3://[^/]+|gs://[^/]+|r2://[^/]+)(/.*)?$")


def normalize_url(url: Any) -> str:
    """A location URL as compared for overlaps: validated, without trailing slashes."""
    if not isinstance(url, str) or not _URL.match(url):
        raise invalid(
            f"Invalid url '{url}': expected abfss://<container>@<account>.dfs.core.windows.net/<path> "
            "(or an s3://, gs://, r2:// URL)."
        )
    return url.rstrip("/")


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


class ExternalStorage:
    """Storage credentials (``storage-credential`` records by name) and external locations
    (``external-location`` records by name) in the workspace's :class:`RecordStore`."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store

    # storage credentials ------------------------------------------------------------------------
    def create_credential(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        name = check_name(body.get("name"), "storage credential")
        identity = _managed_identity(body)
        now = now_ms()
        record = clean(
            {
                "name": name,
                "full_name": name,
                "id": str(uuid.uuid4()),
                "comment": body.get("comment"),
                "read_only": bool(body.get("read_only", False)),
                "owner": principal,
                "created_at": now,
                "created_by": principal,
                "updated_at": now,
                "updated_by": principal,
                "isolation_mode": "ISOLATION_MODE_OPEN",
                "used_for_managed_storage": False,
                "azure_managed_identity": {**identity, "credential_id": str(uuid.uuid4())},
            }
        )
        if not self.store.insert("storage-credential", name, record):
            raise already_exists("storage credential", name)
        return record

    def get_credential(self, name: str) -> dict[str, Any]:
        return self._get("storage-credential", "storage credential", name)

    def list_credentials(self) -> list[dict[str, Any]]:
        return [body for _, body in self.store.scan("storage-credential")]

    def update_credential(self, name: str, body: dict[str, Any], principal: str) -> dict[str, Any]:
        with self.store.lock:
            record = self.get_credential(name)
            if any(body.get(kind) is not None for kind in _IDENTITY_TYPES):
                identity = _managed_identity(body)
                record["azure_managed_identity"] = {
                    **identity,
                    "credential_id": record["azure_managed_identity"]["credential_id"],
                }
            for field in ("comment", "owner", "read_only"):
                if body.get(field) is not None:
                    record[field] = body[field]
            old = record["name"]
            if self._rename("storage-credential", "storage credential", record, body.get("new_name")):
                record["full_name"] = record["name"]
                for key, location in list(self.store.scan("external-location")):
                    if location["credential_name"] == old:
                        location["credential_name"] = record["name"]
                        self.store.put("external-location", key, location)
            record["updated_at"], record["updated_by"] = now_ms(), principal
            self.store.put("storage-credential", record["name"], record)
            return record

    def delete_credential(self, name: str, force: bool) -> None:
        with self.store.lock:
            record = self.get_credential(name)
            dependents = [
                loc["name"] for loc in self.list_locations() if loc["credential_name"] == record["name"]
            ]
            if dependents and not force:
                raise invalid(
                    f"Storage credential '{record['name']}' has {len(dependents)} dependent external "
                    f"location(s) ({', '.join(dependents)}). Use force=true to delete it anyway."
                )
            self.store.delete("storage-credential", record["name"])

    # external locations -------------------------------------------------------------------------
    def create_location(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        name = check_name(body.get("name"), "external location")
        if not body.get("url"):
            raise invalid("url is required.")
        if not body.get("credential_name"):
            raise invalid("credential_name is required.")
        with self.store.lock:
            url = body["url"]
            self._check_overlap(normalize_url(url), url, None, "CreateExternalLocation")
            credential = self.get_credential(str(body["credential_name"]))
            now = now_ms()
            record = clean(
                {
                    "name": name,
                    "id": str(uuid.uuid4()),
                    "url": url,
                    "credential_name": credential["name"],
                    "credential_id": credential["id"],
                    "comment": body.get("comment"),
                    "read_only": bool(body.get("read_only", False)),
                    "fallback": bool(body.get("fallback", False)),
                    "owner": principal,
                    "created_at": now,
                    "created_by": principal,
                    "updated_at": now,
                    "updated_by": principal,
                    "isolation_mode": "ISOLATION_MODE_OPEN",
                }
            )
            if not self.store.insert("external-location", name, record):
                raise already_exists("external location", name)
            return record

    def get_location(self, name: str) -> dict[str, Any]:
        return self._get("external-location", "external location", name)

    def list_locations(self) -> list[dict[str, Any]]:
        return [body for _, body in self.store.scan("external-location")]

    def update_location(self, name: str, body: dict[str, Any], principal: str) -> dict[str, Any]:
        with self.store.lock:
            record = self.get_location(name)
            if body.get("url"):
                self._check_overlap(
                    normalize_url(body["url"]), body["url"], record["name"], "UpdateExternalLocation"
                )
                record["url"] = body["url"]
            if body.get("credential_name"):
                credential = self.get_credential(str(body["credential_name"]))
                record["credential_name"], record["credential_id"] = credential["name"], credential["id"]
            for field in ("comment", "owner", "read_only", "fallback"):
                if body.get(field) is not None:
                    record[field] = body[field]
            self._rename("external-location", "external location", record, body.get("new_name"))
            record["updated_at"], record["updated_by"] = now_ms(), principal
            self.store.put("external-location", record["name"], record)
            return record

    def delete_location(self, name: str) -> None:
        record = self.get_location(name)
        self.store.delete("external-location", record["name"])

    def _get(self, kind: str, what: str, name: str) -> dict[str, Any]:
        record = self.store.get(kind, name.lower())
        if record is None:
            raise not_found(what, name)
        return record

    def _rename(self, kind: str, what: str, record: dict[str, Any], new_name: Any) -> bool:
        """Give ``record`` its ``new_name`` (when one is asked); a taken name is a duplicate."""
        if not new_name or check_name(new_name, what) == record["name"]:
            return False
        new = check_name(new_name, what)
        if self.store.get(kind, new):
            raise already_exists(what, new)
        self.store.delete(kind, record["name"])
        record["name"] = new
        return True

    def _check_overlap(self, url: str, given: str, own_name: str | None, call: str) -> None:
        for other in self.list_locations():
            if other["name"] != own_name and _overlaps(url, normalize_url(other["url"])):
                raise invalid(
                    f"Input path url '{given}' overlaps with an existing external location within "
                    f"'{call}' call. Conflicting location: {other['name']}."
                )


def _managed_identity(body: dict[str, Any]) -> dict[str, str]:
    """The ``azure_managed_identity`` of a create/update body: exactly one identity type, and that one."""
    given = [kind for kind in _IDENTITY_TYPES if body.get(kind) is not None]
    if len(given) != 1:
        raise invalid(f"Exactly one of {', '.join(_IDENTITY_TYPES)} must be given.")
    if given[0] != "azure_managed_identity":
        raise invalid(
            f"The local workspace is an Azure workspace: {given[0]} is not accepted, "
            "use azure_managed_identity (an Access Connector)."
        )
    identity = body["azure_managed_identity"]
    connector = identity.get("access_connector_id") if isinstance(identity, dict) else None
    if not isinstance(connector, str) or not _ACCESS_CONNECTOR.match(connector):
        raise invalid(
            "azure_managed_identity.access_connector_id must be the resource id of an Access Connector: "
            "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Databricks/accessConnectors/<name>."
        )
    return clean(
        {"access_connector_id": connector, "managed_identity_id": identity.get("managed_identity_id")}
    )
