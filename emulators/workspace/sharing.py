"""Delta Sharing as Databricks has it: shares, recipients, grants and tokens (state and behaviour; no HTTP).

Why: Unity Catalog shares tables with other organisations through the open Delta Sharing protocol. The
provider side (``/api/2.1/unity-catalog/shares``, ``/recipients``, the SQL commands ``CREATE SHARE`` …) and
the recipient side (the protocol server, ``routes/delta_sharing.py``) both meet here.

- A share holds data objects (tables only, here): a table's full name, the name it is shared as
  (``schema.table``), optional partition filters and whether its history is shared (``WITH HISTORY``:
  recipients may then ask for any ``version``/``timestamp``, else only the current version).
- A recipient (authentication type TOKEN) has up to two bearer tokens. Each new token comes with a one-time
  activation link; retrieving it gives the profile file (``shareCredentialsVersion`` 1, ``endpoint``,
  ``bearerToken``, ``expirationTime``) and never again. Only a SHA-256 of a token is stored once it was
  retrieved. ``rotate-token`` makes a new token and shortens the old one's life.
- ``GRANT SELECT ON SHARE s TO RECIPIENT r`` lets r's tokens read s; REVOKE, an expired token, a token
  rotated away and DROP RECIPIENT end that at once (the protocol server asks here on every request).
- PII rule: a table with a column tagged ``pii`` is shared only when every such column also carries
  ``pii_protection`` = ``encrypted`` (the job wrote ciphertext, never plaintext): adding it to a share, and
  reading it later (tags can change), is refused otherwise. Tables with column masks are refused too, as
  Databricks refuses them (a mask is for a workspace principal; a recipient is not one).

Records (kind → key): ``share`` name; ``recipient`` name; ``sharing-token`` SHA-256 of a bearer token →
recipient and token id; ``sharing-activation`` activation code → recipient, token id, the token (until
retrieved); ``sharing-metastore`` "id" → the metastore id in the endpoint URL.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import re
import secrets
import uuid
from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.catalog import UnityCatalog, check_name, clean, now_ms, split_full_name
from emulators.workspace.errors import ApiError, invalid, not_found
from emulators.workspace.governance import Governance
from emulators.workspace.sharing_delta import DeltaFiles, Snapshot

#: a token's life when the recipient names none (a metastore setting on Databricks)
DEFAULT_TOKEN_LIFETIME_SECONDS = 365 * 24 * 3600
PRIVILEGES = ("SELECT",)
PII_TAG = "pii"
PROTECTION_TAG = "pii_protection"
PROTECTED = "encrypted"
#: reader features that change how data files are read: a parquet-format response cannot serve them
#: (deletion vectors only matter once a file has one)
UNSERVABLE_READER_FEATURES = {"columnMapping", "typeWidening", "typeWidening-preview"}
_SHARED_AS = re.compile(r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def already_exists(what: str, name: str) -> ApiError:
    """409 RESOURCE_ALREADY_EXISTS, which databricks-sdk raises as ResourceAlreadyExists."""
    return ApiError(409, "RESOURCE_ALREADY_EXISTS", f"{what.capitalize()} '{name}' already exists.")


def unauthenticated(message: str) -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "PERMISSION_DENIED", message)


class Sharing:
    """Shares and recipients in the workspace's record store, and the checks the protocol server asks."""

    def __init__(
        self,
        store: RecordStore,
        catalog: UnityCatalog,
        governance: Governance,
        files: DeltaFiles,
        host_url: str = "",
        token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.governance = governance
        self.files = files
        #: the workspace's public URL (activation links, profile endpoints); filled from the first request
        #: when the configuration has none (an in-process workspace on a free port)
        self.host_url = host_url.rstrip("/")
        self.token_lifetime_seconds = token_lifetime_seconds
        stored = store.get("sharing-metastore", "id")
        if stored is None:
            stored = {"id": str(uuid.uuid4())}
            store.insert("sharing-metastore", "id", stored)
            stored = store.get("sharing-metastore", "id") or stored
        self.metastore_id: str = stored["id"]

    @property
    def endpoint(self) -> str:
        """The Delta Sharing server's URL, as it goes into a profile file."""
        return f"{self.host_url}/api/2.0/delta-sharing/metastores/{self.metastore_id}"

    # shares -------------------------------------------------------------------------------------
    def _share(self, name: str) -> dict[str, Any]:
        record = self.store.get("share", str(name).lower())
        if record is None:
            raise not_found("share", name)
        return record

    @staticmethod
    def share_view(record: dict[str, Any], include_shared_data: bool = True) -> dict[str, Any]:
        view = {k: v for k, v in record.items() if k not in ("recipients", "objects", "id")}
        if include_shared_data:
            view["objects"] = [dict(o) for o in record["objects"]]
        return clean(view)

    def create_share(self, body: dict[str, Any], principal: str, if_not_exists: bool = False) -> dict:
        name = check_name(body.get("name"), "share")
        now = now_ms()
        record = clean(
            {
                "name": name,
                "id": str(uuid.uuid4()),
                "comment": body.get("comment"),
                "storage_root": body.get("storage_root"),
                "owner": principal,
                "created_at": now,
                "created_by": principal,
                "updated_at": now,
                "updated_by": principal,
                "objects": [],
                "recipients": [],
            }
        )
        if not self.store.insert("share", name, record):
            if if_not_exists:
                return self.share_view(self._share(name))
            raise already_exists("share", name)
        return self.share_view(record)

    def get_share(self, name: str, include_shared_data: bool = True) -> dict[str, Any]:
        return self.share_view(self._share(name), include_shared_data)

    def list_shares(self) -> list[dict[str, Any]]:
        return [self.share_view(r, include_shared_data=False) for _, r in self.store.scan("share")]

    def delete_share(self, name: str, if_exists: bool = False) -> None:
        if not self.store.delete("share", str(name).lower()) and not if_exists:
            raise not_found("share", name)

    def update_share(self, name: str, body: dict[str, Any], principal: str) -> dict[str, Any]:
        """Databricks' share update: ``comment``, ``owner``, ``new_name`` and ``updates`` (ADD, REMOVE or
        UPDATE of data objects), all applied or none."""
        with self.store.lock:
            record = self._share(name)
            updates = body.get("updates") or []
            if not isinstance(updates, list):
                raise invalid("updates must be a list of {action, data_object}.")
            for update in updates:
                action = str((update or {}).get("action") or "").upper()
                data_object = (update or {}).get("data_object") or {}
                if action == "ADD":
                    self._add_object(record, data_object, principal)
                elif action == "REMOVE":
                    self._remove_object(record, data_object.get("name") or data_object.get("shared_as"))
                elif action == "UPDATE":
                    self._update_object(record, data_object)
                else:
                    raise invalid(f"Unsupported update action '{action}': ADD, REMOVE or UPDATE.")
            for key in ("comment", "owner"):
                if body.get(key) is not None:
                    record[key] = body[key]
            record.update(updated_at=now_ms(), updated_by=principal)
            new_name = body.get("new_name")
            if new_name and check_name(new_name, "share") != record["name"]:
                new_name = check_name(new_name, "share")
                if self.store.get("share", new_name):
                    raise already_exists("share", new_name)
                self.store.delete("share", record["name"])
                record["name"] = new_name
            self.store.put("share", record["name"], record)
            return self.share_view(record)

    def add_table(self, share: str, data_object: dict[str, Any], principal: str) -> None:
        with self.store.lock:
            record = self._share(share)
            self._add_object(record, data_object, principal)
            record.update(updated_at=now_ms(), updated_by=principal)
            self.store.put("share", record["name"], record)

    def remove_table(self, share: str, name: str, principal: str) -> None:
        with self.store.lock:
            record = self._share(share)
            self._remove_object(record, name)
            record.update(updated_at=now_ms(), updated_by=principal)
            self.store.put("share", record["name"], record)

    def _add_object(self, record: dict[str, Any], data_object: dict[str, Any], principal: str) -> None:
        kind = str(data_object.get("data_object_type") or "TABLE").upper()
        if kind != "TABLE":
            raise invalid(f"The local workspace shares tables only, not {kind}.")
        full_name = ".".join(split_full_name(str(data_object.get("name") or ""), 3, "table"))
        table = self.table(full_name)
        self.check_shareable(table)
        shared_as = str(data_object.get("shared_as") or f"{table['schema_name']}.{table['name']}").lower()
        if not _SHARED_AS.match(shared_as):
            raise invalid(f"Invalid shared_as '{shared_as}': expected <schema>.<table> (letters, digits, _).")
        for existing in record["objects"]:
            if existing["name"] == full_name:
                raise ApiError(
                    400, "RESOURCE_ALREADY_EXISTS", f"Table {full_name} is already in share {record['name']}."
                )
            if existing.get("shared_as") == shared_as:
                raise ApiError(
                    400,
                    "RESOURCE_ALREADY_EXISTS",
                    f"Share {record['name']} already has a table shared as {shared_as}.",
                )
        history = str(data_object.get("history_data_sharing_status") or "DISABLED").upper()
        if history not in ("ENABLED", "DISABLED"):
            raise invalid("history_data_sharing_status must be ENABLED or DISABLED.")
        partitions = self._partitions(table, data_object.get("partitions"))
        start_version = data_object.get("start_version")
        if history == "DISABLED" and start_version is not None:
            raise invalid("start_version needs history_data_sharing_status ENABLED.")
        record["objects"].append(
            clean(
                {
                    "name": full_name,
                    "data_object_type": "TABLE",
                    "shared_as": shared_as,
                    "comment": data_object.get("comment"),
                    "partitions": partitions or None,
                    "history_data_sharing_status": history,
                    "start_version": int(start_version) if start_version is not None else None,
                    "cdf_enabled": False,
                    "status": "ACTIVE",
                    "added_at": now_ms(),
                    "added_by": principal,
                }
            )
        )

    def _remove_object(self, record: dict[str, Any], name: Any) -> None:
        wanted = str(name or "").lower()
        kept = [o for o in record["objects"] if wanted not in (o["name"], o.get("shared_as"))]
        if len(kept) == len(record["objects"]):
            raise ApiError(
                404, "RESOURCE_DOES_NOT_EXIST", f"Share {record['name']} has no data object '{name}'."
            )
        record["objects"] = kept

    def _update_object(self, record: dict[str, Any], data_object: dict[str, Any]) -> None:
        wanted = str(data_object.get("name") or "").lower()
        for existing in record["objects"]:
            if existing["name"] == wanted:
                if data_object.get("comment") is not None:
                    existing["comment"] = data_object["comment"]
                if data_object.get("partitions") is not None:
                    existing["partitions"] = self._partitions(self.table(wanted), data_object["partitions"])
                return
        raise ApiError(
            404, "RESOURCE_DOES_NOT_EXIST", f"Share {record['name']} has no data object '{wanted}'."
        )

    @staticmethod
    def _partitions(table: dict[str, Any], partitions: Any) -> list[dict[str, Any]]:
        """Partition filters, checked against the table's partition columns (EQUAL and LIKE)."""
        if not partitions:
            return []
        columns = {c["name"].lower(): c["name"] for c in table.get("columns") or [] if "partition_index" in c}
        checked = []
        for partition in partitions:
            values = []
            for value in (partition or {}).get("values") or []:
                column = columns.get(str(value.get("name") or "").lower())
                if column is None:
                    raise invalid(
                        f"'{value.get('name')}' is not a partition column of {table['full_name']} "
                        f"(partition columns: {', '.join(columns.values()) or 'none'})."
                    )
                op = str(value.get("op") or "EQUAL").upper()
                if op not in ("EQUAL", "LIKE") or value.get("recipient_property_key"):
                    raise invalid("Partition filters support EQUAL and LIKE with literal values only.")
                values.append(clean({"name": column, "op": op, "value": value.get("value")}))
            if not values:
                raise invalid("A partition filter needs at least one value.")
            checked.append({"values": values})
        return checked

    # tables and the PII rule --------------------------------------------------------------------
    def table(self, full_name: str) -> dict[str, Any]:
        try:
            table = self.catalog.get_table(full_name)
        except ApiError:
            raise ApiError(404, "TABLE_DOES_NOT_EXIST", f"Table '{full_name}' does not exist.") from None
        if table.get("data_source_format", "DELTA") != "DELTA" or table["table_type"] not in (
            "MANAGED",
            "EXTERNAL",
        ):
            raise invalid(f"Only Delta tables can be shared; {full_name} is a {table['table_type']}.")
        return table

    def column_tags(self, table: dict[str, Any]) -> dict[str, dict[str, str]]:
        """column → {tag (lower-case): value} of a table, from the governance store."""
        tags: dict[str, dict[str, str]] = {}
        for row in self.governance.rows("column_tags", table["catalog_name"]):
            if row["schema_name"] == table["schema_name"] and row["table_name"] == table["name"]:
                tags.setdefault(row["column_name"], {})[row["tag_name"].lower()] = row["tag_value"]
        return tags

    def check_shareable(self, table: dict[str, Any]) -> None:
        """Refuse a table whose PII columns are not all encrypted, or that has column masks."""
        exposed = [
            column
            for column, tags in sorted(self.column_tags(table).items())
            if PII_TAG in tags and str(tags.get(PROTECTION_TAG, "")).lower() != PROTECTED
        ]
        if exposed:
            raise forbidden(
                f"Table {table['full_name']} cannot be shared: column(s) {', '.join(exposed)} are tagged "
                f"'{PII_TAG}' without '{PROTECTION_TAG}' = '{PROTECTED}'. Share PII only encrypted: encrypt "
                f"the column and tag it ('{PROTECTION_TAG}' = '{PROTECTED}')."
            )
        masked = [c["name"] for c in table.get("columns") or [] if c.get("mask")]
        if masked:
            raise forbidden(
                f"Table {table['full_name']} cannot be shared: it has column masks ({', '.join(masked)})."
            )

    # grants -------------------------------------------------------------------------------------
    def grant(self, share: str, recipient: str) -> None:
        with self.store.lock:
            record = self._share(share)
            name = self._recipient(recipient)["name"]
            if name not in record["recipients"]:
                record["recipients"] = sorted([*record["recipients"], name])
                self.store.put("share", record["name"], record)

    def revoke(self, share: str, recipient: str) -> None:
        with self.store.lock:
            record = self._share(share)
            name = self._recipient(recipient)["name"]
            record["recipients"] = [r for r in record["recipients"] if r != name]
            self.store.put("share", record["name"], record)

    def share_permissions(self, name: str) -> dict[str, Any]:
        record = self._share(name)
        return {
            "privilege_assignments": [
                {"principal": r, "privileges": list(PRIVILEGES)} for r in record["recipients"]
            ]
        }

    def update_share_permissions(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``changes``: [{principal, add: [SELECT], remove: [SELECT]}]; principals are recipients."""
        changes = body.get("changes") or []
        with self.store.lock:
            self._share(name)
            for change in changes:
                privileges = {
                    str(p).upper() for p in (change.get("add") or []) + (change.get("remove") or [])
                }
                unknown = privileges - set(PRIVILEGES) - {"ALL_PRIVILEGES"}
                if unknown:
                    raise invalid(f"Shares grant SELECT only, not {', '.join(sorted(unknown))}.")
                self._recipient(change.get("principal") or "")
            for change in changes:
                if change.get("add"):
                    self.grant(name, change["principal"])
                if change.get("remove"):
                    self.revoke(name, change["principal"])
        return {} if body.get("omit_permissions_list") else self.share_permissions(name)

    # recipients ---------------------------------------------------------------------------------
    def _recipient(self, name: str) -> dict[str, Any]:
        record = self.store.get("recipient", str(name).lower())
        if record is None:
            raise not_found("recipient", name)
        return record

    def activation_url(self, code: str) -> str:
        return f"{self.host_url}/delta_sharing/retrieve_config.html?{code}"

    def recipient_view(self, record: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in record.items() if k != "tokens"}
        tokens = []
        pending = ""
        for token in record["tokens"]:
            shown = {k: v for k, v in token.items() if k not in ("activation_code", "retrieved")}
            if not token.get("retrieved"):
                shown["activation_url"] = pending = self.activation_url(token["activation_code"])
            tokens.append(shown)
        view["tokens"] = tokens
        view["activated"] = any(t.get("retrieved") for t in record["tokens"])
        if pending:
            view["activation_url"] = pending
        return clean(view)

    def _new_token(self, record: dict[str, Any], expiration_time: int | None, principal: str) -> None:
        now = now_ms()
        token = secrets.token_urlsafe(32)
        code = secrets.token_urlsafe(24)
        info = {
            "id": str(uuid.uuid4()),
            "created_at": now,
            "created_by": principal,
            "updated_at": now,
            "updated_by": principal,
            "expiration_time": expiration_time or now + self.token_lifetime_seconds * 1000,
            "activation_code": code,
            "retrieved": False,
        }
        record["tokens"].append(info)
        self.store.put("sharing-token", _hash(token), {"recipient": record["name"], "token_id": info["id"]})
        self.store.put(
            "sharing-activation", code, {"recipient": record["name"], "token_id": info["id"], "token": token}
        )

    def create_recipient(self, body: dict[str, Any], principal: str, if_not_exists: bool = False) -> dict:
        name = check_name(body.get("name"), "recipient")
        kind = str(body.get("authentication_type") or "TOKEN").upper()
        if kind != "TOKEN":
            raise invalid(
                "The local workspace supports open sharing recipients only (authentication_type TOKEN)."
            )
        expiration = body.get("expiration_time")
        if expiration is not None and int(expiration) <= now_ms():
            raise invalid("expiration_time must be in the future.")
        with self.store.lock:
            if self.store.get("recipient", name):
                if if_not_exists:
                    return self.recipient_view(self._recipient(name))
                raise already_exists("recipient", name)
            now = now_ms()
            record = clean(
                {
                    "name": name,
                    "id": str(uuid.uuid4()),
                    "authentication_type": "TOKEN",
                    "comment": body.get("comment"),
                    "owner": body.get("owner") or principal,
                    "properties_kvpairs": body.get("properties_kvpairs"),
                    "created_at": now,
                    "created_by": principal,
                    "updated_at": now,
                    "updated_by": principal,
                    "tokens": [],
                }
            )
            self._new_token(record, int(expiration) if expiration is not None else None, principal)
            self.store.put("recipient", name, record)
        return self.recipient_view(record)

    def get_recipient(self, name: str) -> dict[str, Any]:
        return self.recipient_view(self._recipient(name))

    def list_recipients(self) -> list[dict[str, Any]]:
        return [self.recipient_view(r) for _, r in self.store.scan("recipient")]

    def update_recipient(self, name: str, body: dict[str, Any], principal: str) -> dict[str, Any]:
        with self.store.lock:
            record = self._recipient(name)
            for key in ("comment", "owner", "properties_kvpairs"):
                if body.get(key) is not None:
                    record[key] = body[key]
            record.update(updated_at=now_ms(), updated_by=principal)
            self.store.put("recipient", record["name"], record)
            return self.recipient_view(record)

    def delete_recipient(self, name: str, if_exists: bool = False) -> None:
        with self.store.lock:
            record = self.store.get("recipient", str(name).lower())
            if record is None:
                if if_exists:
                    return
                raise not_found("recipient", name)
            self.store.delete("recipient", record["name"])
            for token in record["tokens"]:
                self.store.delete("sharing-activation", token["activation_code"])
            for key, share in self.store.scan("share"):
                if record["name"] in share["recipients"]:
                    share["recipients"] = [r for r in share["recipients"] if r != record["name"]]
                    self.store.put("share", key, share)
        # token hashes stay behind but point to no recipient: they authenticate nobody

    def rotate_token(self, name: str, existing_token_expire_in_seconds: Any, principal: str) -> dict:
        try:
            seconds = int(existing_token_expire_in_seconds)
        except (TypeError, ValueError):
            raise invalid("existing_token_expire_in_seconds is required (seconds, 0 or more).") from None
        if seconds < 0:
            raise invalid("existing_token_expire_in_seconds must not be negative.")
        with self.store.lock:
            record = self._recipient(name)
            now = now_ms()
            record["tokens"] = [t for t in record["tokens"] if t["expiration_time"] > now]
            for token in record["tokens"]:
                token["expiration_time"] = min(token["expiration_time"], now + seconds * 1000)
                token.update(updated_at=now, updated_by=principal)
            self._new_token(record, None, principal)
            record.update(updated_at=now, updated_by=principal)
            self.store.put("recipient", record["name"], record)
            return self.recipient_view(record)

    def recipient_share_permissions(self, name: str) -> dict[str, Any]:
        recipient = self._recipient(name)["name"]
        return {
            "permissions_out": [
                {
                    "share_name": share["name"],
                    "privilege_assignments": [{"principal": recipient, "privileges": list(PRIVILEGES)}],
                }
                for _, share in self.store.scan("share")
                if recipient in share["recipients"]
            ]
        }

    # activation ---------------------------------------------------------------------------------
    def _activation(self, code: str) -> dict[str, Any]:
        record = self.store.get("sharing-activation", code)
        if record is None or self.store.get("recipient", record["recipient"]) is None:
            raise ApiError(
                404,
                "RESOURCE_DOES_NOT_EXIST",
                "The activation link is invalid or was already used: ask the provider for a new one.",
            )
        return record

    def activation_info(self, code: str) -> dict[str, Any]:
        self._activation(code)
        return {}

    def retrieve_token(self, code: str) -> dict[str, Any]:
        """The profile file, once: the activation code is spent and only the token's hash stays."""
        with self.store.lock:
            activation = self._activation(code)
            record = self._recipient(activation["recipient"])
            token = next((t for t in record["tokens"] if t["id"] == activation["token_id"]), None)
            if token is None or token["expiration_time"] <= now_ms():
                raise forbidden("The token of this activation link has expired.")
            token["retrieved"] = True
            self.store.put("recipient", record["name"], record)
            self.store.delete("sharing-activation", code)
        return {
            "shareCredentialsVersion": 1,
            "bearerToken": activation["token"],
            "endpoint": self.endpoint,
            "expirationTime": _iso(token["expiration_time"]),
        }

    # the recipient side ---------------------------------------------------------------------------
    def authenticate(self, authorization: str) -> str:
        """The recipient a ``Bearer`` token belongs to; 401 for a missing, unknown or expired token."""
        if not authorization.startswith("Bearer "):
            raise unauthenticated("Missing bearer token: send the profile's bearerToken.")
        found = self.store.get("sharing-token", _hash(authorization[7:].strip()))
        record = self.store.get("recipient", found["recipient"]) if found else None
        token = next((t for t in record["tokens"] if t["id"] == found["token_id"]), None) if record else None
        if token is None or found is None or record is None:
            raise unauthenticated("The bearer token is invalid or its recipient was dropped.")
        if token["expiration_time"] <= now_ms():
            raise unauthenticated(f"The bearer token expired at {_iso(token['expiration_time'])}.")
        return record["name"]

    def granted_shares(self, recipient: str) -> list[dict[str, Any]]:
        return [share for _, share in self.store.scan("share") if recipient in share["recipients"]]

    def granted_share(self, recipient: str, name: str) -> dict[str, Any]:
        record = self.store.get("share", str(name).lower())
        if record is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Share '{name}' does not exist.")
        if recipient not in record["recipients"]:
            raise forbidden(f"Share '{name}' is not shared with this recipient.")
        return record

    def shared_object(self, recipient: str, share: str, schema: str, table: str) -> dict[str, Any]:
        record = self.granted_share(recipient, share)
        alias = f"{schema}.{table}".lower()
        found = next((o for o in record["objects"] if o.get("shared_as") == alias), None)
        if found is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Table '{alias}' is not in share '{share}'.")
        return found

    def readable(self, data_object: dict[str, Any]) -> dict[str, Any]:
        """The catalog table behind a shared object, re-checked against the PII rule on every read."""
        table = self.table(data_object["name"])
        self.check_shareable(table)
        return table

    def query(self, data_object: dict[str, Any], body: dict[str, Any]) -> tuple[dict[str, Any], Snapshot]:
        """(catalog table, snapshot) for a query's ``version``/``timestamp`` (history permitting)."""
        table = self.readable(data_object)
        version, timestamp = body.get("version"), body.get("timestamp")
        if version is not None and timestamp is not None:
            raise invalid("Give version or timestamp, not both.")
        if (version is not None or timestamp is not None) and data_object.get(
            "history_data_sharing_status"
        ) != "ENABLED":
            raise invalid(
                f"Table {data_object['shared_as']} is shared without history: only its current version "
                "can be read (the provider shares it WITH HISTORY to allow version and timestamp)."
            )
        if version is not None:
            if not isinstance(version, int) or version < 0:
                raise invalid("version must be a non-negative integer.")
        elif timestamp is not None:
            version = self.files.version_at(table, str(timestamp))
        start = data_object.get("start_version") or 0
        if version is not None and version < start:
            raise invalid(f"Version {version} is before the first shared version ({start}).")
        snapshot = self.files.snapshot(table, version)
        unsupported = set(snapshot.reader_features) & UNSERVABLE_READER_FEATURES
        if snapshot.deletion_vectors:
            unsupported.add("deletionVectors")
        mapping = snapshot.metadata.get("configuration", {}).get("delta.columnMapping.mode", "none")
        if unsupported or mapping != "none":
            raise invalid(
                f"Table {data_object['shared_as']} needs reader features the parquet response format cannot "
                f"serve ({', '.join(sorted(unsupported)) or 'column mapping'})."
            )
        snapshot.files = [f for f in snapshot.files if _in_partitions(f, data_object.get("partitions"))]
        return table, snapshot


def _in_partitions(file: dict[str, Any], partitions: list[dict[str, Any]] | None) -> bool:
    """Whether a file lies in one of the share's partition filters (each an AND of values)."""
    if not partitions:
        return True
    values = {k.lower(): v for k, v in (file.get("partitionValues") or {}).items()}
    for partition in partitions:
        matched = True
        for value in partition["values"]:
            actual = values.get(value["name"].lower())
            wanted = value.get("value")
            if value["op"] == "LIKE":
                pattern = str(wanted or "").replace("%", "*").replace("_", "?")
                matched = actual is not None and fnmatch.fnmatchcase(actual, pattern)
            else:
                matched = actual == (None if wanted is None else str(wanted))
            if not matched:
                break
        if matched:
            return True
    return False


#: paths a workspace token does not guard: the recipient's protocol server (its own bearer tokens) and the
#: public activation endpoints
PUBLIC_PATHS = ("/api/2.0/delta-sharing/", "/api/2.1/unity-catalog/public/")


def build_sharing(
    store: RecordStore, catalog: UnityCatalog, governance: Governance, connection_string: str, host_url: str
) -> Sharing:
    """The workspace's sharing model, reading MANAGED tables' ratified commits from its catalog."""

    def commits(table: dict[str, Any]) -> dict[str, Any] | None:
        body = {"table_id": table["table_id"], "table_uri": table["storage_location"], "start_version": 0}
        try:
            return catalog.get_commits(body)
        except ApiError:
            return None

    return Sharing(store, catalog, governance, DeltaFiles(connection_string, commits), host_url)
