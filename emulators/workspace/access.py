"""Enforcement: the privilege model's decisions applied to a request, each one written to the audit log.

The routes call :class:`Access` with the :class:`~emulators.workspace.audit.Caller` and what is asked; a
refusal raises Databricks' 403 ``PERMISSION_DENIED`` (databricks-sdk: ``PermissionDenied``) after its audit
row is written. Decisions read the grants at the moment of the request (nothing is cached), so a revoke
takes effect on the next call.

:class:`Touched` and :meth:`Access.decide_tables` are the one decision over the catalog objects a SQL
statement (``statement_access.py``) or a job's Spark plan (``run_identity.py``) uses: both ask the same
questions in the same order and write the same audit rows; only how a refusal reaches the client differs.
:meth:`Access.decide_files` is the one decision over the storage paths they use that reach no table (the
external location's ``READ FILES`` / ``WRITE FILES``), for both as well.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulators.workspace.audit import AuditLog, Caller
from emulators.workspace.errors import ApiError
from emulators.workspace.path_access import ACTION as PATH_ACTION
from emulators.workspace.path_access import containing_location
from emulators.workspace.principals import ADMINS
from emulators.workspace.privileges import Privileges, Securable, label
from emulators.workspace.table_paths import is_local_path

#: what both refusals say when the objects used cannot be told; the callers add Databricks' framing
UNREADABLE = (
    "Insufficient privileges: the local workspace cannot tell which tables this statement uses, so it is not "
    "run for a principal that is not a metastore admin."
)


@dataclass
class Touched:
    """The catalog objects a statement or plan uses, fully qualified and lower-case (``catalog.schema.table``;
    schemas ``catalog.schema``; catalogs by name)."""

    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    #: tables a plan writes that may not exist yet: MODIFY if they do, else CREATE TABLE on the schema
    creates: set[str] = field(default_factory=set)
    #: SQL ``CREATE TABLE|VIEW`` (not temporary): CREATE TABLE on these schemas
    creates_in_schema: set[str] = field(default_factory=set)
    #: SQL ``CREATE SCHEMA``: CREATE SCHEMA on these catalogs
    creates_in_catalog: set[str] = field(default_factory=set)
    #: SQL ``DROP TABLE|VIEW``: the owner (of it or a parent), MANAGE or a metastore admin
    drops: set[str] = field(default_factory=set)
    #: SQL ``DESCRIBE``: the metadata read of ``tables/get``
    describes: set[str] = field(default_factory=set)
    #: tables whose tags (``APPLY TAG``) or column masks (owner / ``MANAGE``) a statement changes
    tags: set[str] = field(default_factory=set)
    masks: set[str] = field(default_factory=set)
    #: SQL ``CREATE TABLE`` (not temporary) of a table not in the catalog yet: whoever runs it owns it
    created: set[str] = field(default_factory=set)
    #: what is used cannot be told (sqlglot could not read the SQL): refused for non-admins
    unreadable: bool = False
    #: the tables of ``reads``/``writes`` reached by a storage path rather than by name (``table_paths.py``):
    #: refused outright when the table has a row filter or column mask (:meth:`Access.refuse_masked_paths`)
    by_path: set[str] = field(default_factory=set)
    #: storage paths used that reach no catalog table (raw files, a staging folder), each with whether it is
    #: written: the external location's privileges decide them (:meth:`Access.decide_files`)
    files: dict[str, bool] = field(default_factory=dict)


class Access:
    def __init__(self, privileges: Privileges, audit: AuditLog) -> None:
        self.privileges = privileges
        self.audit = audit
        #: whether a catalog table has a row filter or column mask now (the server wires ``governance.py``)
        self.masked: Callable[[str], bool] = lambda full_name: False

    def is_workspace_admin(self, principal: str) -> bool:
        """A metastore admin or a member of the ``admins`` group (SCIM writes, tokens for others)."""
        return self.privileges.is_admin(principal) or ADMINS in self.privileges.identities(principal)

    def _fast_admin(self, caller: Caller) -> bool:
        """A metastore admin by name (no group lookup): no decision, no audit row (see ``audit.py``)."""
        return caller.principal.lower() in self.privileges.admins

    def _deny(self, caller: Caller, action: str, params: dict[str, Any], reason: str) -> ApiError:
        error = self.privileges.denied(caller.principal, reason)
        self.audit.record(caller, action, params, error.status, error.message)
        return error

    def see(self, caller: Caller, action: str, kind: str, full_name: str, params: dict[str, Any]) -> None:
        """A metadata read (``getCatalog``, ``getSchema``, ``getTable``): allowed, or 403."""
        if self._fast_admin(caller):
            return
        securable = self.privileges.resolve(kind, full_name)
        if not self.privileges.can_see(caller.principal, securable):
            reason = self.privileges.missing(caller.principal, securable, _READ_PRIVILEGE[securable.type])
            raise self._deny(caller, action, params, reason or f"access to {kind.lower()} '{full_name}'")
        self.audit.record(caller, action, params)

    def visible(
        self,
        caller: Caller,
        action: str,
        kind: str,
        items: list[dict[str, Any]],
        name_of: Callable[[dict[str, Any]], str],
        params: dict[str, Any],
    ) -> list[dict[str, Any]]:
        """The items of a list the caller may see (one audit row for the list)."""
        if self._fast_admin(caller):
            return items
        shown = [
            item
            for item in items
            if self.privileges.can_see(caller.principal, self.privileges.resolve(kind, name_of(item)))
        ]
        self.audit.record(caller, action, params)
        return shown

    def use(
        self, caller: Caller, action: str, securable: Securable, privilege: str, params: dict[str, Any]
    ) -> None:
        """Using a securable's data (``SELECT``, ``MODIFY``): the path and the privilege, or 403. Always
        audited (credentials vended to admins too)."""
        reason = self.privileges.missing(caller.principal, securable, privilege)
        if reason:
            raise self._deny(caller, action, params, reason)
        self.audit.record(caller, action, params)

    def use_all(
        self,
        caller: Caller,
        action: str,
        needs: list[tuple[Securable, str]],
        params: dict[str, Any],
    ) -> None:
        """Several privileges at once (a path credential: the location's, the schema's, the table's): each
        ``(securable, privilege)`` with its path, in order; the first missing one is the refusal. One audit
        row for the request either way."""
        for securable, privilege in needs:
            reason = self.privileges.missing(caller.principal, securable, privilege)
            if reason:
                raise self._deny(caller, action, params, reason)
        self.audit.record(caller, action, params)

    def manage(
        self,
        caller: Caller,
        action: str,
        securable: Securable,
        params: dict[str, Any],
        apply: Callable[[], Any] = lambda: None,
    ) -> Any:
        """Changing grants or ownership: owner (of it or a parent), MANAGE, or a metastore admin; or 403.
        ``apply`` makes the change once allowed; the row records its outcome. Always audited."""
        if not self.privileges.can_manage(caller.principal, securable):
            named = f"MANAGE on {label(securable.type)} '{securable.full_name}'"
            raise self._deny(caller, action, params, named)
        try:
            result = apply()
        except ApiError as error:
            self.audit.record(caller, action, params, error.status, error.message)
            raise
        self.audit.record(caller, action, params)
        return result

    def update_share(
        self,
        caller: Caller,
        share: Securable,
        owner: str,
        tables: list[Securable],
        params: dict[str, Any],
        apply: Callable[[], Any],
    ) -> Any:
        """``w.shares.update``: the caller owns the share, holds MANAGE on it or is a metastore admin; and for
        every table added the share's owner (``owner``: as it is once the update is made) holds SELECT on it
        with USE CATALOG and USE SCHEMA on the way. REST reference, Shares > Update: "For each table that is
        added through this method, the share owner must also have SELECT privilege on the table"; "Create and
        manage shares for Delta Sharing" > Requirements: the USE CATALOG and USE SCHEMA of the path (or
        ownership of the catalog or schema). Removals need nothing more. ``apply`` makes the update once
        allowed; the audit row (``updateShare``) records its outcome."""
        if not self.privileges.can_manage(caller.principal, share):
            raise self._deny(caller, "updateShare", params, f"MANAGE on Share '{share.full_name}'")
        for table in tables:
            reason = self.privileges.missing(owner, table, "SELECT")
            if reason:
                raise self._deny(
                    caller, "updateShare", params, f"{reason} (the share's owner {owner} needs it)"
                )
        return self.manage(caller, "updateShare", share, params, apply)

    def decide_tables(
        self,
        caller: Caller,
        touched: Touched,
        params: dict[str, Any],
        refuse: Callable[[str], Exception],
        special: Mapping[str, Callable[[], None]] | None = None,
    ) -> None:
        """Allow what ``touched`` uses for ``caller`` (each decision an audit row with ``params``, the
        statement's or run's ids), or raise ``refuse("Insufficient privileges: …")`` at the first refusal.
        Names not in the catalog are left to the engine, which answers them; ``system`` and
        ``information_schema`` tables are answered by the stand-in, except those in ``special``, whose
        callback decides them. ``touched.writes`` gains the ``creates`` that exist already."""
        if touched.unreadable:
            raise refuse(UNREADABLE)
        special = special or {}
        try:
            for name in sorted(touched.describes):
                if self._resolve("TABLE", name) is not None:
                    self.see(caller, "getTable", "TABLE", name, {"full_name_arg": name})
            for name in sorted(touched.tags):
                if (securable := self._resolve("TABLE", name)) is not None:
                    tagged = {"full_name_arg": name, "tags": "set", **params}
                    self.use(caller, "updateTables", securable, "APPLY_TAG", tagged)
            for action, names in (("updateTables", touched.masks), ("deleteTable", touched.drops)):
                for name in sorted(names):
                    if (securable := self._resolve("TABLE", name)) is not None:
                        self.manage(caller, action, securable, {"full_name_arg": name, **params})
            for name in sorted(touched.creates_in_catalog):
                if (securable := self._resolve("CATALOG", name)) is not None:
                    self.use(caller, "createSchema", securable, "CREATE_SCHEMA", dict(params))
            for name in sorted(touched.creates_in_schema):
                self._create_table(caller, name, params)
            for name in sorted(touched.creates - touched.writes):
                if self._resolve("TABLE", name) is not None:
                    touched.writes.add(name)
                else:
                    self._create_table(caller, name.rsplit(".", 1)[0], params)
            for privilege, operation, names in (
                ("SELECT", "READ", touched.reads),
                ("MODIFY", "READ_WRITE", touched.writes),
            ):
                for name in sorted(names):
                    if name in special:
                        special[name]()
                        continue
                    if name.startswith("system.") or ".information_schema." in name:
                        continue
                    if (securable := self._resolve("TABLE", name)) is None:
                        continue
                    used = {"table_full_name": name, "operation": operation, **params}
                    self.use(caller, "generateTemporaryTableCredential", securable, privilege, used)
        except ApiError as error:
            if error.status == 403:
                raise refuse(f"Insufficient privileges: {error.message}") from None
            raise
        self.refuse_masked_paths(caller, touched, params)

    def refuse_masked_paths(self, caller: Caller, touched: Touched, params: dict[str, Any]) -> None:
        """Raise :class:`MaskedPathAccess` (its audit row written first) when a table reached by path has a
        row filter or column mask, whoever asks — owners and metastore admins too: a path read bypasses the
        policies, which Unity Catalog applies only to access by name. Databricks KB "Unauthorized access
        exception when trying to access a Unity Catalog table with row filters or column masks" (2025-10-30):
        "[UNAUTHORIZED_ACCESS] Unauthorized access: PERMISSION_DENIED: Path-based access to table
        <catalog>.<schema>.<table> with row filter or column mask not supported.", for read, write and MERGE
        by path ("Only name-based access (catalog.schema.table) is allowed"); it names no exemption, and the
        "Row filters and column masks" page's Limitations list path-based access as unsupported."""
        for name in sorted(touched.by_path):
            if not self.masked(name):
                continue
            operation = "READ_WRITE" if name in touched.writes else "READ"
            refused = MaskedPathAccess(name)
            used = {"table_full_name": name, "operation": operation, "access": "path", **params}
            self.audit.record(caller, "generateTemporaryPathCredential", used, 403, refused.message)
            raise refused

    def decide_files(
        self,
        caller: Caller,
        files: Mapping[str, bool],
        params: dict[str, Any],
        refuse: Callable[[str], Exception],
        driver_disk: bool = False,
    ) -> None:
        """Allow the paths that are no table's (``path`` → written) for ``caller``, or raise: ``READ FILES``
        (read) or ``READ FILES`` + ``WRITE FILES`` (written) on the external location holding the path,
        with ``refuse("Insufficient privileges: …")`` when one is missing; :class:`NoParentLocation` when no
        external location holds it. One audit row each (``generateTemporaryPathCredential``, ``url``,
        ``operation`` PATH_READ / PATH_READ_WRITE, ``external_location_name``, and ``params``), as
        ``path_access.py`` decides a path credential without a table. The caller decides whether to ask at
        all: metastore admins by name are not decided, on either channel.

        Databricks: "Unity Catalog privileges and securable objects" — READ FILES "Allows a user to read files
        directly from external location", WRITE FILES "… to write files directly to external location";
        "External locations" (SQL reference): "A user or group with permission to use an external location
        can access any storage path within the location's path"; Unity Catalog reaches cloud storage only
        through external locations ("Connect to cloud object storage using Unity Catalog"), so a path in
        none is refused with ``[NO_PARENT_EXTERNAL_LOCATION_FOR_PATH]``, the class ``path_access.py``
        answers.

        ``driver_disk`` (a job's Spark session; choice): paths on the engine's own disk — ``file:`` URLs
        and paths without a scheme (``table_paths.is_local_path``) — are left alone. On Databricks a
        dedicated cluster's driver disk is the cluster's "ephemeral storage attached to the driver node",
        a place apart from the "cloud object storage" external locations govern ("Work with files on
        Databricks"), and Unity Catalog has no securable for it. Every other URL is decided: the Azure
        spellings ``table_paths.storage_key`` makes one place (``abfss``, ``wasbs``, ``az``, ``https``
        to blob or dfs, Azurite's path style), and any other scheme (``s3``, ``dbfs:``), which no external
        location here holds, is refused (fail closed). A SQL statement decides local paths too (a SQL
        warehouse's disk is not the caller's): in no external location, they are refused."""
        if not files:
            return
        locations = [body for _, body in self.privileges.store.scan("external-location")]
        for path, written in sorted(files.items()):
            if driver_disk and is_local_path(path):
                continue
            used = {"url": path, "operation": "PATH_READ_WRITE" if written else "PATH_READ", **params}
            location = containing_location(locations, path)
            if location is None:
                refused = NoParentLocation(path)
                self.audit.record(caller, PATH_ACTION, used, 400, refused.text)
                raise refused
            securable = self.privileges.resolve("EXTERNAL_LOCATION", location["name"])
            used["external_location_name"] = securable.full_name
            needs = [(securable, "READ_FILES")] + ([(securable, "WRITE_FILES")] if written else [])
            try:
                self.use_all(caller, PATH_ACTION, needs, used)
            except ApiError as error:
                if error.status == 403:
                    raise refuse(f"Insufficient privileges: {error.message}") from None
                raise

    def _create_table(self, caller: Caller, schema: str, params: dict[str, Any]) -> None:
        if (securable := self._resolve("SCHEMA", schema)) is not None:
            self.use(caller, "createTable", securable, "CREATE_TABLE", dict(params))

    def _resolve(self, kind: str, name: str) -> Securable | None:
        try:
            return self.privileges.resolve(kind, name)
        except ApiError:
            return None  # not in the catalog: the engine says so


