"""The workspace's one Unity Catalog metastore (state and behaviour; no HTTP): its ``MetastoreInfo`` and the
one setting the product depends on, ``external_access_enabled``.

Why it matters: Databricks vends temporary path credentials only when the metastore allows external data
access — REST reference, "Generate a temporary path credential": "The metastore must have
external_access_enabled flag set to true (default false)"; "Enable external data access to Unity
Catalog": "This option is disabled by default to prevent unauthorized external access", and only a
metastore admin turns it on. The product's bronze and employees jobs ask for such credentials, so a deploy
that forgets the setting fails on Azure; here it fails the same way (``path_access.py``). With it off, the
refusal is 403 ``PERMISSION_DENIED`` "External Data Access is disabled for metastore …" — the words quoted
from a real run in a public workshop guide (the text after "metastore", here its name and id, is a choice).

Shapes are databricks-sdk's (``w.metastores.current()`` → ``MetastoreAssignment``, ``summary()`` →
``GetMetastoreSummaryResponse``, ``get(id)`` / ``update(id, …)`` → ``MetastoreInfo``). The id is the one the
Delta Sharing server already names in its endpoint (``sharing-metastore`` record), so both agree.

Choices and limits: the initial value of ``external_access_enabled`` is Databricks' default, false; an
update needs a metastore admin (403 ``PERMISSION_DENIED`` otherwise, as the setting is "only displayed for
sufficiently privileged users") and may change only ``external_access_enabled`` and
``delta_sharing_recipient_token_lifetime_in_seconds`` (recorded, not applied) — any other field is 400
``INVALID_PARAMETER_VALUE``; no metastore creation, deletion, assignment or listing.
"""

from __future__ import annotations

import uuid
from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.catalog_records import now_ms
from emulators.workspace.errors import invalid, not_found, permission_denied

#: the metastore's name, as ``metastore_summary`` shows it
NAME = "climatelake-local"
#: the workspace id a current-metastore-assignment names (a local workspace has no account)
WORKSPACE_ID = 1
_UPDATABLE = frozenset(["external_access_enabled", "delta_sharing_recipient_token_lifetime_in_seconds"])


class Metastore:
    def __init__(self, store: RecordStore, managed_root: str, is_admin: Any) -> None:
        self.store = store
        self.managed_root = managed_root
        #: principal → whether it is a metastore admin (``Privileges.is_admin``)
        self.is_admin = is_admin
        shared = store.get("sharing-metastore", "id")
        if shared is None:
            store.insert("sharing-metastore", "id", {"id": str(uuid.uuid4())})
            shared = store.get("sharing-metastore", "id") or {}
        self.metastore_id: str = shared["id"]
        if store.get("metastore", self.metastore_id) is None:
            created = now_ms()
            store.insert(
                "metastore",
                self.metastore_id,
                {
                    "metastore_id": self.metastore_id,
                    "name": NAME,
                    "cloud": "azure",
                    "region": "local",
                    "storage_root": managed_root,
                    "privilege_model_version": "1.0",
                    "delta_sharing_scope": "INTERNAL_AND_EXTERNAL",
                    "delta_sharing_organization_name": NAME,
                    "external_access_enabled": False,
                    "global_metastore_id": f"azure:local:{self.metastore_id}",
                    "created_at": created,
                    "created_by": "system",
                    "updated_at": created,
                    "updated_by": "system",
                },
            )

    def info(self) -> dict[str, Any]:
        return dict(self.store.get("metastore", self.metastore_id) or {})

    def get(self, metastore_id: str) -> dict[str, Any]:
        if metastore_id != self.metastore_id:
            raise not_found("metastore", metastore_id)
        return self.info()

    def assignment(self) -> dict[str, Any]:
        return {
            "metastore_id": self.metastore_id,
            "workspace_id": WORKSPACE_ID,
            "default_catalog_name": "hive_metastore",
        }

    @property
    def external_access_enabled(self) -> bool:
        return bool(self.info().get("external_access_enabled"))

    def update(self, metastore_id: str, body: dict[str, Any], principal: str) -> dict[str, Any]:
        record = self.get(metastore_id)
        if not self.is_admin(principal):
            raise permission_denied(f"User does not have MANAGE on Metastore '{record['name']}'.")
        given = {k: v for k, v in body.items() if k != "id" and v is not None}
        unsupported = sorted(set(given) - _UPDATABLE)
        if unsupported:
            raise invalid(f"The local workspace cannot update {', '.join(unsupported)} of a metastore.")
        if "external_access_enabled" in given and not isinstance(given["external_access_enabled"], bool):
            raise invalid("external_access_enabled must be a boolean.")
        with self.store.lock:
            record = self.info()
            record.update(given, updated_at=now_ms(), updated_by=principal)
            self.store.put("metastore", self.metastore_id, record)
        return record

    def refuse_unless_external_access(self) -> None:
        """Raise Databricks' refusal when external data access is off (see the module docstring)."""
        if not self.external_access_enabled:
            raise permission_denied(
                f"External Data Access is disabled for metastore '{NAME}' ({self.metastore_id}). A metastore "
                "admin must enable it (Catalog > Metastore > Details, or w.metastores.update(id, "
                "external_access_enabled=True))."
            )
