"""Databricks SQL functions the engine lacks, supplied by the workspace: ``secret()`` and AES on columns.

Why it exists: on Databricks, ``CAST(aes_decrypt(unbase64(email), unbase64(secret('climatelake',
'pii-key-v1'))) AS STRING)`` decrypts a column with the platform's own SQL, and the column masks of
``sql/pii_masks.sql`` do exactly that for members of ``pii_readers``. Sail (0.7.2) has no ``secret()``, and
its ``aes_decrypt``/``aes_encrypt`` accept literals only ("Expr requires a single value" on a column). The
workspace *is* the secret service, so it resolves ``secret()`` itself, and it gives the engine the AES
functions as Python UDFs registered in the engine session that runs the statement:

- :meth:`SqlFunctions.prepare` rewrites a statement's text just before it goes to the engine (after the
  column masks were applied, so a mask's ``secret()`` is resolved too): ``secret('scope', 'key')`` becomes a
  string literal of the secret's value (``try_secret`` → NULL when missing), and ``aes_decrypt``,
  ``try_aes_decrypt`` and ``aes_encrypt`` become the UDFs. It works on sqlglot's tokens (never inside a
  string or comment) and splices only those spans, so the rest of the statement reaches the engine as
  written; a statement that names none of these functions is not even tokenized.
- The literal lives only in the text sent to the engine: result cells holding the value are redacted
  (``[REDACTED]``, as Databricks' secret redaction), column names get back the call (``secret(scope,
  key)``) and the functions' own names, and an engine error that quotes the value in any form is replaced
  by one that does not (:meth:`SqlFunctions.engine_error`).
- The UDFs implement Spark's layouts (GCM: 12-byte IV ‖ ciphertext ‖ 16-byte tag, optional AAD; CBC:
  16-byte IV ‖ ciphertext, PKCS#7; ECB: PKCS#7), binary in and out as Spark's. A decryption failure raises
  Spark's error class (``INVALID_PARAMETER_VALUE.AES_CRYPTO_ERROR`` …), which the statement shows as its
  error; ``try_aes_decrypt`` gives NULL instead. They are built by :func:`aes_functions` so that
  cloudpickle ships them by value: the engine's Python worker needs ``cryptography``, not this package.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.workspace.errors import ApiError
from emulators.workspace.governance import SqlStatementError

#: Databricks function → the UDF the engine runs instead (registered per engine session, when first needed)
UDFS = {
    "aes_decrypt": "local_aes_decrypt",
    "try_aes_decrypt": "local_try_aes_decrypt",
    "aes_encrypt": "local_aes_encrypt",
}
SECRET_FUNCTIONS = ("secret", "try_secret")
#: what Databricks shows instead of a secret's value in output
REDACTED = "[REDACTED]"
#: Spark's AES error classes, as the UDFs raise them inside the engine's Python worker
_AES_ERROR = re.compile(
    r"\[(?P<cls>(?:INVALID_PARAMETER_VALUE|UNSUPPORTED_FEATURE)\.AES_[A-Z_]+)\] (?P<message>.*?) "
    r"SQLSTATE: (?P<state>[0-9A-Z]{5})"
)
_UNKNOWN_UDF = re.compile(r"unknown function:?\s*`?(local_(?:try_)?aes_(?:de|en)crypt)", re.I)
#: a secret looked up by scope and key: its value in base64 (as the Secrets API's ``get`` answers it); an
#: ApiError when there is no such scope or key
SecretLookup = Callable[[str, str], str]


@dataclass
class Substitution:
    """A secret spliced into the engine's SQL: its value and the call it replaced (as Spark names it)."""

    value: str
    call: str


@dataclass
class Prepared:
    """The SQL the engine runs, and what the workspace must undo or hide in what comes back."""

    sql: str
    secrets: list[Substitution] = field(default_factory=list)
    udfs: bool = False

    def leaks(self, text: str) -> bool:
        """Whether ``text`` shows a substituted secret value in a form an engine prints (the text, its
        bytes in hex, as a list of numbers, or as a bytes repr; base64 values decoded too)."""
        flat = re.sub(r"\s+", "", text)
        for secret in self.secrets:
            if any(form and form in text for form in _text_forms(secret.value)):
                return True
            if any(numbers in flat for numbers in _number_forms(secret.value)):
                return True
        return False

    def redact(self, value: str | None) -> str | None:
        """A result cell with every substituted secret value in it replaced by ``[REDACTED]``."""
        if value is None or not self.secrets:
            return value
        for secret in self.secrets:
            for form in _text_forms(secret.value):
                if form:
                    value = value.replace(form, REDACTED)
        return value

    def column_name(self, name: str) -> str:
        """The name the column would have on Databricks: the secret's call and the functions' names back."""
        for secret in self.secrets:
            name = name.replace(secret.value, secret.call)
        return _original_names(name)


