"""The PII cipher: the layout Spark's aes_encrypt uses, authentication, keys, search tokens."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from climatelake import pii


def test_round_trip_and_layout():
    key = pii.new_key()
    token = pii.encrypt("ada@example.com", key)
    blob = base64.b64decode(token)
    assert len(blob) == pii.IV_BYTES + len("ada@example.com") + pii.TAG_BYTES
    assert pii.decrypt(token, key) == "ada@example.com"
    assert pii.encrypt("ada@example.com", key) != token  # a fresh random IV each time


def test_wrong_key_and_tampering_fail_authentication():
    key = pii.new_key()
    token = pii.encrypt("+1-555-0100", key)
    with pytest.raises(pii.DecryptionError, match="authentication failed"):
        pii.decrypt(token, pii.new_key())
    blob = bytearray(base64.b64decode(token))
    blob[pii.IV_BYTES] ^= 1
    with pytest.raises(pii.DecryptionError, match="authentication failed"):
        pii.decrypt(base64.b64encode(bytes(blob)).decode(), key)
    with pytest.raises(pii.DecryptionError, match="too short"):
        pii.decrypt(base64.b64encode(b"short").decode(), key)
    with pytest.raises(pii.DecryptionError, match="not base64"):
        pii.decrypt("***", key)


def test_known_answer_matches_aes_gcm_with_the_spark_layout():
    # Independent check with a fixed IV: IV ‖ AES-GCM(ciphertext ‖ tag), the layout of Spark's aes_encrypt.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key, iv = bytes(range(32)), bytes(range(12))
    expected = iv + AESGCM(key).encrypt(iv, b"Spark", None)
    assert pii.decrypt(base64.b64encode(expected).decode(), key) == "Spark"


def test_batches_keep_nulls_and_decrypt_back():
    key = pii.new_key()
    values = ["a@x.io", None, "b@y.io"]
    encrypted = pii.encrypt_many(values, key)
    assert encrypted[1] is None
    assert [pii.decrypt(v, key) if v else None for v in encrypted] == values


def test_search_tokens_are_deterministic_normalised_and_keyed():
    k1, k2 = pii.new_key(), pii.new_key()
    assert pii.search_token(" Ada@Example.com ", k1) == pii.search_token("ada@example.com", k1)
    assert pii.search_token("ada@example.com", k1) != pii.search_token("ada@example.com", k2)


def test_salary_band():
    assert pii.salary_band(61_500) == "50k-75k"
    assert pii.salary_band(75_000) == "75k-100k"


def test_key_file_provider(tmp_path: Path):
    path = tmp_path / "pii.keys"
    made = pii.KeyFileKeys.create(path)
    assert pii.KeyFileKeys(path).keys() == made
    path.chmod(0o644)
    with pytest.raises(PermissionError):
        pii.KeyFileKeys(path).keys()
    with pytest.raises(ValueError, match="16, 24 or 32"):
        pii.decode_key(base64.b64encode(b"x" * 10).decode())


def test_workspace_secret_scope_provider(tmp_path: Path):
    """The job's way to get keys: a Databricks secret scope through databricks-sdk (here the stand-in)."""
    from emulators.workspace.testing import InProcessWorkspace

    workspace = InProcessWorkspace(tmp_path / "ws").start()
    try:
        w = workspace.client()
        w.secrets.create_scope("climatelake")
        key, token_key = pii.new_key(), pii.new_key()
        w.secrets.put_secret("climatelake", "pii-key", string_value=pii.encode_key(key))
        w.secrets.put_secret("climatelake", "pii-token-key", string_value=pii.encode_key(token_key))
        keys = pii.WorkspaceSecretsKeys(w).keys()
        assert keys == pii.PiiKeys(key, token_key, "1")  # a scope from before versioned names

        provider = pii.WorkspaceSecretsKeys(w)
        assert provider.add_version() == "2"
        names = {s.key for s in w.secrets.list_secrets("climatelake")}
        assert {"pii-key-v2", "pii-key-current"} <= names
        assert provider.current_version() == "2" and provider.keys().version == "2"
        assert provider.keys().encryption not in (key, token_key)
        assert provider.keys("1").encryption == key and provider.keys().search == token_key
        w.secrets.put_secret("climatelake", "pii-key-v3", string_value=pii.encode_key(pii.new_key()))
        assert provider.add_version() == "4"  # never overwrites an existing version
        with pytest.raises(LookupError, match="version 9"):
            provider.keys("9")
        with pytest.raises(LookupError):
            provider.set_current("9")
        assert provider.current_version() == "4"
        assert provider.ensure_keys() == "4" and provider.keys("4").encryption  # keys there: unchanged

        w.secrets.create_scope("empty")
        fresh = pii.WorkspaceSecretsKeys(w, scope="empty")
        assert fresh.ensure_keys() == "1" and fresh.keys().version == "1"
        first = fresh.keys()
        assert fresh.ensure_keys() == "1" and fresh.keys() == first  # a second call changes nothing
    finally:
        workspace.stop()


def test_batch_helpers_masks_and_recovery():
    key = pii.new_key()
    values = [f"user{i}@example.com" for i in range(50)] + [None]
    encrypted = pii.encrypt_many(values, key)
    ivs = {base64.b64decode(v)[: pii.IV_BYTES] for v in encrypted if v}
    assert len(ivs) == 50  # one fresh IV per value, even from one urandom call
    assert pii.decrypt_many(encrypted, key) == values
    with pytest.raises(pii.DecryptionError):
        pii.decrypt_many(encrypted[:1], pii.new_key())
    # recover: ciphertexts of this key are opened, anything else is kept as it is
    mixed = [encrypted[0], "plain@example.com", None, pii.encrypt("other", pii.new_key())]
    assert pii.recover_many(mixed, key) == [values[0], "plain@example.com", None, mixed[3]]
    assert pii.mask("email", "jane.doe@example.com") == "j***@example.com"
    assert pii.mask("phone", "+1-212-555-0142") == "***-***-0142"
    assert pii.mask("name", "Jane") == "***"
    assert "encryption" not in repr(pii.PiiKeys(key, key, "3"))


def test_key_file_versions(tmp_path: Path):
    path = tmp_path / "pii.keys"
    made = pii.KeyFileKeys.create(path)
    old = pii.new_key()
    with path.open("a") as handle:
        handle.write(f"encryption.v0={pii.encode_key(old)}\n")
    provider = pii.KeyFileKeys(path)
    assert provider.current_version() == "1" and provider.keys() == made
    assert provider.keys("0").encryption == old
    with pytest.raises(LookupError):
        provider.keys("5")


def test_batch_search_tokens_equal_single_ones():
    key = pii.new_key()
    values = [" Ada@Example.com ", None, "b@y.io"]
    assert pii.search_tokens(values, key) == [
        pii.search_token(values[0], key),
        None,
        pii.search_token("b@y.io", key),
    ]
