"""PII protection in the format Databricks SQL decrypts: AES-256-GCM as Spark's ``aes_encrypt`` lays it out.

Layout (Spark/Databricks ``aes_encrypt(input, key, 'GCM')``): 12-byte random IV ‖ ciphertext ‖ 16-byte tag,
no AAD unless one is configured; stored base64 in string columns, so on Databricks

    CAST(aes_decrypt(unbase64(email), unbase64(secret('climatelake', 'pii-key'))) AS STRING)

returns the plaintext. Why not Sail's ``aes_encrypt``: it fails on columns (literals only), so the jobs
encrypt with these functions inside Python UDFs / ``mapInArrow``, batched per Arrow batch.

Search tokens: HMAC-SHA256 with a *separate* key over the normalised value (trimmed, lower-case), hex — so
equality lookups and joins work without decrypting, and the token reveals nothing without the token key.

Keys (32 random bytes each) come from a :class:`KeyProvider` chosen by configuration; they are never logged,
put in a manifest or in an event. A key is stored as base64 text (as ``unbase64(secret(...))`` expects).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass
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
    """Encrypt a batch (one Arrow batch in the job); None stays None. One cipher object for the batch."""
    cipher = AESGCM(key)
    out: list[str | None] = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        iv = os.urandom(IV_BYTES)
        out.append(base64.b64encode(iv + cipher.encrypt(iv, value.encode(), None)).decode())
    return out


def search_token(value: str, token_key: bytes) -> str:
    """Deterministic HMAC-SHA256 of the normalised value: equal inputs give equal tokens."""
    return hmac.new(token_key, value.strip().lower().encode(), hashlib.sha256).hexdigest()


def salary_band(salary: float) -> str:
    """A non-sensitive band for analytics, derived before the salary is encrypted (width 25,000)."""
    low = int(salary // 25_000) * 25_000
    return f"{low // 1000}k-{(low + 25_000) // 1000}k"


# --- key providers ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PiiKeys:
    encryption: bytes
    search: bytes
    version: str


class KeyProvider(Protocol):
    def keys(self) -> PiiKeys: ...


class WorkspaceSecretsKeys:
    """Keys from a Databricks secret scope through databricks-sdk (``w.secrets``) — the job's way on
    Databricks and locally alike. Secrets hold base64 text; the API returns that text base64-encoded."""

    def __init__(
        self,
        w,
        scope: str = "climatelake",
        key_name: str = "pii-key",
        token_key_name: str = "pii-token-key",
        version_name: str = "pii-key-version",
    ) -> None:
        self.w, self.scope = w, scope
        self.names = (key_name, token_key_name, version_name)

    def _get(self, name: str) -> str:
        return base64.b64decode(self.w.secrets.get_secret(self.scope, name).value).decode()

    def keys(self) -> PiiKeys:
        key_name, token_name, version_name = self.names
        try:
            version = self._get(version_name)
        except Exception:  # a scope without a version secret: version 1
            version = "1"
        return PiiKeys(decode_key(self._get(key_name)), decode_key(self._get(token_name)), version)


class KeyFileKeys:
    """Keys from a local file (development only): lines ``encryption=<b64>``, ``search=<b64>``,
    ``version=<n>``. The file must be readable by its owner only."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def keys(self) -> PiiKeys:
        if self.path.stat().st_mode & 0o077:
            raise PermissionError(f"{self.path} must not be readable by group or others (chmod 600)")
        values = dict(line.split("=", 1) for line in self.path.read_text().splitlines() if "=" in line)
        return PiiKeys(
            decode_key(values["encryption"]), decode_key(values["search"]), values.get("version", "1")
        )

    @staticmethod
    def create(path: Path) -> PiiKeys:
        keys = PiiKeys(new_key(), new_key(), "1")
        path = Path(path)
        path.touch(mode=0o600, exist_ok=False)
        path.write_text(
            f"encryption={encode_key(keys.encryption)}\nsearch={encode_key(keys.search)}\nversion=1\n"
        )
        return keys
