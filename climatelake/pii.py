"""PII protection in the format Databricks SQL decrypts: AES-256-GCM as Spark's ``aes_encrypt`` lays it out.

Layout (Spark/Databricks ``aes_encrypt(input, key, 'GCM')``): 12-byte random IV ‖ ciphertext ‖ 16-byte tag,
no AAD unless one is configured; stored base64 in string columns, so on Databricks

    CAST(aes_decrypt(unbase64(email), unbase64(secret('climatelake', 'pii-key-v1'))) AS STRING)

returns the plaintext. Why not Sail's ``aes_encrypt``: it fails on columns (literals only), so the jobs
encrypt with these functions inside Python UDFs / ``mapInArrow``, batched per Arrow batch.

Search tokens: HMAC-SHA256 with a *separate* key over the normalised value (trimmed, lower-case), hex — so
equality lookups and joins work without decrypting, and the token reveals nothing without the token key.

Keys (32 random bytes each) come from a :class:`KeyProvider` chosen by configuration
(:func:`provider_from_env`: the workspace secret scope, Azure Key Vault or a local file); they are never
logged, put in a manifest or in an event (``PiiKeys`` leaves them out of its repr). A key is stored as
base64 text (as ``unbase64(secret(...))`` expects).

Rotation: keys are versioned (``pii-key-v<n>`` and a ``pii-key-current`` pointer, :class:`NamedSecretKeys`);
every encrypted row records its version (``pii_key_version``), so a table stays readable while a rotation
re-encrypts it (``databricks/src/employees_rotate.py``) and an old version can be deleted once no row uses it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

IV_BYTES = 12
TAG_BYTES = 16


class DecryptionError(ValueError):
    """Wrong key, tampered or truncated ciphertext: the message says which, never the plaintext."""


def new_key() -> bytes:
    return os.urandom(32)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode()


def decode_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key is not base64 text") from None
    if len(key) not in (16, 24, 32):
        raise ValueError(f"an AES key has 16, 24 or 32 bytes, not {len(key)}")
    return key


def encrypt(plaintext: str, key: bytes, aad: bytes | None = None) -> str:
    """Base64 of IV ‖ ciphertext ‖ tag, exactly what ``base64(aes_encrypt(x, key, 'GCM'))`` gives."""
    iv = os.urandom(IV_BYTES)
    return base64.b64encode(iv + AESGCM(key).encrypt(iv, plaintext.encode(), aad)).decode()


def decrypt(token: str, key: bytes, aad: bytes | None = None) -> str:
    try:
        blob = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("the ciphertext is not base64") from None
    if len(blob) < IV_BYTES + TAG_BYTES:
        raise DecryptionError("the ciphertext is too short to be AES-GCM output")
    try:
        return AESGCM(key).decrypt(blob[:IV_BYTES], blob[IV_BYTES:], aad).decode()
    except InvalidTag:
        raise DecryptionError("authentication failed: wrong key or tampered ciphertext") from None


def encrypt_many(values: Iterable[str | None], key: bytes) -> list[str | None]:
    """Encrypt a batch (one Arrow batch in the job); None stays None.

    Why this shape: per value, the cipher call itself is ~1 µs, so everything around it counts. One
    ``AESGCM`` object for the batch, one ``os.urandom`` call for all IVs (a syscall per value costs as much
    as the cipher), and bound methods hoisted out of the loop."""
    items = list(values)
    ivs = os.urandom(IV_BYTES * len(items))
    seal = AESGCM(key).encrypt
    b64 = base64.b64encode
    out: list[str | None] = []
    append = out.append
    for i, value in enumerate(items):
        if value is None:
            append(None)
            continue
        iv = ivs[i * IV_BYTES : (i + 1) * IV_BYTES]
        append(b64(iv + seal(iv, value.encode(), None)).decode())
    return out


def decrypt_many(tokens: Iterable[str | None], key: bytes) -> list[str | None]:
    """Decrypt a batch with one cipher object; None stays None; any bad value raises DecryptionError."""
    cipher = AESGCM(key)
    out: list[str | None] = []
    for token in tokens:
        if token is None:
            out.append(None)
            continue
        blob = base64.b64decode(token)
        try:
            out.append(cipher.decrypt(blob[:IV_BYTES], blob[IV_BYTES:], None).decode())
        except InvalidTag:
            raise DecryptionError("authentication failed: wrong key or tampered ciphertext") from None
    return out


def recover_many(values: Iterable[str | None], key: bytes) -> list[str | None]:
    """Plaintext of each value: decrypted when it is a ciphertext of ``key``, else the value itself.

    For rows whose column may or may not be encrypted yet (a job that died between its commit and its
    ``pii_protection`` tag; a column newly tagged PII). AES-GCM's 128-bit tag tells the two apart, so
    encrypting the result again never double-encrypts."""
    cipher = AESGCM(key)
    out: list[str | None] = []
    for value in values:
        try:
            blob = base64.b64decode(value, validate=True)
            out.append(cipher.decrypt(blob[:IV_BYTES], blob[IV_BYTES:], None).decode())
        except Exception:  # None, not base64, too short, or not ours: as it is
            out.append(value)
    return out


def mask(kind: str, value: str) -> str:
    """What a reader without PII rights sees, derived before encryption: ``j***@example.com`` for an email,
    ``***-***-0142`` for a phone, ``***`` for anything else (same forms as the gateway's)."""
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if kind == "phone":
        return "***-***-" + "".join(c for c in value if c.isdigit())[-4:]
    return "***"


def search_token(value: str, token_key: bytes) -> str:
    """Deterministic HMAC-SHA256 of the normalised value: equal inputs give equal tokens."""
    return hmac.new(token_key, value.strip().lower().encode(), hashlib.sha256).hexdigest()


def search_tokens(values: Iterable[str | None], token_key: bytes) -> list[str | None]:
    """:func:`search_token` for a batch: the keyed HMAC state is made once and copied per value."""
    base = hmac.new(token_key, digestmod=hashlib.sha256)
    out: list[str | None] = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        mac = base.copy()
        mac.update(value.strip().lower().encode())
        out.append(mac.hexdigest())
    return out


def salary_band(salary: float) -> str:
    """A non-sensitive band for analytics, derived before the salary is encrypted (width 25,000)."""
    low = int(salary // 25_000) * 25_000
    return f"{low // 1000}k-{(low + 25_000) // 1000}k"


# --- key providers ----------------------------------------------------------------------------------
#: secret names shared by every secret store (Databricks secret scopes and Key Vault allow these names)
CURRENT_POINTER = "pii-key-current"
TOKEN_KEY_NAME = "pii-token-key"
LEGACY_KEY_NAME = "pii-key"  # version 1 before versioned names existed
LEGACY_VERSION_NAME = "pii-key-version"


def key_secret_name(version: str) -> str:
    """``pii-key-v<version>``: each key version is its own secret, so retiring one is deleting it."""
    return f"pii-key-v{version}"


@dataclass(frozen=True)
class PiiKeys:
    encryption: bytes = field(repr=False)
    search: bytes = field(repr=False)
    version: str = "1"


class KeyProvider(Protocol):
    def keys(self, version: str | None = None) -> PiiKeys:
        """The keys of ``version`` (default: the current one)."""
        ...

    def current_version(self) -> str: ...


class NamedSecretKeys:
    """Versioned keys in a secret store, by name (subclasses say how to get and put one secret).

    Layout: ``pii-key-v<n>`` holds version n of the encryption key (base64 text), ``pii-key-current`` the
    number of the version new data is encrypted with, ``pii-token-key`` the search-token key (not versioned:
    tokens must stay comparable across rotations). Before versioned names existed, the key was ``pii-key``
    (version 1) with an optional ``pii-key-version``; both are still read, so old scopes keep working.
    """

    def _get(self, name: str) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _put(self, name: str, value: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} cannot store keys")

    def current_version(self) -> str:
        return (self._get(CURRENT_POINTER) or self._get(LEGACY_VERSION_NAME) or "1").strip()

    def keys(self, version: str | None = None) -> PiiKeys:
        version = version or self.current_version()
        text = self._get(key_secret_name(version))
        if text is None and version == "1":
            text = self._get(LEGACY_KEY_NAME)
        if text is None:
            raise LookupError(f"no PII encryption key of version {version} ({key_secret_name(version)})")
        search = self._get(TOKEN_KEY_NAME)
        if search is None:
            raise LookupError(f"no PII search-token key ({TOKEN_KEY_NAME})")
        return PiiKeys(decode_key(text), decode_key(search), version)

    def ensure_keys(self) -> str:
        """Make an empty store usable — a search-token key and a first encryption key, current — and leave
        a store that has keys as it is; returns the current version."""
        if self._get(TOKEN_KEY_NAME) is None:
            self._put(TOKEN_KEY_NAME, encode_key(new_key()))
        try:
            return self.keys().version
        except LookupError:
            version = self.current_version()
            self._put(key_secret_name(version), encode_key(new_key()))
            self._put(CURRENT_POINTER, version)
            return version

    def add_version(self) -> str:
        """Store a new random key as the next free version and make it current; returns the version."""
        version = int(self.current_version()) + 1
        while self._get(key_secret_name(str(version))) is not None:
            version += 1
        self._put(key_secret_name(str(version)), encode_key(new_key()))
        self.set_current(str(version))
        return str(version)

    def set_current(self, version: str) -> None:
        self.keys(version)  # the version must exist and decode
        self._put(CURRENT_POINTER, version)


class WorkspaceSecretsKeys(NamedSecretKeys):
    """Keys from a Databricks secret scope through databricks-sdk (``w.secrets``) — the job's way on
    Databricks and locally alike. Secrets hold base64 text; the API returns that text base64-encoded."""

    def __init__(self, w, scope: str = "climatelake") -> None:
        self.w, self.scope = w, scope

    def _get(self, name: str) -> str | None:
        from databricks.sdk.errors import NotFound

        try:
            value = self.w.secrets.get_secret(self.scope, name).value
        except NotFound:
            return None
        return base64.b64decode(value).decode()

    def _put(self, name: str, value: str) -> None:
        self.w.secrets.put_secret(self.scope, name, string_value=value)


class KeyVaultKeys(NamedSecretKeys):
    """Keys from Azure Key Vault secrets (azure-keyvault-secrets), same names as in the secret scope.

    The credential defaults to azure-identity's ``DefaultAzureCredential`` (managed identity on Azure, the
    developer's ``az login`` locally); ``client_kwargs`` reach ``SecretClient`` (e.g. a transport)."""

    def __init__(self, vault_url: str, credential=None, **client_kwargs) -> None:
        from azure.keyvault.secrets import SecretClient

        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        self.client = SecretClient(vault_url, credential, **client_kwargs)

    def _get(self, name: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.client.get_secret(name).value
        except ResourceNotFoundError:
            return None

    def _put(self, name: str, value: str) -> None:
        self.client.set_secret(name, value, content_type="application/octet-stream;base64")


class KeyFileKeys:
    """Keys from a local file (development only): lines ``encryption=<b64>``, ``search=<b64>``,
    ``version=<n>`` and, for other versions, ``encryption.v<n>=<b64>``. Owner-only readable."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _values(self) -> dict[str, str]:
        if self.path.stat().st_mode & 0o077:
            raise PermissionError(f"{self.path} must not be readable by group or others (chmod 600)")
        return dict(line.split("=", 1) for line in self.path.read_text().splitlines() if "=" in line)

    def current_version(self) -> str:
        return self._values().get("version", "1").strip()

    def keys(self, version: str | None = None) -> PiiKeys:
        values = self._values()
        current = values.get("version", "1").strip()
        version = version or current
        text = values.get("encryption") if version == current else values.get(f"encryption.v{version}")
        if text is None:
            raise LookupError(f"no PII encryption key of version {version} in {self.path}")
        return PiiKeys(decode_key(text), decode_key(values["search"]), version)

    @staticmethod
    def create(path: Path) -> PiiKeys:
        keys = PiiKeys(new_key(), new_key(), "1")
        path = Path(path)
        path.touch(mode=0o600, exist_ok=False)
        path.write_text(
            f"encryption={encode_key(keys.encryption)}\nsearch={encode_key(keys.search)}\nversion=1\n"
        )
        return keys


PROVIDERS = ("workspace", "keyvault", "file")


def provider_from_env(environ: Mapping[str, str] | None = None, workspace=None) -> KeyProvider:
    """The key provider configuration names: ``CLIMATELAKE_PII_KEY_PROVIDER`` = ``workspace`` (default; the
    secret scope ``CLIMATELAKE_PII_SECRET_SCOPE``, default ``climatelake``, through databricks-sdk),
    ``keyvault`` (``CLIMATELAKE_PII_KEYVAULT_URL``) or ``file`` (``CLIMATELAKE_PII_KEY_FILE``)."""
    env = os.environ if environ is None else environ
    kind = (env.get("CLIMATELAKE_PII_KEY_PROVIDER") or "workspace").strip().lower()
    if kind == "workspace":
        if workspace is None:
            from climatelake.databricks_auth import workspace_client

            workspace = workspace_client()
        return WorkspaceSecretsKeys(workspace, env.get("CLIMATELAKE_PII_SECRET_SCOPE") or "climatelake")
    if kind == "keyvault":
        url = env.get("CLIMATELAKE_PII_KEYVAULT_URL", "").strip()
        if not url:
            raise ValueError("CLIMATELAKE_PII_KEY_PROVIDER=keyvault needs CLIMATELAKE_PII_KEYVAULT_URL")
        return KeyVaultKeys(url)
    if kind == "file":
        path = env.get("CLIMATELAKE_PII_KEY_FILE", "").strip()
        if not path:
            raise ValueError("CLIMATELAKE_PII_KEY_PROVIDER=file needs CLIMATELAKE_PII_KEY_FILE")
        return KeyFileKeys(Path(path))
    raise ValueError(f"CLIMATELAKE_PII_KEY_PROVIDER must be one of {', '.join(PROVIDERS)}, not {kind!r}")