class MaskedPathAccess(Exception):
    """Path-based access to a table with a row filter or column mask: Databricks' error, whole (the class is
    ``UNAUTHORIZED_ACCESS``; the KB quotes no SQLSTATE, the stand-in sends 42501, the class of every other
    privilege refusal here)."""

    error_class = "UNAUTHORIZED_ACCESS"
    sql_state = "42501"

    def __init__(self, full_name: str) -> None:
        self.full_name = full_name
        self.message = (
            "[UNAUTHORIZED_ACCESS] Unauthorized access: PERMISSION_DENIED: Path-based access to table "
            f"{full_name} with row filter or column mask not supported."
        )
        super().__init__(self.message)


class NoParentLocation(Exception):
    """A storage path that no external location holds: Databricks' error class (SQLSTATE 22KD1, a data
    exception; ``path_access.py`` answers the same class for a path credential). ``text`` is the message
    without its class, ``message`` with it."""

    error_class = "NO_PARENT_EXTERNAL_LOCATION_FOR_PATH"
    sql_state = "22KD1"

    def __init__(self, path: str) -> None:
        self.path = path
        self.text = (
            f"No parent external location was found for path '{path}'. Please create an external location "
            "on one of the parent paths and then retry."
        )
        self.message = f"[{self.error_class}] {self.text}"
        super().__init__(self.message)


#: the privilege named in a refused metadata read (what Databricks' message names)
_READ_PRIVILEGE = {
    "CATALOG": "USE_CATALOG",
    "SCHEMA": "USE_SCHEMA",
    "TABLE": "SELECT",
    "VOLUME": "READ_VOLUME",
    "FUNCTION": "EXECUTE",
    "SHARE": "MANAGE",
    "RECIPIENT": "MANAGE",
    "METASTORE": "MANAGE",
    "EXTERNAL_LOCATION": "BROWSE",
}