def _text_forms(value: str) -> list[str]:
    forms = [value, _escape(value)]
    raw = _decoded(value)
    for data in ([raw] if raw else []) + [value.encode()]:
        if len(data) >= 8:
            forms += [data.hex(), data.hex().upper(), repr(data)[2:-1]]
    return list(dict.fromkeys(f for f in forms if len(f) >= 4))


def _number_forms(value: str) -> list[str]:
    raw = _decoded(value)
    forms = []
    for data in ([raw] if raw else []) + [value.encode()]:
        if len(data) >= 8:
            forms.append(",".join(str(b) for b in data[:12]))
    return forms


def _decoded(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True) or None
    except (binascii.Error, ValueError):
        return None


def _escape(value: str) -> str:
    """The body of a Spark SQL string literal (backslash escapes, as Spark and Sail read them)."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _original_names(text: str) -> str:
    for name, udf in UDFS.items():
        text = re.sub(rf"\b{udf}\b", name, text)
    return text


class SqlFunctions:
    """Rewrites statements for the engine and registers the AES UDFs in the engine sessions that need them."""

    def __init__(self, lookup: SecretLookup) -> None:
        self.lookup = lookup
        self._registered: weakref.WeakSet = weakref.WeakSet()
        self._lock = threading.Lock()

    # the statement ------------------------------------------------------------------------------
    @staticmethod
    def needed(sql: str) -> bool:
        """A cheap first look: only a statement naming one of the functions is tokenized."""
        lower = sql.lower()
        return "secret" in lower or "aes_" in lower

    def prepare(self, sql: str) -> Prepared | None:
        """The statement as the engine must run it, or None when it calls none of the functions.

        Raises :class:`SqlStatementError` (``INVALID_SECRET_LOOKUP.*``, as Databricks) for a secret that
        does not exist or a ``secret()`` whose arguments are not string literals, and refuses a view that
        calls the functions (its stored text would hold the value).
        """
        if not self.needed(sql):
            return None
        from sqlglot.dialects.databricks import Databricks
        from sqlglot.errors import TokenError
        from sqlglot.tokens import TokenType

        try:
            tokens = Databricks().tokenize(sql)
        except TokenError:
            return None  # the engine reports what it makes of the text
        prepared = Prepared(sql)
        pieces: list[str] = []
        position = 0
        index = 0
        while index < len(tokens):
            token = tokens[index]
            name = token.text.lower()
            called = (
                token.token_type not in (TokenType.STRING, TokenType.RAW_STRING)
                and index + 1 < len(tokens)
                and tokens[index + 1].token_type == TokenType.L_PAREN
                and (index == 0 or tokens[index - 1].token_type != TokenType.DOT)
            )
            if called and name in UDFS:
                pieces += [sql[position : token.start], UDFS[name]]
                position = token.end + 1
                prepared.udfs = True
            elif called and name in SECRET_FUNCTIONS:
                end, replacement = self._secret(name, tokens, index, prepared)
                pieces += [sql[position : token.start], replacement]
                position = tokens[end].end + 1
                index = end
            index += 1
        if not prepared.udfs and not prepared.secrets and position == 0:
            return None
        head = [t.text.upper() for t in tokens[:7]]
        if (head[:1] == ["CREATE"] and "VIEW" in head) or head[:2] == ["ALTER", "VIEW"]:
            # a view keeps its text: it would keep the secret's value and a UDF of one engine session
            raise SqlStatementError(
                "UNSUPPORTED_FEATURE.LOCAL_WORKSPACE",
                "The local workspace cannot store a view that calls secret() or the AES functions.",
                "0A000",
            )
        pieces.append(sql[position:])
        prepared.sql = "".join(pieces)
        return prepared

    def _secret(self, name: str, tokens: list, index: int, prepared: Prepared) -> tuple[int, str]:
        """(index of the call's closing parenthesis, its replacement) for ``secret(…)`` at ``index``."""
        from sqlglot.tokens import TokenType

        strings = (TokenType.STRING, TokenType.RAW_STRING)
        arguments = tokens[index + 2 : index + 6]
        kinds = [t.token_type for t in arguments]
        if not kinds or kinds[0] not in strings:
            raise _secret_error(
                "SECRET_FUNCTION_SCOPE_NOT_CONSTANT",
                "The SECRET function requires the secret scope as a constant string expression passed in the "
                "first argument.",
            )
        if len(kinds) < 3 or kinds[1] != TokenType.COMMA or kinds[2] not in strings:
            if len(kinds) > 1 and kinds[1] == TokenType.R_PAREN:
                raise SqlStatementError(
                    "WRONG_NUM_ARGS.WITHOUT_SUGGESTION",
                    f"The `{name}` requires 2 parameters but the actual number is 1.",
                    "42605",
                )
            raise _secret_error(
                "SECRET_FUNCTION_KEY_NOT_CONSTANT",
                "The SECRET function requires the secret key as a constant string expression passed in the "
                "second argument.",
            )
        if len(kinds) < 4 or kinds[3] != TokenType.R_PAREN:
            raise SqlStatementError(
                "WRONG_NUM_ARGS.WITHOUT_SUGGESTION",
                f"The `{name}` requires 2 parameters but the actual number is more than 2.",
                "42605",
            )
        scope, key = arguments[0].text, arguments[2].text
        value = self._value(scope, key)
        if value is None:
            if name == "try_secret":
                return index + 5, "CAST(NULL AS STRING)"
            raise _secret_error(
                "SECRET_FUNCTION_LOOKUP_FAILED",
                f"The SECRET function failed to find a secret with scope {scope} and key {key}.",
            )
        prepared.secrets.append(Substitution(value, f"{name}({scope}, {key})"))
        return index + 5, f"'{_escape(value)}'"

    def _value(self, scope: str, key: str) -> str | None:
        try:
            value = base64.b64decode(self.lookup(scope, key))
        except ApiError:
            return None
        return value.decode("utf-8", errors="replace")

    # the engine session -------------------------------------------------------------------------
    def register(self, spark: Any, again: bool = False) -> None:
        """Register the AES UDFs in an engine session (once per session; ``again`` after the engine lost
        them, e.g. a session it ended and made anew under the same id)."""
        with self._lock:
            if spark in self._registered and not again:
                return
        from pyspark.sql.functions import udf
        from pyspark.sql.types import BinaryType

        for name, (function, deterministic) in aes_functions().items():
            made = udf(function, BinaryType(), useArrow=False)
            spark.udf.register(UDFS[name], made if deterministic else made.asNondeterministic())
        with self._lock:
            self._registered.add(spark)

    @staticmethod
    def lost_udfs(exc: Exception) -> bool:
        """Whether the engine failed because a session no longer knows the UDFs."""
        return bool(_UNKNOWN_UDF.search(str(exc)))

    def engine_error(self, exc: Exception, prepared: Prepared) -> Exception:
        """The error a statement shows for an engine failure: Spark's AES error as its own error class, a
        message that quotes a secret value withheld, the functions' own names in the rest."""
        text = str(exc)
        found = _AES_ERROR.search(text) if prepared.udfs else None
        if found:
            return SqlStatementError(found["cls"], _original_names(found["message"]), found["state"])
        if prepared.leaks(text):
            error_class = re.match(r"^\s*\[([A-Z_.]+)\]", text)
            name = error_class.group(1) if error_class else "SQL_ENGINE_ERROR"
            state = _engine_state(exc) or "XX000"
            return SqlStatementError(
                name,
                "The statement failed in the engine; its message is withheld because it quotes a secret "
                "value.",
                state,
            )
        if prepared.udfs and any(udf in text for udf in UDFS.values()):
            return _Renamed(_original_names(text), _engine_state(exc))
        return exc


class _Renamed(Exception):
    """An engine error whose message names the UDFs by the Databricks functions they stand for."""

    def __init__(self, message: str, sql_state: str | None) -> None:
        super().__init__(message)
        self.sql_state = sql_state

    def getSqlState(self) -> str | None:  # noqa: N802 - PySpark's name, which the statements model asks
        return self.sql_state


def _engine_state(exc: Exception) -> str | None:
    getter = getattr(exc, "getSqlState", None)
    try:
        return getter() if getter else None
    except Exception:
        return None


def _secret_error(subclass: str, message: str) -> SqlStatementError:
    return SqlStatementError(f"INVALID_SECRET_LOOKUP.{subclass}", message, "22531")


def aes_functions() -> dict[str, tuple[Callable[..., bytes | None], bool]]:
    """Spark's ``aes_decrypt``, ``try_aes_decrypt`` and ``aes_encrypt`` as plain Python functions.

    Everything they use is inside this factory (closures, imports in the bodies), so cloudpickle sends them
    by value and the engine's Python worker runs them without importing this package. Returns name →
    (function, deterministic).
    """

    def as_bytes(value: Any) -> bytes | None:
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)

    def fail(error_class: str, message: str, state: str = "22023") -> ValueError:
        return ValueError(f"[{error_class}] {message} SQLSTATE: {state}")

    def settings(function: str, key: bytes, mode: Any, padding: Any) -> tuple[str, str]:
        if len(key) not in (16, 24, 32):
            raise fail(
                "INVALID_PARAMETER_VALUE.AES_KEY_LENGTH",
                f"The value of parameter(s) `key` in `{function}` is invalid: expects a binary value with "
                f"16, 24 or 32 bytes, but got {len(key)} bytes.",
            )
        mode = "GCM" if mode is None else str(mode).upper()
        padding = "DEFAULT" if padding is None else str(padding).upper()
        allowed = {"GCM": ("NONE", "DEFAULT"), "CBC": ("PKCS", "DEFAULT"), "ECB": ("PKCS", "DEFAULT")}
        if padding not in allowed.get(mode, ()):
            raise fail(
                "UNSUPPORTED_FEATURE.AES_MODE",
                f"The feature is not supported: AES-{mode} with the padding {padding} by the `{function}` "
                "function.",
                "0A000",
            )
        return mode, padding

    def crypto_error(function: str, detail: str) -> ValueError:
        return fail(
            "INVALID_PARAMETER_VALUE.AES_CRYPTO_ERROR",
            f"The value of parameter(s) `expr`, `key` in `{function}` is invalid: detail message: {detail}",
        )

    def aes_decrypt(
        data: Any, key: Any, mode: Any = None, padding: Any = None, aad: Any = None
    ) -> bytes | None:
        data, key = as_bytes(data), as_bytes(key)
        if data is None or key is None:
            return None
        mode, _ = settings("aes_decrypt", key, mode, padding)
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives import padding as paddings
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if mode == "GCM":
            if len(data) < 12 + 16:
                raise crypto_error("aes_decrypt", "Input too short for AES-GCM")
            try:
                return AESGCM(key).decrypt(data[:12], data[12:], as_bytes(aad) or None)
            except InvalidTag:
                raise crypto_error("aes_decrypt", "Tag mismatch") from None
        if aad:
            raise fail(
                "UNSUPPORTED_FEATURE.AES_MODE",
                f"The feature is not supported: AES-{mode} with the padding PKCS by the `aes_decrypt` "
                "function with additional authenticated data.",
                "0A000",
            )
        iv, body = (data[:16], data[16:]) if mode == "CBC" else (None, data)
        if not body or len(body) % 16:
            raise crypto_error("aes_decrypt", "Input length must be a multiple of 16 when decrypting")
        cipher = Cipher(algorithms.AES(key), modes.CBC(iv) if iv is not None else modes.ECB())
        decryptor = cipher.decryptor()
        padded = decryptor.update(body) + decryptor.finalize()
        unpadder = paddings.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise crypto_error("aes_decrypt", "Given final block not properly padded") from None

    def try_aes_decrypt(
        data: Any, key: Any, mode: Any = None, padding: Any = None, aad: Any = None
    ) -> bytes | None:
        try:
            return aes_decrypt(data, key, mode, padding, aad)
        except ValueError:
            return None

    def aes_encrypt(
        data: Any, key: Any, mode: Any = None, padding: Any = None, iv: Any = None, aad: Any = None
    ) -> bytes | None:
        data, key = as_bytes(data), as_bytes(key)
        if data is None or key is None:
            return None
        mode, _ = settings("aes_encrypt", key, mode, padding)
        import os

        from cryptography.hazmat.primitives import padding as paddings
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        iv = as_bytes(iv) or None
        size = {"GCM": 12, "CBC": 16, "ECB": 0}[mode]
        if iv is not None and len(iv) != size:
            raise fail(
                "INVALID_PARAMETER_VALUE.AES_IV_LENGTH",
                f"The value of parameter(s) `iv` in `aes_encrypt` is invalid: supports 16-byte CBC IVs and "
                f"12-byte GCM IVs, but got {len(iv)} bytes for {mode}.",
            )
        if mode == "GCM":
            iv = iv or os.urandom(12)
            return iv + AESGCM(key).encrypt(iv, data, as_bytes(aad) or None)
        if aad:
            raise fail(
                "UNSUPPORTED_FEATURE.AES_MODE",
                f"The feature is not supported: AES-{mode} with the padding PKCS by the `aes_encrypt` "
                "function with additional authenticated data.",
                "0A000",
            )
        padder = paddings.PKCS7(128).padder()
        padded = padder.update(data) + padder.finalize()
        if mode == "CBC":
            iv = iv or os.urandom(16)
            encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
            return iv + encryptor.update(padded) + encryptor.finalize()
        encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        return encryptor.update(padded) + encryptor.finalize()

    return {
        "aes_decrypt": (aes_decrypt, True),
        "try_aes_decrypt": (try_aes_decrypt, True),
        "aes_encrypt": (aes_encrypt, False),
    }
