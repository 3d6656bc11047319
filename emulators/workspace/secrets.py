"""Secrets 2.0 state and behaviour (no HTTP here): Databricks-backed scopes and their secrets, and Azure Key
Vault-backed scopes (``scope_backend_type`` AZURE_KEYVAULT with ``backend_azure_keyvault`` {``resource_id``,
``dns_name``}, listed with ``keyvault_metadata``, as databricks-sdk's SecretScope reads them).

Key Vault-backed scopes, LIMITATIONS: Databricks creates one only for a caller signed in with a Microsoft
Entra ID token (a personal access token is refused) and reads the secrets from the vault; the stand-in
accepts its own tokens and reaches no vault, so such a scope lists no secrets and ``get`` answers
RESOURCE_DOES_NOT_EXIST; ``put``/``delete`` answer 400 BAD_REQUEST as Databricks does.

Values are kept encrypted at rest: AES-256-GCM with a fresh 96-bit nonce per value and the scope and key as
associated data (so a ciphertext cannot be moved to another secret). The key comes from the configuration
(``secrets_key``, 32 bytes in base64) or from ``secrets.key`` in the data folder, made on first start with
mode 0600. The API carries values in base64 (``bytes_value``/``value``), or as ``string_value`` on put.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from emulators.common.records import RecordStore
from emulators.workspace.catalog import now_ms
from emulators.workspace.errors import (
    ApiError,
    invalid,
    resource_already_exists,
    resource_does_not_exist,
)

_NAME = re.compile(r"^[A-Za-z0-9_\-.]{1,128}$")
MAX_VALUE_BYTES = 128 * 1024


def load_key(configured: str, data_dir: Path) -> bytes:
    """The AES-256 key: from the configuration, else the data folder's key file (made when absent)."""
    if configured:
        try:
            key = base64.b64decode(configured, validate=True)
        except binascii.Error:
            raise ValueError("secrets_key must be 32 bytes in base64") from None
        if len(key) != 32:
            raise ValueError("secrets_key must be 32 bytes in base64")
        return key
    path = data_dir / "secrets.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64encode(AESGCM.generate_key(bit_length=256)))
    return base64.b64decode(path.read_bytes().strip())


