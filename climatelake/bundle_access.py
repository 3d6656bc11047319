"""Who may do what: the bundle's principals, catalog, schemas and grants, applied through databricks-sdk.

Three inputs, all in ``databricks/``:
- ``principals.yml`` — the product's service principals and groups. Asset Bundles manage no principals, so
  :func:`ensure_principals` makes them (``w.service_principals.create``, ``w.groups.create``) where they are
  missing: the local deploy's stand-in for an admin adding them on Azure Databricks (service principals from
  Microsoft Entra ID), where this step finds them and changes nothing.
- ``databricks.yml`` variables with ``lookup: service_principal: <display name>`` — resolved to the
  principal's application ID, the name grants and ``run_as`` use (Asset Bundles' variable lookups).
- ``resources/unity_catalog.yml`` — Asset Bundles' ``catalogs``, ``schemas`` and ``external_locations``
  resources with ``grants``.

:func:`apply_catalog_resources` creates the catalog, schemas and external locations that are missing and
brings each declared principal's privileges to exactly the declared list (``w.grants.update`` with ``add``
and ``remove``). An external location needs its storage credential: on Azure the deploy makes it from the
Access Connector first (``cloud_deploy.ensure_credential``) and the location too, so nothing is created
here; locally a missing credential is made with :data:`LOCAL_ACCESS_CONNECTOR` — the local deploy's stand-in
for that admin step, as it makes the principals — and the operator who deploys owns both (the creator is an
external location's owner).
Choice: a deploy is authoritative **per declared principal** — privileges given on the same securable to a
principal the bundle does not name are left alone (Terraform's ``databricks_grants``, which Asset Bundles
use, replaces all grants of the securable; here an operator's ad-hoc grant to a person survives a deploy).
A second deploy with nothing changed makes no write.

:func:`ensure_external_access` turns on the metastore's external data access, which Asset Bundles do not
manage either: the bronze and employees jobs ask Unity Catalog for temporary path credentials, and
Databricks vends them only when ``external_access_enabled`` is true (false by default; REST reference,
"Generate a temporary path credential"). Only a metastore admin may change it; a deployer who is not one
gets a message naming the step instead of jobs that fail later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound, PermissionDenied
from databricks.sdk.service.catalog import AzureManagedIdentityRequest, PermissionsChange, Privilege
from databricks.sdk.service.workspace import AclPermission

#: what a lookup resolves: (kind, display name) → the name grants use
Lookup = Callable[[str, str], str]
#: the Access Connector a local storage credential names (the workspace stand-in asks for an ARM id of one;
#: nothing checks it against Azure there)
LOCAL_ACCESS_CONNECTOR = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/climatelake-local/providers/"
    "Microsoft.Databricks/accessConnectors/climatelake-local"
)


@dataclass(frozen=True)
class Securable:
    """A catalog, schema or external location of the bundle and the privileges it declares per principal;
    ``spec`` is an external location's ``url``, ``credential_name`` and ``comment``."""

    kind: str  # "catalog" | "schema" | "external_location"
    full_name: str
    grants: dict[str, frozenset[str]] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict, compare=False)


def read_principals(bundle_root: Path) -> dict[str, Any]:
    return yaml.safe_load((bundle_root / "principals.yml").read_text()) or {}


def _filtered(listing, attribute: str, value: str):
    return next((p for p in listing if (getattr(p, attribute, None) or "") == value), None)


def service_principal(w: WorkspaceClient, name: str):
    """The service principal whose display name is ``name``, or None."""
    return _filtered(w.service_principals.list(filter=f'displayName eq "{name}"'), "display_name", name)


def ensure_principals(w: WorkspaceClient, bundle_root: Path) -> dict[str, str]:
    """Make the service principals and groups of ``principals.yml`` that are missing; returns each service
    principal's display name → application ID. Group members are the operator's to add (w.groups.patch):
    the product declares none."""
    declared = read_principals(bundle_root)
    application_ids: dict[str, str] = {}
    for name in declared.get("service_principals") or {}:
        found = service_principal(w, name) or w.service_principals.create(display_name=name)
        application_ids[name] = found.application_id or ""
    for name in declared.get("groups") or {}:
        if _filtered(w.groups.list(filter=f'displayName eq "{name}"'), "display_name", name) is None:
            w.groups.create(display_name=name)
    return application_ids


def service_principal_lookup(w: WorkspaceClient) -> Lookup:
    """Asset Bundles' ``lookup:`` for service principals: display name → application ID (other lookup kinds
    the bundle does not use are refused with the kind named)."""
    cache: dict[str, str] = {}

    def lookup(kind: str, name: str) -> str:
        if kind != "service_principal":
            raise ValueError(f"bundle variable lookup of kind {kind!r} is not supported here")
        if name not in cache:
            found = service_principal(w, name)
            if found is None or not found.application_id:
                raise LookupError(
                    f"no service principal named {name!r} in the workspace; `climatelake deploy` makes it "
                    "locally (databricks/principals.yml), on Azure an admin adds it"
                )
            cache[name] = found.application_id
        return cache[name]

    return lookup


