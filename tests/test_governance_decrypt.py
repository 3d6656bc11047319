"""Members of ``pii_readers`` read plaintext through the column masks, as on Databricks (issue 7): the
workspace stand-in resolves ``secret()`` from its own scopes and gives Sail ``aes_decrypt``,
``try_aes_decrypt`` and ``aes_encrypt`` as UDFs — through databricks-sdk's SQL statements against the
stack's workspace process (Azurite + Sail + workspace), with the project's real mask file
(sql/pii_masks.sql) over ciphertexts made by ``climatelake.pii``. The key never shows: not in a result, a
column name, an error message, nor the stack's log files."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sql import StatementState
from databricks.sdk.service.workspace import AclPermission

from climatelake import pii
from climatelake.sql_runner import run_sql
from emulators.stack import Stack
from emulators.workspace.sql_functions import SqlFunctions
from emulators.workspace.statements import Statements

pytestmark = pytest.mark.stack
CATALOG = "climatelake"
TABLE = f"{CATALOG}.silver.employees"  # the table sql/pii_masks.sql masks
PLAIN = f"{CATALOG}.hr.encrypted"  # the same ciphertexts, no masks
MASKS_SQL = Path(__file__).resolve().parents[1] / "sql" / "pii_masks.sql"
EMPLOYEES = [
    (1, "Jane Doe", "jane.doe@example.com", "555-201-0142", "85000.0"),
    (2, "Omar Haddad", "omar.haddad@example.org", "555-303-0187", "123500.0"),
    (3, "Li Wei", "li.wei@example.net", "555-404-0199", "61000.0"),
]
DECRYPT = "CAST(aes_decrypt(unbase64({col}), unbase64(secret('climatelake', '{secret}'))) AS STRING)"


@dataclass
class Env:
    stack: Stack
    key: bytes
    wrong_key: bytes
    #: every statement answer seen, checked for the key at the end
    seen: list[str]

    def client(self, token: str | None = None) -> WorkspaceClient:
        return self.stack.workspace_client(token)

    def run(self, statement: str, token: str | None = None):
        answer = self.client(token).statement_execution.execute_statement(
            statement=statement, warehouse_id="local", wait_timeout="30s"
        )
        self.seen.append(str(answer.as_dict()))
        return answer

    def ok(self, statement: str, token: str | None = None) -> list[list[str]]:
        answer = self.run(statement, token)
        assert answer.status.state == StatementState.SUCCEEDED, (statement, answer.status)
        return (answer.result.data_array if answer.result else None) or []

    def failed(self, statement: str, token: str | None = None):
        answer = self.run(statement, token)
        assert answer.status.state == StatementState.FAILED, (statement, answer.status)
        return answer.status

    def key_forms(self) -> list[str]:
        """The key as text (base64, as stored in the scope) and as hex: what must never show."""
        return [pii.encode_key(self.key), self.key.hex(), self.key.hex().upper()]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    stack = Stack(Path(tmp_path_factory.mktemp("decrypt")), in_memory=True)
    try:
        stack.start(only=("azurite", "sail", "workspace"))
        BlobServiceClient.from_connection_string(stack.connection_string).create_container("lake")
        env = Env(stack, pii.new_key(), pii.new_key(), [])
        w = env.client()
        w.catalogs.create(name=CATALOG)
        w.secrets.create_scope("climatelake")
        w.secrets.put_secret("climatelake", "pii-key-v1", string_value=pii.encode_key(env.key))
        w.secrets.put_secret("climatelake", "pii-key-wrong", string_value=pii.encode_key(env.wrong_key))
        for schema in ("silver", "hr"):
            env.ok(f"CREATE SCHEMA {CATALOG}.{schema}")
        columns = (
            "employee_id INT, name STRING, email STRING, phone STRING, salary STRING, email_masked STRING, "
            "phone_masked STRING, salary_band STRING"
        )
        rows = ", ".join(
            f"({i}, '{name}', '{pii.encrypt(email, env.key)}', '{pii.encrypt(phone, env.key)}', "
            f"'{pii.encrypt(salary, env.key)}', '{pii.mask('email', email)}', '{pii.mask('phone', phone)}', "
            f"'{pii.salary_band(float(salary))}')"
            for i, name, email, phone, salary in EMPLOYEES
        )
        for table in (TABLE, PLAIN):
            env.ok(f"CREATE TABLE {table} ({columns})")
            env.ok(f"INSERT INTO {table} VALUES {rows}")
        script = MASKS_SQL.read_text(encoding="utf-8")
        for name, value in (
            ("catalog", CATALOG),
            ("pii_secret_scope", "climatelake"),
            ("pii_key_secret", "pii-key-v1"),
        ):
            script = script.replace("${" + name + "}", value)
        run_sql(w, script, warehouse_id="local")
        # the PII reader is no metastore admin: its group gets what a reader of these tables needs (the
        # product's bundle grants pii_readers the same on silver; hr is this test's own schema)
        env.ok(f"GRANT USE CATALOG ON CATALOG {CATALOG} TO pii_readers")
        for schema in ("silver", "hr"):
            env.ok(f"GRANT USE SCHEMA, SELECT ON SCHEMA {CATALOG}.{schema} TO pii_readers")
        w.secrets.put_acl("climatelake", "pii_readers", AclPermission.READ)
        yield env
    finally:
        stack.stop()


def test_members_get_the_plaintext_through_the_masks_others_the_masks(env):
    query = f"SELECT employee_id, name, email, phone, salary FROM {TABLE} ORDER BY employee_id"
    member = env.ok(query, env.stack.pii_reader_token)
    assert member == [[str(i), name, email, phone, salary] for i, name, email, phone, salary in EMPLOYEES]
    other = env.ok(query)
    assert other == [
        [str(i), name, pii.mask("email", email), pii.mask("phone", phone), pii.salary_band(float(salary))]
        for i, name, email, phone, salary in EMPLOYEES
    ]
    # masked at the table, as on Databricks: a member's filter and `*` see plaintext, a non-member's do not
    where = f"SELECT employee_id FROM {TABLE} WHERE email = 'omar.haddad@example.org'"
    assert env.ok(where, env.stack.pii_reader_token) == [["2"]]
    assert env.ok(where) == []
    star = env.run(f"SELECT * FROM {TABLE} AS e WHERE e.employee_id = 3", env.stack.pii_reader_token)
    assert [c.name for c in star.manifest.schema.columns][:5] == [
        "employee_id",
        "name",
        "email",
        "phone",
        "salary",
    ]
    assert star.result.data_array[0][2:5] == ["li.wei@example.net", "555-404-0199", "61000.0"]


def test_anyone_decrypts_with_aes_decrypt_and_secret(env):
    query = (
        f"SELECT employee_id, {DECRYPT.format(col='email', secret='pii-key-v1')}, "
        "CAST(try_aes_decrypt(unbase64(phone), unbase64(secret('climatelake', 'pii-key-v1')), 'GCM') "
        f"AS STRING) AS phone FROM {PLAIN} ORDER BY employee_id"
    )
    for token in (None, env.stack.pii_reader_token):
        answer = env.run(query, token)
        assert answer.status.state == StatementState.SUCCEEDED, answer.status
        assert answer.result.data_array == [[str(i), email, phone] for i, _, email, phone, _ in EMPLOYEES]
        # named as Databricks names it: the call, never the value the engine was given
        assert [c.name for c in answer.manifest.schema.columns] == [
            "employee_id",
            "CAST(aes_decrypt(unbase64(email), unbase64(secret(climatelake, pii-key-v1))) AS STRING)",
            "phone",
        ]
    # aes_encrypt on a column, decrypted again, and by the project's own code
    round_trip = env.ok(
        "SELECT base64(aes_encrypt(name, unbase64(secret('climatelake', 'pii-key-v1')))) AS token, "
        "CAST(aes_decrypt(aes_encrypt(name, unbase64(secret('climatelake', 'pii-key-v1'))), "
        f"unbase64(secret('climatelake', 'pii-key-v1'))) AS STRING) AS back FROM {PLAIN} ORDER BY employee_id"
    )
    assert [back for _, back in round_trip] == [name for _, name, *_ in EMPLOYEES]
    assert [pii.decrypt(token, env.key) for token, _ in round_trip] == [name for _, name, *_ in EMPLOYEES]


def test_a_wrong_key_or_a_tampered_value_fails_clearly_and_try_gives_null(env):
    wrong = env.failed(f"SELECT {DECRYPT.format(col='email', secret='pii-key-wrong')} FROM {PLAIN}")
    assert wrong.error.message.startswith("[INVALID_PARAMETER_VALUE.AES_CRYPTO_ERROR]"), wrong.error.message
    assert "`aes_decrypt`" in wrong.error.message and "Tag mismatch" in wrong.error.message
    assert wrong.sql_state == "22023" and "Traceback" not in wrong.error.message
    token = bytearray(base64.b64decode(pii.encrypt("jane.doe@example.com", env.key)))
    token[15] ^= 0x01
    tampered = base64.b64encode(bytes(token)).decode()
    failed = env.failed(
        f"SELECT CAST(aes_decrypt(unbase64('{tampered}'), unbase64(secret('climatelake', 'pii-key-v1'))) "
        "AS STRING)"
    )
    assert "AES_CRYPTO_ERROR" in failed.error.message
    short = env.failed(f"SELECT aes_decrypt(unbase64(email), unbase64('c2hvcnQ=')) FROM {PLAIN}")
    assert "AES_KEY_LENGTH" in short.error.message and "got 5 bytes" in short.error.message
    assert env.ok(
        "SELECT try_aes_decrypt(unbase64(email), unbase64(secret('climatelake', 'pii-key-wrong'))) AS e "
        f"FROM {PLAIN} ORDER BY employee_id"
    ) == [[None]] * len(EMPLOYEES)


def test_an_unknown_secret_fails_as_on_databricks(env):
    for call in ("secret('climatelake', 'pii-key-v9')", "secret('no_scope', 'pii-key-v1')"):
        status = env.failed(f"SELECT {call} AS k")
        assert status.error.message.startswith("[INVALID_SECRET_LOOKUP.SECRET_FUNCTION_LOOKUP_FAILED]")
        assert status.sql_state == "22531"
    status = env.failed(f"SELECT secret(name, 'pii-key-v1') FROM {PLAIN}")
    assert "SECRET_FUNCTION_SCOPE_NOT_CONSTANT" in status.error.message
    assert env.ok("SELECT try_secret('climatelake', 'pii-key-v9') AS k") == [[None]]


def test_statements_that_name_no_function_are_untouched(env):
    """A column called ``secret`` and the function names inside strings and comments reach the engine as
    written (the rewrite looks at tokens, and only when the text names a function at all)."""
    env.ok(f"CREATE TABLE {CATALOG}.hr.notes (secret STRING, aes_key STRING)")
    env.ok(f"INSERT INTO {CATALOG}.hr.notes VALUES ('aes_decrypt(x)', 'secret(a, b)')")
    assert env.ok(
        f"SELECT secret, aes_key, 'try_secret(\\'a\\', \\'b\\')' AS s FROM {CATALOG}.hr.notes -- aes_encrypt("
    ) == [["aes_decrypt(x)", "secret(a, b)", "try_secret('a', 'b')"]]


def test_the_key_is_never_in_a_result_an_error_or_a_log(env):
    key = env.key_forms()
    secret = "secret('climatelake', 'pii-key-v1')"
    # Databricks redacts a secret's value in output
    shown = env.run(f"SELECT {secret} AS k, unbase64({secret}) AS b, hex(unbase64({secret})) AS h, {secret}")
    assert shown.result.data_array == [["[REDACTED]"] * 4]
    assert shown.manifest.schema.columns[3].name == "secret(climatelake, pii-key-v1)"
    # an engine error quoting the value is replaced
    for statement in (f"SELECT raise_error({secret})", f"SELECT CAST({secret} AS INT) AS n"):
        status = env.failed(statement)
        assert "withheld because it quotes a secret value" in status.error.message
    seen = "\n".join(env.seen)
    assert env.seen and not any(k in seen for k in key)
    logs = list((env.stack.state_dir / "logs").glob("*.log"))
    assert {p.stem for p in logs} >= {"workspace", "sail"}
    for path in logs:
        text = path.read_text(errors="replace")
        assert not any(k in text for k in key), path.name


def test_udfs_the_engine_forgot_are_registered_again(env):
    """A session the engine ended and made anew has no UDFs: the statement registers them again, once."""
    statements = Statements(
        f"sc://127.0.0.1:{env.stack.ports['sail']}",
        workers=1,
        functions=SqlFunctions(
            lambda scope, key: base64.b64encode(pii.encode_key(env.key).encode()).decode()
        ),
    )
    query = (
        f"SELECT CAST(aes_decrypt(unbase64('{pii.encrypt('jane.doe@example.com', env.key)}'), "
        "unbase64(secret('any', 'key'))) AS STRING) AS email"
    )
    try:
        body = {"statement": query, "warehouse_id": "local", "wait_timeout": "30s"}
        first = statements.execute(body, "ada@example.com")
        assert first["result"]["data_array"] == [["jane.doe@example.com"]], first["status"]
        spark = statements._record(first["statement_id"])["session"]
        spark.sql("DROP TEMPORARY FUNCTION local_aes_decrypt").collect()
        again = statements.execute(body, "ada@example.com")
        assert again["status"]["state"] == "SUCCEEDED", again["status"]
        assert again["result"]["data_array"] == [["jane.doe@example.com"]]
    finally:
        statements.close()
