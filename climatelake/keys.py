"""Gateway API keys, kept only as salted hashes in Azure Table Storage.

A key looks like ``clk_<key id>_<secret>``. The key id (public, 12 hex) finds the record in one point read;
the secret (32 url-safe bytes) is checked against ``sha256(salt ‖ secret)``. The secret is never stored or
logged. Why SHA-256 and not a slow KDF: the secret is 256 random bits, so nothing is gained by slowing
guesses, and every request pays the check.

Roles, in increasing power (each includes the ones before it): ``reader`` (queries, own requests),
``submitter`` (+ create requests and upload manifests), ``pii_reader`` (+ decrypted PII where served),
``admin`` (keys, everyone's requests).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableServiceClient, UpdateMode

ROLES = ("reader", "submitter", "pii_reader", "admin")
PARTITION = "key"


def role_allows(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    role: str
    name: str
    created_at: str
    revoked: bool = False


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "clk" or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1], parts[2]


class ApiKeyStore:
    def __init__(self, connection_string: str, table_name: str = "apikeys") -> None:
        self._table = TableServiceClient.from_connection_string(connection_string).get_table_client(
            table_name
        )

    def ensure_table(self) -> None:
        try:
            self._table.create_table()
        except ResourceExistsError:
            pass

    def create(self, role: str, name: str) -> tuple[str, ApiKey]:
        """A new key; the returned string is the only time the secret exists outside the caller."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_hex(16)
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._table.create_entity(
            {
                "PartitionKey": PARTITION,
                "RowKey": key_id,
                "role": role,
                "name": name,
                "salt": salt,
                "hash": _digest(salt, secret),
                "created_at": created,
                "revoked": False,
            }
        )
        return f"clk_{key_id}_{secret}", ApiKey(key_id, role, name, created)

    def verify(self, key: str) -> ApiKey | None:
        """The key's record if the key is valid and not revoked, else None (constant-time compare)."""
        parts = split_key(key)
        if parts is None:
            return None
        key_id, secret = parts
        try:
            entity = self._table.get_entity(PARTITION, key_id)
        except ResourceNotFoundError:
            return None
        if entity.get("revoked") or not hmac.compare_digest(_digest(entity["salt"], secret), entity["hash"]):
            return None
        return ApiKey(key_id, entity["role"], entity.get("name", ""), entity.get("created_at", ""))

    def revoke(self, key_id: str) -> bool:
        try:
            self._table.update_entity(
                {"PartitionKey": PARTITION, "RowKey": key_id, "revoked": True}, mode=UpdateMode.MERGE
            )
            return True
        except ResourceNotFoundError:
            return False

    def list(self) -> list[ApiKey]:
        return [
            ApiKey(e["RowKey"], e["role"], e.get("name", ""), e.get("created_at", ""), bool(e.get("revoked")))
            for e in self._table.query_entities(f"PartitionKey eq '{PARTITION}'")
        ]
