"""Principals of the workspace: users, groups (members, nested groups) and service principals, each with
its own tokens (state and behaviour; no HTTP — the SCIM and token routes are ``routes/scim.py``).

Shapes are Databricks' SCIM 2.0 (``/api/2.0/preview/scim/v2``, what databricks-sdk's ``w.users``,
``w.groups``, ``w.service_principals`` and ``w.current_user`` read): a user is named in grants and owners
by its ``userName`` (an email), a service principal by its ``applicationId`` (a UUID), a group by its
``displayName`` (Databricks REST API reference, Unity Catalog > Grants: "principal: the principal (user
email address or group name)"; service principals by application ID). Records: ``scim-user``,
``scim-group``, ``scim-sp`` by id; ``token`` by the SHA-256 of the token (the value itself is never
stored, as Databricks shows a token value once).

How a principal gets a token here:
- the principals of ``WorkspaceConfig.tokens`` (token → name) keep their configured tokens; each is made a
  user (or kept, if a user or service principal of that name exists) at start-up;
- ``POST /api/2.0/token/create`` (``w.tokens.create``): a new token for the caller, as on Databricks;
- ``POST /api/2.0/token-management/on-behalf-of/tokens`` (``w.token_management.create_obo_token``): a
  workspace admin makes a token for a service principal, as Databricks does (users cannot be given one:
  on Databricks they sign in themselves);
- ``POST /api/2.0/local/tokens`` ``{"principal": name}``: the stand-in's control plane mints a token for
  any user or service principal (the local stand-in of signing in; the product never calls it).

Membership is transitive: a member of ``engineers``, itself a member of ``data``, is in both
(:meth:`Directory.groups_of`). Every principal is also in ``account users``, as on Databricks.
The groups of ``WorkspaceConfig.groups`` are made SCIM groups at start-up with their listed members, so
column masks' ``is_account_group_member`` and grants read the same membership.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.errors import ApiError, invalid

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
SP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
#: the group every principal belongs to (Databricks' built-in account group)
ACCOUNT_USERS = "account users"
#: the workspace admins group (Databricks' built-in ``admins``): SCIM writes and OBO tokens need it
ADMINS = "admins"

KINDS = {"user": "scim-user", "group": "scim-group", "service_principal": "scim-sp"}
#: ``attribute op "value"`` (SCIM RFC 7644 3.4.2.2), the simple expressions Databricks supports
_FILTER = re.compile(
    r'^\s*(?P<attr>[A-Za-z.]+)\s+(?P<op>eq|ne|co|sw)\s+"(?P<value>(?:[^"\\]|\\.)*)"\s*$', re.I
)
_MEMBER_PATH = re.compile(r'^members\[value\s+eq\s+"?(?P<id>[^"\]]+)"?\]$', re.I)


class ScimError(ApiError):
    """A SCIM error body, as Databricks answers the SCIM API: ``{"schemas", "detail", "status"}``
    (databricks-sdk reads ``detail`` as the message)."""

    def body(self) -> dict:
        return {"schemas": [ERROR_SCHEMA], "detail": self.message, "status": str(self.status)}


def scim_not_found(what: str, ident: str) -> ScimError:
    return ScimError(404, "RESOURCE_DOES_NOT_EXIST", f"{what} {ident} not found.")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_id() -> str:
    return str(10**15 + secrets.randbelow(9 * 10**15))


class Directory:
    """Users, groups, service principals and tokens in a :class:`RecordStore`."""

    def __init__(
        self,
        store: RecordStore,
        configured: dict[str, str] | None = None,
        groups: dict[str, list[str]] | None = None,
    ) -> None:
        self.store = store
        self.configured = dict(configured or {})
        #: name → identities, cleared by every change of the directory (all of them go through here)
        self._identities: dict[str, frozenset[str]] = {}
        with store.lock:
            for name in sorted(set(self.configured.values())):
                if self.find(name) is None:
                    self.create("user", {"userName": name})
            for group, members in (groups or {}).items():
                record = self.find(group, "group") or self.create("group", {"displayName": group})
                for member in members:
                    found = self.find(member) or self.create("user", {"userName": member})
                    self._add_members(record, [found["id"]])
                self.store.put("scim-group", record["id"], record)
                self._identities.clear()

    # records ------------------------------------------------------------------------------------
    @staticmethod
    def name_of(record: dict[str, Any]) -> str:
        """The name a principal has in grants and owner fields."""
        return record.get("userName") or record.get("applicationId") or record.get("displayName") or ""

    def find(self, name: str, kind: str | None = None) -> dict[str, Any] | None:
        """The user, service principal or group named ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for k in [kind] if kind else ["user", "service_principal", "group"]:
            for _, record in self.store.scan(KINDS[k]):
                if self.name_of(record).lower() == wanted:
                    return record
        return None

    def exists(self, name: str) -> bool:
        return name.lower() == ACCOUNT_USERS or self.find(name) is not None

    def get(self, kind: str, ident: str) -> dict[str, Any]:
        record = self.store.get(KINDS[kind], str(ident))
        if record is None:
            raise scim_not_found(kind.replace("_", " ").title().replace(" ", ""), ident)
        return record

    def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            if kind == "user":
                name = body.get("userName")
                if not name:
                    raise ScimError(400, "INVALID_PARAMETER_VALUE", "Required attribute userName is missing.")
                record = {
                    "schemas": [USER_SCHEMA],
                    "userName": name,
                    "displayName": body.get("displayName") or name,
                    "emails": body.get("emails") or [{"value": name, "type": "work", "primary": True}],
                    "active": body.get("active", True),
                }
            elif kind == "service_principal":
                name = body.get("applicationId") or str(uuid.uuid4())
                record = {
                    "schemas": [SP_SCHEMA],
                    "applicationId": name,
                    "displayName": body.get("displayName") or name,
                    "active": body.get("active", True),
                }
            else:
                name = body.get("displayName")
                if not name:
                    raise ScimError(
                        400, "INVALID_PARAMETER_VALUE", "Required attribute displayName is missing."
                    )
                record = {"schemas": [GROUP_SCHEMA], "displayName": name, "members": []}
            if self.find(name) is not None or name.lower() == ACCOUNT_USERS:
                what = {"user": "User with username", "group": "Group with name"}.get(kind, "Principal")
                raise ScimError(409, "RESOURCE_ALREADY_EXISTS", f"{what} {name} already exists.")
            record["id"] = _new_id()
            if body.get("externalId"):
                record["externalId"] = body["externalId"]
            if body.get("entitlements"):
                record["entitlements"] = body["entitlements"]
            self.store.put(KINDS[kind], record["id"], record)
            self._identities.clear()
            if kind == "group" and body.get("members"):
                self._add_members(record, [m.get("value") for m in body["members"]])
                self.store.put(KINDS[kind], record["id"], record)
                self._identities.clear()
            return record

    def delete(self, kind: str, ident: str) -> None:
        with self.store.lock:
            self.get(kind, ident)
            self.store.delete(KINDS[kind], str(ident))
            self._identities.clear()
            for _, group in list(self.store.scan("scim-group")):
                kept = [m for m in group.get("members", []) if m["value"] != str(ident)]
                if len(kept) != len(group.get("members", [])):
                    group["members"] = kept
                    self.store.put("scim-group", group["id"], group)
                    self._identities.clear()

    def _kind_of(self, ident: str) -> tuple[str, dict[str, Any]] | None:
        for kind, store_kind in KINDS.items():
            record = self.store.get(store_kind, str(ident))
            if record is not None:
                return kind, record
        return None

    def _add_members(self, group: dict[str, Any], ids: list[Any]) -> None:
        present = {m["value"] for m in group.setdefault("members", [])}
        for ident in ids:
            found = self._kind_of(str(ident or ""))
            if found is None:
                raise ScimError(404, "RESOURCE_DOES_NOT_EXIST", f"Member {ident} not found.")
            kind, record = found
            if record["id"] == group["id"]:
                raise invalid("A group cannot be a member of itself.")
            if record["id"] not in present:
                ref = {"user": "Users", "group": "Groups", "service_principal": "ServicePrincipals"}[kind]
                group["members"].append(
                    {"value": record["id"], "display": self.name_of(record), "$ref": f"{ref}/{record['id']}"}
                )
                present.add(record["id"])

    def patch(self, kind: str, ident: str, body: dict[str, Any]) -> dict[str, Any]:
        """SCIM PATCH (RFC 7644 3.5.2): ``add``/``remove``/``replace`` of ``members`` on groups, and of
        plain attributes (``displayName``, ``active``, ``entitlements``) on any principal."""
        with self.store.lock:
            record = self.get(kind, ident)
            for operation in body.get("Operations") or body.get("operations") or []:
                op = str(operation.get("op", "")).lower()
                path = operation.get("path") or ""
                value = operation.get("value")
                member = _MEMBER_PATH.match(path)
                if kind == "group" and (path == "members" or member):
                    if op == "add":
                        self._add_members(record, [v.get("value") for v in value or []])
                    elif op == "remove":
                        gone = {member["id"]} if member else {v.get("value") for v in value or []}
                        record["members"] = [m for m in record.get("members", []) if m["value"] not in gone]
                    elif op == "replace":
                        record["members"] = []
                        self._add_members(record, [v.get("value") for v in value or []])
                    else:
                        raise invalid(f"Unsupported patch operation '{op}'.")
                elif op in ("add", "replace") and path in ("displayName", "active", "entitlements"):
                    record[path] = value
                elif op in ("add", "replace") and not path and isinstance(value, dict):
                    record.update({k: v for k, v in value.items() if k in ("displayName", "active")})
                elif op == "remove" and path in ("entitlements",):
                    record.pop(path, None)
                else:
                    raise invalid(f"Unsupported patch operation '{op}' on '{path}'.")
            self.store.put(KINDS[kind], record["id"], record)
            self._identities.clear()
            return record

    def replace(self, kind: str, ident: str, body: dict[str, Any]) -> dict[str, Any]:
        """SCIM PUT: the record's attributes replaced (the name and id kept)."""
        with self.store.lock:
            record = self.get(kind, ident)
            for key in ("displayName", "active", "entitlements", "emails", "externalId"):
                if key in body:
                    record[key] = body[key]
            if kind == "group":
                record["members"] = []
                self._add_members(record, [m.get("value") for m in body.get("members") or []])
            self.store.put(KINDS[kind], record["id"], record)
            self._identities.clear()
            return record

    def view(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        """The record as SCIM answers it: users and service principals with their direct ``groups``."""
        answer = dict(record)
        if kind != "group":
            direct = [g for g in self._groups_with_member(record["id"])]
            answer["groups"] = [
                {"value": g["id"], "display": g["displayName"], "type": "direct"} for g in direct
            ]
        else:
            parents = self._groups_with_member(record["id"])
            if parents:
                answer["groups"] = [{"value": g["id"], "display": g["displayName"]} for g in parents]
        answer["meta"] = {"resourceType": {"user": "User", "group": "Group"}.get(kind, "ServicePrincipal")}
        return answer

    def list(self, kind: str, filter_text: str = "", start_index: int = 1, count: int = 10000) -> dict:
        """A SCIM ListResponse; ``filter`` is one simple expression (``userName eq "a@b"``)."""
        records = [self.view(kind, r) for _, r in self.store.scan(KINDS[kind])]
        if filter_text:
            match = _FILTER.match(filter_text)
            if not match:
                raise invalid(f"Unsupported filter '{filter_text}': one 'attribute eq|ne|co|sw \"value\"'.")
            attr, op, value = match["attr"], match["op"].lower(), match["value"].lower()
            tests = {
                "eq": lambda v: v == value,
                "ne": lambda v: v != value,
                "co": lambda v: value in v,
                "sw": lambda v: v.startswith(value),
            }
            records = [r for r in records if tests[op](str(r.get(attr, "")).lower())]
        records.sort(key=lambda r: int(r["id"]))
        start = max(int(start_index or 1), 1)
        page = records[start - 1 : start - 1 + max(int(count), 0)]
        return {
            "schemas": [LIST_SCHEMA],
            "totalResults": len(records),
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": page,
        }

    # membership ---------------------------------------------------------------------------------
    def _groups_with_member(self, ident: str) -> list[dict[str, Any]]:
        return [
            g
            for _, g in self.store.scan("scim-group")
            if any(m["value"] == ident for m in g.get("members", []))
        ]

    def groups_of(self, name: str) -> set[str]:
        """The names (lower-case) of every group ``name`` is in, directly or through other groups, and
        ``account users``."""
        groups = {_key: g for _key, g in self.store.scan("scim-group")}
        found = {ACCOUNT_USERS}
        principal = self.find(name)
        if principal is None:
            return found
        frontier = [principal["id"]]
        seen = set(frontier)
        while frontier:
            ident = frontier.pop()
            for group in groups.values():
                if group["id"] not in seen and any(m["value"] == ident for m in group.get("members", [])):
                    seen.add(group["id"])
                    found.add(group["displayName"].lower())
                    frontier.append(group["id"])
        return found

    def identities(self, name: str) -> frozenset[str]:
        """``name`` and all its groups, lower-case: the grantees whose privileges ``name`` holds."""
        found = self._identities.get(name)
        if found is None:
            with self.store.lock:  # every change holds it too: none can slip between reading and caching
                found = self._identities[name] = frozenset({name.lower()} | self.groups_of(name))
        return found

    def is_member(self, principal: str, group: str) -> bool:
        return group.lower() in self.groups_of(principal)

    # tokens -------------------------------------------------------------------------------------
    def principal_for_token(self, token: str) -> str | None:
        """The principal of a token: configured, else made here and not expired."""
        if token in self.configured:
            return self.configured[token]
        record = self.store.get("token", _hash(token))
        if record is None or (record["expiry_time"] != -1 and record["expiry_time"] < time.time() * 1000):
            return None
        return record["principal"]

    def create_token(
        self, principal: str, comment: str | None, lifetime_seconds: int | None, created_by: str
    ) -> dict[str, Any]:
        """A new token for ``principal`` (a user or service principal): ``{"token_value", "token_info"}``."""
        if self.find(principal, "user") is None and self.find(principal, "service_principal") is None:
            raise ScimError(404, "RESOURCE_DOES_NOT_EXIST", f"Principal {principal} not found.")
        value = "dapi" + secrets.token_hex(16)
        now = int(time.time() * 1000)
        info = {
            "token_id": secrets.token_hex(32),
            "creation_time": now,
            "expiry_time": now + int(lifetime_seconds) * 1000 if lifetime_seconds else -1,
            "comment": comment or "",
        }
        self.store.put("token", _hash(value), {**info, "principal": principal, "created_by": created_by})
        return {"token_value": value, "token_info": info}

    def tokens_of(self, principal: str) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in record.items() if k not in ("principal", "created_by")}
            for _, record in self.store.scan("token")
            if record["principal"].lower() == principal.lower()
        ]

    def delete_token(self, principal: str | None, token_id: str) -> None:
        """Revoke a token (``principal`` None: any owner's, the token-management API)."""
        with self.store.lock:
            for key, record in list(self.store.scan("token")):
                if record["token_id"] == token_id and (
                    principal is None or record["principal"].lower() == principal.lower()
                ):
                    self.store.delete("token", key)
                    return
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Token {token_id} does not exist.")
