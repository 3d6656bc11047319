"""The governance model without an engine: tag commands and their validation, the information_schema tag
views, and the mask rewrite a statement gets for a member and a non-member of ``pii_readers``; and the
``secret()``/AES rewrite and UDFs of sql_functions.py called directly. The same behaviour through Sail and
databricks-sdk is in test_governance.py and test_governance_decrypt.py."""

from __future__ import annotations

import base64

import pytest

from climatelake import pii
from emulators.common.records import RecordStore
from emulators.workspace.catalog import UnityCatalog
from emulators.workspace.errors import resource_does_not_exist
from emulators.workspace.governance import Governance, SqlStatementError
from emulators.workspace.sql_functions import SqlFunctions, aes_functions

MEMBER, OTHER = "alice@example.com", "bob@example.com"
MASK = (
    "CREATE FUNCTION cl.hr.mask_email(email STRING) RETURNS STRING RETURN CASE WHEN "
    "is_account_group_member('pii_readers') THEN decrypt_pii(email) "
    "ELSE concat(left(email, 1), '***@', split(email, '@')[1]) END"
)


@pytest.fixture()
def governance() -> Governance:
    store = RecordStore(":memory:")
    catalog = UnityCatalog(store, "abfss://lake@devstoreaccount1.dfs.core.windows.net/unity")
    catalog.create_catalog({"name": "cl"}, MEMBER)
    catalog.create_schema({"name": "hr", "catalog_name": "cl"}, MEMBER)
    columns = [
        {"name": n, "type_name": "STRING", "type_text": "string", "position": i}
        for i, n in enumerate(["id", "name", "email"])
    ]
    catalog.create_table(
        {"name": "emp", "catalog_name": "cl", "schema_name": "hr", "columns": columns}, MEMBER
    )
    gov = Governance(store, catalog, {"pii_readers": [MEMBER.upper()]})  # principals match case-insensitively
    catalog.column_masks = gov.column_masks
    return gov


def run(gov: Governance, sql: str, who: str = MEMBER, parameters: list | None = None):
    record = {"statement": sql, "created_by": who, "row_limit": None, "parameters": parameters or []}
    defaults = lambda: ("cl", "hr")  # noqa: E731 - the statement's catalog and schema
    return gov.answer(record, defaults), gov.rewrite(record, defaults)


def rows(gov: Governance, sql: str) -> list[list[str]]:
    (_, result), _ = run(gov, sql)
    return result.get("data_array", [])


def test_tag_commands_store_tags_and_the_views_answer_them(governance):
    run(
        governance,
        "-- flag PII\nALTER TABLE emp ALTER COLUMN email SET TAGS ('pii' = 'email', \"note\" = 'a--b')",
    )
    run(governance, "alter table hr.emp change column NAME set tags ('pii' = 'name');")
    run(governance, "ALTER TABLE cl.hr.emp SET TAGS ('domain' = 'hr')")
    assert rows(
        governance, "SELECT column_name, tag_name, tag_value FROM information_schema.column_tags"
    ) == [
        ["email", "note", "a--b"],
        ["email", "pii", "email"],
        ["name", "pii", "name"],
    ]
    assert rows(governance, "SELECT table_name, tag_value FROM cl.information_schema.table_tags") == [
        ["emp", "hr"]
    ]
    run(governance, "ALTER TABLE emp ALTER COLUMN email UNSET TAGS ('note', 'absent')")
    assert rows(
        governance, "SELECT count(*) AS n FROM information_schema.column_tags WHERE tag_name = 'note'"
    ) == [["0"]]
    assert governance.answer({"statement": "ALTER TABLE emp ADD COLUMN x INT"}, lambda: ("cl", "hr")) is None


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("ALTER TABLE emp ALTER COLUMN salary SET TAGS ('pii' = 'x')", "UNRESOLVED_COLUMN"),
        ("ALTER TABLE nope SET TAGS ('pii' = 'x')", "TABLE_OR_VIEW_NOT_FOUND"),
        ("ALTER TABLE emp SET TAGS ('a=b' = 'x')", "INVALID_TAG"),
        ("ALTER TABLE emp SET TAGS (pii = 'x')", "INVALID_TAG"),
        ("ALTER TABLE emp ALTER COLUMN email SET MASK cl.hr.missing", "ROUTINE_NOT_FOUND"),
        ("SELECT * FROM nocatalog.information_schema.column_tags", "TABLE_OR_VIEW_NOT_FOUND"),
        ("SELECT * FROM information_schema.column_tags JOIN cl.hr.emp", "UNSUPPORTED_FEATURE"),
    ],
)
def test_bad_commands_fail_with_databricks_error_classes(governance, sql, error):
    with pytest.raises(SqlStatementError, match=error) as failed:
        run(governance, sql)
    assert failed.value.getSqlState()