def load_catalog_resources(resources: dict[str, Any]) -> list[Securable]:
    """The resolved ``catalogs``, ``schemas`` and ``external_locations`` resources as securables, in that
    order."""

    def grants(spec: dict[str, Any]) -> dict[str, frozenset[str]]:
        return {g["principal"]: frozenset(g.get("privileges") or []) for g in spec.get("grants") or []}

    securables = [
        Securable("catalog", spec["name"], grants(spec))
        for spec in (resources.get("catalogs") or {}).values()
    ]
    securables += [
        Securable("schema", f"{spec['catalog_name']}.{spec['name']}", grants(spec))
        for spec in (resources.get("schemas") or {}).values()
    ]
    securables += [
        Securable(
            "external_location",
            spec["name"],
            grants(spec),
            {k: spec.get(k) for k in ("url", "credential_name", "comment")},
        )
        for spec in (resources.get("external_locations") or {}).values()
    ]
    return securables


def apply_catalog_resources(
    w: WorkspaceClient, securables: list[Securable], create_missing: bool = True
) -> list[str]:
    """Create missing catalogs and schemas (unless ``create_missing`` is False), then bring the declared
    grants about; returns what changed."""
    changed: list[str] = []
    for securable in securables:
        if create_missing and _ensure_exists(w, securable):
            changed.append(f"{securable.kind} {securable.full_name}: created")
        have = _current_grants(w, securable)
        changes = []
        for principal, wanted in securable.grants.items():
            held = have.get(principal.lower(), frozenset())
            add, remove = sorted(wanted - held), sorted(held - wanted)
            if add or remove:
                changes.append(
                    PermissionsChange(
                        principal=principal,
                        add=[Privilege(p) for p in add] or None,
                        remove=[Privilege(p) for p in remove] or None,
                    )
                )
                changed.append(f"{securable.kind} {securable.full_name}: {principal} +{add} -{remove}")
        if changes:
            w.grants.update(securable.kind, securable.full_name, changes=changes)
    return changed


def ensure_external_access(w: WorkspaceClient) -> list[str]:
    """The metastore's external data access on (see the module docstring); returns what changed. Raises
    ``RuntimeError`` with the step to take when the caller may not change it."""
    metastore_id = w.metastores.current().metastore_id or ""
    current = w.metastores.get(metastore_id)
    if current.external_access_enabled:
        return []
    try:
        w.metastores.update(metastore_id, external_access_enabled=True)
    except PermissionDenied as error:
        raise RuntimeError(
            f"the metastore {current.name or metastore_id} does not allow external data access, which the "
            "bronze and employees jobs need for temporary path credentials, and only a metastore admin may "
            "turn it on: Catalog > Metastore > Details > External data access, or "
            f"w.metastores.update('{metastore_id}', external_access_enabled=True) ({error})"
        ) from None
    return [f"metastore {current.name or metastore_id}: external data access enabled"]


def apply_secret_scopes(w: WorkspaceClient, scopes: dict[str, Any], create_missing: bool = True) -> list[str]:
    """Create the bundle's ``secret_scopes`` that are missing (Databricks-backed; unless ``create_missing``
    is False) and put each declared ACL that differs (``w.secrets.put_acl``; one ACL per principal, so
    putting replaces). ACLs govern a Key Vault-backed scope too: who may read its secrets through Databricks
    (Secrets API: "ACLs can be applied to control permissions for all secrets within a scope")."""
    changed: list[str] = []
    existing = {s.name for s in w.secrets.list_scopes()}
    for spec in scopes.values():
        name = spec["name"]
        if name not in existing and create_missing:
            w.secrets.create_scope(name)
            changed.append(f"secret scope {name}: created")
        have = {
            (a.principal or "").lower(): a.permission.value for a in w.secrets.list_acls(name) if a.permission
        }
        for permission in spec.get("permissions") or []:
            principal = (
                permission.get("service_principal_name")
                or permission.get("user_name")
                or permission["group_name"]
            )
            if have.get(principal.lower()) != permission["level"]:
                w.secrets.put_acl(name, principal, AclPermission(permission["level"]))
                changed.append(f"secret scope {name}: {principal} {permission['level']}")
    return changed


def _ensure_exists(w: WorkspaceClient, securable: Securable) -> bool:
    if securable.kind == "external_location":
        return _ensure_location(w, securable)
    try:
        (w.catalogs if securable.kind == "catalog" else w.schemas).get(securable.full_name)
        return False
    except NotFound:
        if securable.kind == "catalog":
            w.catalogs.create(name=securable.full_name)
        else:
            catalog, schema = securable.full_name.split(".", 1)
            w.schemas.create(name=schema, catalog_name=catalog)
        return True


def _ensure_location(w: WorkspaceClient, securable: Securable) -> bool:
    """A missing external location made with the declared url and credential (the credential made first when
    it is missing too, with :data:`LOCAL_ACCESS_CONNECTOR`). An existing one is left as it is."""
    try:
        w.external_locations.get(securable.full_name)
        return False
    except NotFound:
        pass
    spec = securable.spec
    try:
        w.storage_credentials.get(spec["credential_name"])
    except NotFound:
        w.storage_credentials.create(
            spec["credential_name"],
            azure_managed_identity=AzureManagedIdentityRequest(access_connector_id=LOCAL_ACCESS_CONNECTOR),
            comment=spec.get("comment"),
        )
    w.external_locations.create(
        securable.full_name, spec["url"], spec["credential_name"], comment=spec.get("comment")
    )
    return True


def _current_grants(w: WorkspaceClient, securable: Securable) -> dict[str, frozenset[str]]:
    """Privileges granted directly on the securable, by lower-case principal."""
    listing = w.grants.get(securable.kind, securable.full_name)
    return {
        (a.principal or "").lower(): frozenset(p.value for p in a.privileges or [])
        for a in listing.privilege_assignments or []
    }
