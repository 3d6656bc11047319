"""Unity Catalog's privilege model (state and behaviour; no HTTP — routes in ``routes/permissions.py``).

Follows Databricks' documented semantics (Privilege Model 1.0):
- Securables: METASTORE, CATALOG, SCHEMA, TABLE (views too), VOLUME, FUNCTION, SHARE, RECIPIENT,
  EXTERNAL_LOCATION, each with
  the privileges that apply to it (:data:`APPLICABLE`; "Unity Catalog privileges reference",
  docs.databricks.com/data-governance/unity-catalog/access-control/privileges-reference). Privileges are
  named as the REST API and databricks-sdk name them (``USE_CATALOG``); ``USE CATALOG`` (SQL's and the open
  Unity Catalog spec's spelling) is accepted too.
- Inheritance: "privileges are inherited downward … if you grant a privilege on a catalog or schema, it is
  automatically granted to all current and future objects within" it; "privileges granted on a Unity
  Catalog metastore are not inherited" ("Manage privileges in Unity Catalog", Inheritance model).
- Ownership: "owners of an object are automatically granted all privileges on that object … object owners
  can grant privileges on the object itself and on all of its child objects. This means that owners of a
  schema do not automatically have all privileges on the tables in the schema" ("Manage Unity Catalog
  object ownership"). The owner of a securable is its record's ``owner`` (a user, service principal or
  group: a group's members own it too).
- Who may change grants: "the owner of the object, the owner of the catalog or schema that contains the
  object, a user with the MANAGE privilege on the object, a metastore admin" ("Manage privileges").
- Using an object needs the path to it: a table is read with ``USE_CATALOG`` on its catalog, ``USE_SCHEMA``
  on its schema and ``SELECT`` on it, each granted there or inherited (REST reference, Tables > Get).
- Metastore admins (``WorkspaceConfig.metastore_admins``, a user or a group) may manage and see everything.

Choices where the documentation leaves room (or where this step stops short):
- Metastore admins pass every check, data reads included. On Databricks a metastore admin manages
  privileges and ownership of any object but reads data through the grants it gives itself ("Admin
  privileges in Unity Catalog"); here the operator's tests and tools read everything without granting
  themselves first. The local stack's only admin is the operator: the product's own principals (gateway,
  functions, jobs) are not admins and hold the bundle's grants (tests/test_product_principals.py).
- ``ALL_PRIVILEGES`` stands for every privilege applicable at the level it is granted, current and future,
  except ``MANAGE`` (and ``EXTERNAL_USE_SCHEMA``), as the reference says of it; it is kept as one privilege
  in the answers, as Databricks shows it.
- Seeing metadata (get and list of catalogs, schemas, tables, volumes, functions): see
  :meth:`Privileges.can_see`. The owner of a table (or a ``MANAGE`` holder) still needs the path to it, as
  the REST reference says of tables' get. It names only ``SELECT`` for a table; any privilege that applies
  to a table (``MODIFY`` too) counts here. Owning something inside a catalog without any grant there does
  not make the catalog visible.
- Changing grants and owners needs no path (the owner of a table may grant on it without ``USE_SCHEMA``).
- Temporary table credentials: ``READ`` needs ``SELECT`` with the path; ``READ_WRITE`` needs ``MODIFY``
  with the path (issue 16). Databricks also asks ``EXTERNAL_USE_SCHEMA`` for credential vending to outside
  engines; not asked here (every engine of the product reads through vended credentials).
- EXTERNAL_LOCATION (issue 16): its record is ``catalog_external.py``'s, its owner the record's ``owner`` (the
  creator: "An external location's creator is its initial owner", SQL reference "External locations"); it
  has no parents (grants on the metastore are not inherited). Its privileges as the privileges reference
  lists them for external locations; ``EXTERNAL_USE_LOCATION`` is left out of ``ALL_PRIVILEGES`` and of
  what owning it gives, as ``EXTERNAL_USE_SCHEMA`` is (databricks-sdk's
  ``generate_temporary_path_credentials`` docstring: it "can only be granted by external location
  owners", the wording it uses of ``EXTERNAL_USE_SCHEMA``).
- Who may grant or revoke the two external-use privileges (:meth:`Privileges.owner_only_reason`): only an
  owner — ``EXTERNAL_USE_LOCATION`` the external location's owner (databricks-sdk's
  ``generate_temporary_path_credentials`` docstring: "can only be granted by external location owners"),
  ``EXTERNAL_USE_SCHEMA`` the owner of the schema's catalog ("Enable external data access to Unity
  Catalog": "This privilege must always be granted explicitly. Only the owner of the parent catalog can
  grant it."). A ``MANAGE`` holder or the owner of the schema alone is refused 403 ``PERMISSION_DENIED``.
  Choice: metastore admins may too (they may make themselves the owner anyway), and revoking needs what
  granting needs (the pages speak only of granting).
- Grants are keyed by the securables' ids (catalog id / schema id / table id): a rename keeps them, a drop
  and re-create (a new id) loses them, as on Databricks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.errors import ApiError, invalid, not_found, permission_denied

#: the grantable privileges of each securable type (the reference's table, for the types served here)
_DATA = ("SELECT", "MODIFY", "REFRESH", "APPLY_TAG")
_CONTAINER = (
    "ALL_PRIVILEGES",
    "MANAGE",
    "USE_SCHEMA",
    "CREATE_TABLE",
    "CREATE_FUNCTION",
    "CREATE_VOLUME",
    "CREATE_MATERIALIZED_VIEW",
    "CREATE_MODEL",
    "EXECUTE",
    "READ_VOLUME",
    "WRITE_VOLUME",
    "EXTERNAL_USE_SCHEMA",
    *_DATA,
)
APPLICABLE: dict[str, frozenset[str]] = {
    "METASTORE": frozenset(
        [
            "CREATE_CATALOG",
            "CREATE_EXTERNAL_LOCATION",
            "CREATE_STORAGE_CREDENTIAL",
            "CREATE_SHARE",
            "CREATE_RECIPIENT",
            "CREATE_PROVIDER",
            "USE_SHARE",
            "USE_RECIPIENT",
            "USE_PROVIDER",
            "MANAGE_ALLOWLIST",
        ]
    ),
    "CATALOG": frozenset([*_CONTAINER, "BROWSE", "USE_CATALOG", "CREATE_SCHEMA"]),
    "SCHEMA": frozenset(_CONTAINER),
    "TABLE": frozenset(["ALL_PRIVILEGES", "MANAGE", *_DATA]),
    "VOLUME": frozenset(["ALL_PRIVILEGES", "MANAGE", "READ_VOLUME", "WRITE_VOLUME", "APPLY_TAG"]),
    "FUNCTION": frozenset(["ALL_PRIVILEGES", "MANAGE", "EXECUTE", "APPLY_TAG"]),
    "SHARE": frozenset(["MANAGE", "SET_SHARE_PERMISSION"]),
    "RECIPIENT": frozenset(["MANAGE"]),
    "EXTERNAL_LOCATION": frozenset(
        [
            "ALL_PRIVILEGES",
            "MANAGE",
            "BROWSE",
            "CREATE_EXTERNAL_TABLE",
            "CREATE_EXTERNAL_VOLUME",
            "CREATE_MANAGED_STORAGE",
            "READ_FILES",
            "WRITE_FILES",
            "EXTERNAL_USE_LOCATION",
        ]
    ),
}
#: what ALL_PRIVILEGES does not stand for
_NOT_IN_ALL = frozenset(["MANAGE", "EXTERNAL_USE_SCHEMA", "EXTERNAL_USE_LOCATION"])
#: securable type → its record kind in the workspace store, and its id field
_KINDS = {
    "CATALOG": ("catalog", "id", 1),
    "SCHEMA": ("schema", "schema_id", 2),
    "TABLE": ("table", "table_id", 3),
    "VOLUME": ("volume", "volume_id", 3),
    "FUNCTION": ("function", "function_id", 3),
    "SHARE": ("share", "id", 1),
    "RECIPIENT": ("recipient", "id", 1),
    "EXTERNAL_LOCATION": ("external-location", "id", 1),
}
_ALIASES = {"DATABASE": "SCHEMA", "VIEW": "TABLE", "MATERIALIZED_VIEW": "TABLE"}


def securable_type(value: str) -> str:
    kind = re.sub(r"[\s-]+", "_", str(value or "").strip().upper())
    kind = _ALIASES.get(kind, kind)
    if kind not in APPLICABLE:
        raise invalid(f"Unsupported securable type '{value}'.")
    return kind


def privilege_name(value: Any) -> str:
    return str(value or "").strip().upper().replace(" ", "_")


def label(kind: str) -> str:
    labels = {"METASTORE": "Metastore", "RECIPIENT": "Recipient", "EXTERNAL_LOCATION": "External Location"}
    return labels.get(kind, kind.capitalize())


@dataclass
class Securable:
    """A securable resolved from the store: its type, name, grant key, owner and parents (nearest last)."""

    type: str
    full_name: str
    key: str
    owner: str | None
    parents: list[Securable] = field(default_factory=list)
    #: its grants, read once per request (a Securable is resolved anew for each request, so a revoke
    #: shows on the next one)
    grants: dict[str, list[str]] | None = field(default=None, repr=False)

    @property
    def levels(self) -> list[Securable]:
        """Where inherited privileges come from: itself, then its schema, then its catalog."""
        return [self, *reversed(self.parents)]


class Privileges:
    """Grants per securable, and the decisions made from them.

    ``identities(name)`` gives a principal's name and its groups' names, lower-case (``principals.py``);
    ``admins`` are the metastore admins (user or group names).
    """

    def __init__(
        self,
        store: RecordStore,
        identities: Callable[[str], frozenset[str]],
        admins: list[str],
        principal_exists: Callable[[str], bool] = lambda name: True,
    ) -> None:
        self.store = store
        self.identities = identities
        self.admins = {a.lower() for a in admins}
        self.principal_exists = principal_exists

    # securables ---------------------------------------------------------------------------------
    def resolve(self, kind: str, full_name: str) -> Securable:
        kind = securable_type(kind)
        if kind == "METASTORE":
            return Securable("METASTORE", full_name or "metastore", "metastore", None)
        store_kind, id_field, parts = _KINDS[kind]
        names = str(full_name or "").lower().split(".")
        if len(names) != parts or not all(names):
            raise invalid(f"Invalid {kind.lower()} full name '{full_name}'.")
        record = self.store.get(store_kind, ".".join(names))
        if record is None:
            raise not_found(store_kind, full_name)
        parents: list[Securable] = []
        if parts == 3:
            schema = self.resolve("SCHEMA", f"{names[0]}.{names[1]}")
            parents = [*schema.parents, schema]
        elif parts == 2:
            parents = [self.resolve("CATALOG", names[0])]
        prefix = parents[-1].key + "/" if parents else f"{kind.lower()}:"
        key = prefix + str(record.get(id_field) or ".".join(names))
        return Securable(kind, ".".join(names), key, record.get("owner"), parents)

    # grants -------------------------------------------------------------------------------------
    def assignments(self, securable: Securable) -> dict[str, list[str]]:
        if securable.grants is None:
            record = self.store.get("grant", securable.key)
            securable.grants = dict(record["assignments"]) if record else {}
        return dict(securable.grants)

    def update(
        self, securable: Securable, changes: list[dict[str, Any]], grantor: str | None = None
    ) -> dict[str, list[str]]:
        """Apply ``[{"principal", "add", "remove"}]`` to the securable's grants (all or nothing). With
        ``grantor``, the privileges only owners may change are checked for it (:meth:`owner_only_reason`);
        the caller has checked that it may manage the securable."""
        applicable = APPLICABLE[securable.type]
        for change in changes:
            if not isinstance(change, dict) or not change.get("principal"):
                raise invalid("Every change needs a principal.")
            if not self.principal_exists(change["principal"]):
                raise ApiError(
                    404,
                    "PRINCIPAL_DOES_NOT_EXIST",
                    f"Could not find principal with name {change['principal']}.",
                )
            for privilege in [*(change.get("add") or []), *(change.get("remove") or [])]:
                if privilege_name(privilege) not in applicable:
                    raise invalid(
                        f"Privilege {privilege_name(privilege)} is not applicable to this entity "
                        f"[{securable.full_name}:{securable.type}]."
                    )
        if grantor is not None and (reason := self.owner_only_reason(grantor, securable, changes)):
            raise self.denied(grantor, reason)
        with self.store.lock:
            securable.grants = None  # read again under the lock: another request may have changed them
            current = self.assignments(securable)
            for change in changes:
                principal = change["principal"]
                held = set(current.pop(principal, []))
                held |= {privilege_name(p) for p in change.get("add") or []}
                held -= {privilege_name(p) for p in change.get("remove") or []}
                if held:
                    current[principal] = sorted(held)
            body = {
                "securable_type": securable.type,
                "full_name": securable.full_name,
                "assignments": current,
            }
            self.store.put("grant", securable.key, body)
            securable.grants = dict(current)
            return current

    def owner_only_reason(
        self, principal: str, securable: Securable, changes: list[dict[str, Any]]
    ) -> str | None:
        """Why ``principal`` may not make ``changes`` when they grant or revoke a privilege only an owner
        may give (see the module docstring), as a PERMISSION_DENIED reason; None when it may."""
        touched = {
            privilege_name(p)
            for change in changes
            for p in [*(change.get("add") or []), *(change.get("remove") or [])]
        }
        if "EXTERNAL_USE_LOCATION" in touched and securable.type == "EXTERNAL_LOCATION":
            owner = securable
        elif "EXTERNAL_USE_SCHEMA" in touched and securable.type in ("CATALOG", "SCHEMA"):
            owner = securable if securable.type == "CATALOG" else securable.parents[0]
        else:
            return None
        identities = self.identities(principal)
        if self.is_admin(principal, identities) or self._owns(identities, owner):
            return None
        return f"ownership of {label(owner.type)} '{owner.full_name}'"

    def under(self, securable: Securable) -> list[dict[str, list[str]]]:
        """The grants on everything inside a catalog or schema."""
        return [record["assignments"] for _, record in self.store.scan("grant", securable.key + "/")]

    # decisions ----------------------------------------------------------------------------------
    def is_admin(self, principal: str, identities: frozenset[str] | None = None) -> bool:
        if principal.lower() in self.admins:
            return True
        return bool(self.admins & (identities or self.identities(principal)))

    def _owns(self, identities: frozenset[str], securable: Securable) -> bool:
        return bool(securable.owner) and securable.owner.lower() in identities

    def _granted(self, identities: frozenset[str], securable: Securable) -> dict[str, set[str]]:
        """Privileges granted on this very securable to any of the identities: privilege → principals."""
        found: dict[str, set[str]] = {}
        for principal, privileges in self.assignments(securable).items():
            if principal.lower() in identities:
                for privilege in privileges:
                    found.setdefault(privilege, set()).add(principal)
        return found

    def holds(self, identities: frozenset[str], privilege: str, securable: Securable) -> bool:
        """Whether the identities hold ``privilege`` on ``securable``: granted there or on a parent (or
        ``ALL_PRIVILEGES`` there), or owning the securable itself."""
        if self._owns(identities, securable) and privilege not in _NOT_IN_ALL:
            return True
        for level in securable.levels:
            granted = self._granted(identities, level)
            if privilege in granted or ("ALL_PRIVILEGES" in granted and privilege not in _NOT_IN_ALL):
                return True
        return False

    def effective(self, securable: Securable, principal: str | None = None) -> list[dict[str, Any]]:
        """Each principal's privileges on the securable, granted there or inherited from its parents
        (``inherited_from_type``/``inherited_from_name``), as ``EffectivePrivilegeAssignment``s."""
        applicable = APPLICABLE[securable.type]
        answer: dict[str, list[dict[str, Any]]] = {}
        for level in securable.levels:
            for grantee, privileges in sorted(self.assignments(level).items()):
                if principal and grantee.lower() != principal.lower():
                    continue
                for privilege in privileges:
                    if privilege not in applicable:
                        continue
                    item: dict[str, Any] = {"privilege": privilege}
                    if level is not securable:
                        item.update(inherited_from_type=level.type, inherited_from_name=level.full_name)
                    answer.setdefault(grantee, []).append(item)
        return [{"principal": p, "privileges": privileges} for p, privileges in answer.items()]

    def can_manage(self, principal: str, securable: Securable) -> bool:
        """Owner of it or of a parent, MANAGE on it (or inherited), or a metastore admin."""
        identities = self.identities(principal)
        if self.is_admin(principal, identities):
            return True
        if any(self._owns(identities, level) for level in securable.levels):
            return True
        return self.holds(identities, "MANAGE", securable)

    def _path(self, identities: frozenset[str], securable: Securable) -> str | None:
        """The first ``USE_*`` privilege missing on the way to the securable, as ``"USE_CATALOG on
        Catalog 'c'"``; None when the path is open."""
        for parent in securable.parents:
            privilege = "USE_CATALOG" if parent.type == "CATALOG" else "USE_SCHEMA"
            if not self.holds(identities, privilege, parent):
                return f"{privilege.replace('_', ' ')} on {label(parent.type)} '{parent.full_name}'"
        return None

    def can_see(self, principal: str, securable: Securable) -> bool:
        """Whether the principal may read the securable's metadata (get it, find it in a list): a metastore
        admin; the owner of its catalog; ``BROWSE`` on its catalog; or, with the path open, the owner of it
        or of its schema, or a holder of a privilege that applies to it (granted on it or inherited), or —
        for a catalog or schema — of a grant on something inside it (REST reference: Catalogs, Schemas,
        Tables > Get)."""
        identities = self.identities(principal)
        if self.is_admin(principal, identities):
            return True
        catalog = (
            securable if securable.type == "CATALOG" else securable.parents[0] if securable.parents else None
        )
        if catalog is not None and (
            self._owns(identities, catalog) or self.holds(identities, "BROWSE", catalog)
        ):
            return True
        if self._path(identities, securable):
            return False
        if any(self._owns(identities, level) for level in securable.levels):
            return True
        applicable = APPLICABLE[securable.type]
        if any(set(self._granted(identities, level)) & applicable for level in securable.levels):
            return True
        if securable.type in ("CATALOG", "SCHEMA"):
            return any(any(p.lower() in identities for p in grants) for grants in self.under(securable))
        return False

    def missing(self, principal: str, securable: Securable, privilege: str) -> str | None:
        """What the principal lacks to use ``privilege`` on the securable (the path, then the privilege),
        as the reason of a PERMISSION_DENIED; None when allowed."""
        identities = self.identities(principal)
        if self.is_admin(principal, identities):
            return None
        lacking = self._path(identities, securable)
        if lacking:
            return lacking
        if not self.holds(identities, privilege, securable):
            return f"{privilege.replace('_', ' ')} on {label(securable.type)} '{securable.full_name}'"
        return None

    def denied(self, principal: str, reason: str) -> ApiError:
        """Databricks' answer: 403 PERMISSION_DENIED "User does not have <privilege> on <Type> '<name>'."."""
        del principal  # Databricks says "User" whoever asks
        return permission_denied(f"User does not have {reason}.")