def test_masks_rewrite_reads_per_principal_and_drop_the_branch_not_taken(governance):
    run(governance, MASK)
    run(governance, "ALTER TABLE emp ALTER COLUMN email SET MASK mask_email")
    assert governance.catalog.get_table("cl.hr.emp")["columns"][2]["mask"] == {
        "function_name": "cl.hr.mask_email",
        "using_column_names": [],
    }
    _, other = run(governance, "SELECT e.email FROM emp AS e WHERE email LIKE :p", OTHER, [{"name": "p"}])
    assert other == (
        "SELECT e.email FROM (SELECT `id`, `name`, CONCAT(LEFT(`email`, 1), '***@', SPLIT(`email`, '@')[1]) "
        "AS `email` FROM emp) AS e WHERE email LIKE :p"
    )
    assert "DECRYPT_PII" not in other and "is_account_group_member" not in other.lower()
    _, member = run(governance, "SELECT * FROM cl.hr.emp", MEMBER)
    assert (
        member == "SELECT * FROM (SELECT `id`, `name`, DECRYPT_PII(`email`) AS `email` FROM cl.hr.emp) AS emp"
    )
    _, ctas = run(governance, "CREATE TABLE copy AS WITH e AS (SELECT * FROM emp) SELECT * FROM e", OTHER)
    assert "CONCAT(LEFT(`email`, 1)" in ctas and ctas.startswith("CREATE TABLE copy AS WITH e AS (SELECT")
    assert run(governance, "SELECT 1 AS emp_count", OTHER) == (None, None)
    for refused in (
        "CREATE VIEW v AS SELECT * FROM emp",
        "MERGE INTO t USING emp ON t.id = emp.id WHEN MATCHED THEN DELETE",
    ):
        with pytest.raises(SqlStatementError, match="masked table"):
            run(governance, refused, OTHER)
    run(governance, "ALTER TABLE emp ALTER COLUMN email DROP MASK")
    assert run(governance, "SELECT * FROM emp", OTHER) == (None, None)
    assert "mask" not in governance.catalog.get_table("cl.hr.emp")["columns"][2]