class Secrets:
    def __init__(self, store: RecordStore, key: bytes) -> None:
        self.store = store
        self._aead = AESGCM(key)

    # scopes -------------------------------------------------------------------------------------
    def create_scope(self, body: dict[str, Any], principal: str) -> str:
        scope = _check(body.get("scope"), "scope")
        backend = str(body.get("scope_backend_type") or "DATABRICKS").upper()
        if backend not in ("DATABRICKS", "AZURE_KEYVAULT"):
            raise invalid(f"Unknown scope_backend_type '{backend}': DATABRICKS or AZURE_KEYVAULT.")
        record: dict[str, Any] = {"name": scope, "backend_type": backend, "created_by": principal}
        if backend == "AZURE_KEYVAULT":
            record["keyvault_metadata"] = _keyvault(body.get("backend_azure_keyvault"))
        if not self.store.insert("secret-scope", scope, record):
            raise resource_already_exists(f"Scope {scope} already exists!")
        return scope

    def list_scopes(self) -> list[dict[str, Any]]:
        return [
            {k: s[k] for k in ("name", "backend_type", "keyvault_metadata") if k in s}
            for _, s in self.store.scan("secret-scope")
        ]

    def delete_scope(self, scope: Any) -> None:
        scope = self.scope(scope)
        with self.store.lock:
            for key, _ in list(self.store.scan("secret", f"{scope}/")):
                self.store.delete("secret", key)
            self.store.delete("secret-scope", scope)

    def scope(self, scope: Any, writing: bool = False) -> str:
        """The name of an existing scope (404 RESOURCE_DOES_NOT_EXIST otherwise)."""
        if not isinstance(scope, str) or not scope:
            raise invalid("scope is required.")
        record = self.store.get("secret-scope", scope)
        if record is None:
            raise resource_does_not_exist(f"Scope {scope} does not exist!")
        if writing and record["backend_type"] == "AZURE_KEYVAULT":
            # "Throws BAD_REQUEST if request is made against Azure KeyVault backed scope" (databricks-sdk,
            # SecretsAPI.put_secret / delete_secret): such secrets are written in Key Vault itself
            raise ApiError(
                400, "BAD_REQUEST", f"Scope {scope} is backed by Azure Key Vault: write its secrets there."
            )
        return scope

    # secrets ------------------------------------------------------------------------------------
    def put(self, body: dict[str, Any]) -> None:
        scope = self.scope(body.get("scope"), writing=True)
        key = _check(body.get("key"), "key")
        string_value, bytes_value = body.get("string_value"), body.get("bytes_value")
        if (string_value is None) == (bytes_value is None):
            raise invalid("Exactly one of string_value and bytes_value must be given.")
        if string_value is not None:
            value = str(string_value).encode()
        else:
            try:
                value = base64.b64decode(str(bytes_value), validate=True)
            except binascii.Error:
                raise invalid("bytes_value must be base64.") from None
        if len(value) > MAX_VALUE_BYTES:
            raise invalid(f"A secret value may be at most {MAX_VALUE_BYTES} bytes.")
        nonce = os.urandom(12)
        ciphertext = self._aead.encrypt(nonce, value, f"{scope}/{key}".encode())
        self.store.put(
            "secret",
            f"{scope}/{key}",
            {
                "key": key,
                "nonce": base64.b64encode(nonce).decode(),
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "last_updated_timestamp": now_ms(),
            },
        )

    def get(self, scope: Any, key: Any) -> dict[str, Any]:
        scope = self.scope(scope)
        record = self.store.get("secret", f"{scope}/{key}")
        if record is None:
            raise resource_does_not_exist(f"Failed to get secret {key} for scope {scope}.")
        value = self._aead.decrypt(
            base64.b64decode(record["nonce"]),
            base64.b64decode(record["ciphertext"]),
            f"{scope}/{key}".encode(),
        )
        return {"key": record["key"], "value": base64.b64encode(value).decode()}

    def list(self, scope: Any) -> list[dict[str, Any]]:
        scope = self.scope(scope)
        return [
            {"key": r["key"], "last_updated_timestamp": r["last_updated_timestamp"]}
            for _, r in self.store.scan("secret", f"{scope}/")
        ]

    def delete(self, body: dict[str, Any]) -> None:
        scope = self.scope(body.get("scope"), writing=True)
        key = body.get("key")
        if not self.store.delete("secret", f"{scope}/{key}"):
            raise resource_does_not_exist(f"Secret {key} does not exist in scope {scope}.")


def _check(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise invalid(
            f"Invalid {what} '{name}': use 1 to 128 letters, digits, dashes, underscores and periods."
        )
    return name


def _keyvault(metadata: Any) -> dict[str, str]:
    """``backend_azure_keyvault`` of an AZURE_KEYVAULT scope: the vault's ARM ``resource_id`` and
    ``dns_name`` (databricks-sdk's AzureKeyVaultSecretScopeMetadata; both required)."""
    if not isinstance(metadata, dict) or not metadata.get("resource_id") or not metadata.get("dns_name"):
        raise invalid("An AZURE_KEYVAULT scope needs backend_azure_keyvault with resource_id and dns_name.")
    resource_id, dns_name = str(metadata["resource_id"]), str(metadata["dns_name"])
    if "/providers/microsoft.keyvault/vaults/" not in resource_id.lower():
        raise invalid(f"backend_azure_keyvault.resource_id '{resource_id}' is not a Key Vault resource id.")
    if not dns_name.startswith("https://"):
        raise invalid(f"backend_azure_keyvault.dns_name '{dns_name}' must be the vault's https:// URI.")
    return {"resource_id": resource_id, "dns_name": dns_name}