def test_create_function_honours_or_replace_and_if_not_exists(governance):
    run(governance, MASK)
    with pytest.raises(SqlStatementError, match="ROUTINE_ALREADY_EXISTS"):
        run(governance, MASK)
    run(governance, MASK.replace("CREATE FUNCTION", "CREATE FUNCTION IF NOT EXISTS"))
    run(governance, MASK.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION").replace("'***@'", "'#@'"))
    assert "'#@'" in governance.catalog.get_function("cl.hr.mask_email")["routine_definition"]
    run(governance, "DROP FUNCTION cl.hr.mask_email")
    run(governance, "DROP FUNCTION IF EXISTS cl.hr.mask_email")
    with pytest.raises(SqlStatementError, match="ROUTINE_NOT_FOUND"):
        run(governance, "DROP FUNCTION mask_email")


def test_a_dropped_and_recreated_table_starts_without_tags_or_masks(governance):
    run(governance, MASK)
    run(governance, "ALTER TABLE emp ALTER COLUMN email SET TAGS ('pii' = 'email')")
    run(governance, "ALTER TABLE emp ALTER COLUMN email SET MASK mask_email")
    table = governance.catalog.get_table("cl.hr.emp")
    governance.catalog.delete_table("cl.hr.emp")
    governance.catalog.create_table(
        {"name": "emp", "catalog_name": "cl", "schema_name": "hr", "columns": table["columns"]}, MEMBER
    )
    assert rows(governance, "SELECT * FROM information_schema.column_tags") == []
    assert run(governance, "SELECT email FROM emp", OTHER) == (None, None)


def test_using_columns_bind_the_further_parameters_in_order(governance):
    run(
        governance,
        "CREATE FUNCTION cl.hr.mask_keyed(value STRING, owner STRING) RETURNS STRING "
        "RETURN IF(NOT is_member('pii_readers') AND owner <> current_user(), '***', value)",
    )
    with pytest.raises(SqlStatementError, match="MASK_FUNCTION_ARITY"):
        run(governance, "ALTER TABLE emp ALTER COLUMN email SET MASK mask_keyed")
    run(governance, "ALTER TABLE emp ALTER COLUMN email SET MASK mask_keyed USING COLUMNS (name)")
    _, other = run(governance, "SELECT email FROM emp", OTHER)
    assert "IF(NOT FALSE AND `name` <> 'bob@example.com', '***', `email`) AS `email`" in other
    _, member = run(governance, "SELECT email FROM emp", MEMBER)
    assert "IF(NOT TRUE AND `name` <> 'alice@example.com', '***', `email`) AS `email`" in member


# secret() and the AES functions the workspace supplies to the engine (sql_functions.py) -----------
KEY = pii.new_key()
SECRETS = {("climatelake", "pii-key-v1"): pii.encode_key(KEY), ("odd", "quote"): "it's a \\ value"}


def lookup(scope: str, key: str) -> str:
    """The Secrets API's answer: the value in base64; a missing scope or key is its 404."""
    if (scope, key) not in SECRETS:
        raise resource_does_not_exist(f"Failed to get secret {key} for scope {scope}.")
    return base64.b64encode(SECRETS[(scope, key)].encode()).decode()


@pytest.fixture()
def functions() -> SqlFunctions:
    return SqlFunctions(lookup)


def test_statements_without_the_functions_are_left_alone(functions):
    for sql in (
        "SELECT 1",
        "SELECT secret, aes_key FROM t WHERE t.secret = 'aes_decrypt(x)'",  # columns and strings
        "SELECT x -- secret('a', 'b') and aes_decrypt(\n FROM t /* try_secret('a','b') */",
        "SELECT s.secret('a', 'b') FROM t",  # a qualified name is not Databricks' function
    ):
        assert functions.prepare(sql) is None, sql


def test_secret_becomes_a_literal_andaes_functions_the_udfs(functions):
    sql = (
        "SELECT CAST(AES_DECRYPT(unbase64(email), unbase64(SECRET('climatelake', 'pii-key-v1'))) AS STRING), "
        "try_aes_decrypt(x, k), aes_encrypt(x, k, 'GCM'), 'secret(no)' FROM t -- aes_decrypt("
    )
    prepared = functions.prepare(sql)
    assert prepared is not None and prepared.udfs
    assert prepared.sql == (
        f"SELECT CAST(local_aes_decrypt(unbase64(email), unbase64('{pii.encode_key(KEY)}')) AS STRING), "
        "local_try_aes_decrypt(x, k), local_aes_encrypt(x, k, 'GCM'), 'secret(no)' FROM t -- aes_decrypt("
    )
    # what comes back is shown as Databricks shows it: the call in names, the value redacted
    name = f"CAST(local_aes_decrypt(unbase64(email), unbase64({pii.encode_key(KEY)})) AS STRING)"
    assert prepared.column_name(name) == (
        "CAST(aes_decrypt(unbase64(email), unbase64(secret(climatelake, pii-key-v1))) AS STRING)"
    )
    assert prepared.redact(pii.encode_key(KEY)) == "[REDACTED]"
    assert prepared.redact(f"key={KEY.hex().upper()}") == "key=[REDACTED]"
    assert prepared.leaks(f"bad value {list(KEY)}") and prepared.leaks(f"x {pii.encode_key(KEY)} y")
    assert not prepared.leaks("Cannot coerce arithmetic expression Binary + Int32")
    quoted = functions.prepare("SELECT try_secret('nope', 'nope') AS a, secret('odd', 'quote') AS b")
    assert quoted is not None and not quoted.udfs
    assert quoted.sql == "SELECT CAST(NULL AS STRING) AS a, 'it\\'s a \\\\ value' AS b"


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("SELECT secret('climatelake', 'nope')", "INVALID_SECRET_LOOKUP.SECRET_FUNCTION_LOOKUP_FAILED"),
        ("SELECT secret('no-scope', 'pii-key-v1')", "INVALID_SECRET_LOOKUP.SECRET_FUNCTION_LOOKUP_FAILED"),
        (
            "SELECT secret(scope_column, 'k') FROM t",
            "INVALID_SECRET_LOOKUP.SECRET_FUNCTION_SCOPE_NOT_CONSTANT",
        ),
        ("SELECT secret('climatelake', k) FROM t", "INVALID_SECRET_LOOKUP.SECRET_FUNCTION_KEY_NOT_CONSTANT"),
        ("SELECT secret('climatelake')", "WRONG_NUM_ARGS"),
        ("CREATE OR REPLACE VIEW v AS SELECT secret('climatelake', 'pii-key-v1')", "LOCAL_WORKSPACE"),
        ("ALTER VIEW v AS SELECT aes_decrypt(x, k) FROM t", "LOCAL_WORKSPACE"),
    ],
)
def test_a_secret_that_cannot_be_read_fails_as_on_databricks(functions, sql, error):
    with pytest.raises(SqlStatementError, match=error.replace(".", r"\.")) as failed:
        functions.prepare(sql)
    assert failed.value.getSqlState() in ("22531", "42605", "0A000")
    assert pii.encode_key(KEY) not in str(failed.value)


def test_the_udfs_decrypt_the_projects_ciphertexts_in_sparks_layouts():
    """The functions the engine runs, called directly: Spark's GCM layout (the project's pii.encrypt),
    CBC and ECB, AAD, NULLs, and Spark's error classes for a wrong key, a tampered value, a bad key length."""
    udfs = {name: function for name, (function, _) in aes_functions().items()}
    decrypt, try_decrypt, encrypt = udfs["aes_decrypt"], udfs["try_aes_decrypt"], udfs["aes_encrypt"]
    token = pii.encrypt("jane.doe@example.com", KEY)
    assert decrypt(base64.b64decode(token), KEY) == b"jane.doe@example.com"
    assert pii.decrypt(base64.b64encode(encrypt("x@y.z", KEY)).decode(), KEY) == "x@y.z"
    assert decrypt(encrypt(b"aad", KEY, "GCM", "DEFAULT", None, b"ctx"), KEY, "gcm", "NONE", b"ctx") == b"aad"
    for mode in ("CBC", "ECB"):
        assert (
            decrypt(encrypt("sixteen+ bytes of text", KEY[:16], mode), KEY[:16], mode)
            == b"sixteen+ bytes of text"
        )
    assert decrypt(None, KEY) is None and encrypt("x", None) is None
    wrong = pii.new_key()
    with pytest.raises(ValueError, match=r"\[INVALID_PARAMETER_VALUE\.AES_CRYPTO_ERROR\].*Tag mismatch"):
        decrypt(base64.b64decode(token), wrong)
    tampered = bytearray(base64.b64decode(token))
    tampered[20] ^= 1
    with pytest.raises(ValueError, match="AES_CRYPTO_ERROR"):
        decrypt(bytes(tampered), KEY)
    with pytest.raises(ValueError, match="AES_KEY_LENGTH.*got 5 bytes"):
        decrypt(base64.b64decode(token), b"short")
    with pytest.raises(ValueError, match="UNSUPPORTED_FEATURE.AES_MODE"):
        decrypt(base64.b64decode(token), KEY, "GCM", "PKCS")
    assert try_decrypt(base64.b64decode(token), wrong) is None
    assert try_decrypt(bytes(tampered), KEY) is None


def test_an_aes_error_from_the_engine_becomes_the_statements_error(functions):
    prepared = functions.prepare(
        "SELECT aes_decrypt(unbase64(e), unbase64(secret('climatelake', 'pii-key-v1')))"
    )
    assert prepared is not None
    engine = RuntimeError(
        "An exception was thrown from the Python worker.\nTraceback …\nValueError: "
        "[INVALID_PARAMETER_VALUE.AES_CRYPTO_ERROR] The value of parameter(s) `expr`, `key` in `aes_decrypt` "
        "is invalid: detail message: Tag mismatch SQLSTATE: 22023\n"
    )
    error = functions.engine_error(engine, prepared)
    assert isinstance(error, SqlStatementError) and error.getSqlState() == "22023"
    assert str(error).startswith("[INVALID_PARAMETER_VALUE.AES_CRYPTO_ERROR] The value of parameter(s)")
    leaking = functions.engine_error(
        RuntimeError(f"[CAST_INVALID_INPUT] '{pii.encode_key(KEY)}' bad"), prepared
    )
    assert str(leaking).startswith("[CAST_INVALID_INPUT]") and pii.encode_key(KEY) not in str(leaking)
    renamed = functions.engine_error(RuntimeError("local_aes_decrypt expects 2 arguments"), prepared)
    assert str(renamed) == "aes_decrypt expects 2 arguments"
    unrelated = RuntimeError("StatusCode.UNAVAILABLE failed to connect")
    assert functions.engine_error(unrelated, prepared) is unrelated
