"""The employees PII job on the local stack: encrypted columns, tags that drive the policy, masks per
principal, raw files deleted once committed, no plaintext anywhere in storage, the gateway's role matrix."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from databricks.sdk.service.sql import StatementState

from climatelake import bundle, employees, pii
from climatelake.bootstrap import prepare_storage, run_job
from climatelake.lake import storage_options, table_snapshot
from climatelake.settings import AZURITE_ACCOUNT
from climatelake.sql_runner import run_sql
from emulators.stack import Stack

pytestmark = pytest.mark.stack
TABLE = "climatelake.silver.employees"


def run_employees(stack: Stack):
    endpoint = f"{stack.url('blob')}/{AZURITE_ACCOUNT}"
    return run_job(
        stack.workspace_client(),
        "climatelake_employees",
        timeout=dt.timedelta(minutes=5),
        raw_blob_endpoint=endpoint,
    )


def raw_container(stack: Stack):
    return BlobServiceClient.from_connection_string(stack.connection_string).get_container_client("raw")


@pytest.fixture(scope="module")
def pii_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, pii.PiiKeys, list[dict]]]:
    stack = Stack(Path(tmp_path_factory.mktemp("pii")), in_memory=True)
    try:
        stack.start(only=("azurite", "sail", "workspace"))
        settings, w = stack.settings(), stack.workspace_client()
        prepare_storage(settings)
        bundle.deploy(w, "local", {"storage_account": settings.storage_account})
        keys = pii.PiiKeys(pii.new_key(), pii.new_key(), "1")
        # the deploy made the scope (the bundle's secret_scopes) with the jobs' and gateway's ACLs
        w.secrets.put_secret("climatelake", "pii-key-v1", string_value=pii.encode_key(keys.encryption))
        w.secrets.put_secret("climatelake", "pii-key-current", string_value="1")
        w.secrets.put_secret("climatelake", "pii-token-key", string_value=pii.encode_key(keys.search))
        rows = employees.generate_employees(300, seed=3)
        bad = [{**rows[0], "Employee_id": "x1"}, {**rows[1], "Employee_id": 9001, "Email": "no-at-sign"}]
        raw_container(stack).upload_blob("employees/batch-1.csv", employees.rows_to_csv(rows + bad))
        run_employees(stack)
        yield stack, keys, rows
    finally:
        stack.stop()


def read(stack: Stack, table: str) -> pl.DataFrame:
    location = stack.workspace_client().tables.get(table).storage_location
    return pl.scan_delta(location, storage_options=storage_options(stack.settings())).collect()


def sql(stack: Stack, statement: str, token: str | None = None):
    return stack.workspace_client(token).statement_execution.execute_statement(
        statement=statement, warehouse_id="local", wait_timeout="30s"
    )


def test_pii_columns_are_encrypted_and_decrypt_to_the_originals(pii_stack):
    stack, keys, rows = pii_stack
    table = read(stack, TABLE).sort("employee_id")
    assert table.height == len(rows)
    by_id = {r["Employee_id"]: r for r in rows}
    for got in table.iter_rows(named=True):
        want = by_id[got["employee_id"]]
        assert got["email"] != want["Email"] and pii.decrypt(got["email"], keys.encryption) == want["Email"]
        assert pii.decrypt(got["phone"], keys.encryption) == want["Phone"]
        assert float(pii.decrypt(got["salary"], keys.encryption)) == want["Salary"]
        assert got["salary_band"] == pii.salary_band(want["Salary"])
        assert got["email_token"] == pii.search_token(want["Email"], keys.search)
        assert got["email_masked"] == pii.mask("email", want["Email"])
        assert got["phone_masked"] == "***-***-" + want["Phone"][-4:].replace("-", "")[-4:]
        assert got["name"] == want["Name"] and got["pii_key_version"] == "1"


def test_bad_rows_are_quarantined_without_their_pii(pii_stack):
    stack, _, _ = pii_stack
    quarantine = read(stack, "climatelake.silver.employees_quarantine").sort("employee_id")
    assert quarantine.select("employee_id", "reason", "source_file").to_dicts() == [
        {
            "employee_id": "9001",
            "reason": "email missing or malformed",
            "source_file": "employees/batch-1.csv",
        },
        {
            "employee_id": "x1",
            "reason": "employee_id missing or not an integer",
            "source_file": "employees/batch-1.csv",
        },
    ]


def test_the_job_tags_its_columns_in_information_schema(pii_stack):
    stack, _, _ = pii_stack
    answer = sql(
        stack,
        "SELECT column_name, tag_name, tag_value FROM climatelake.information_schema.column_tags "
        "WHERE schema_name = 'silver' AND table_name = 'employees' ORDER BY column_name, tag_name",
    )
    assert answer.result.data_array == [
        ["email", "pii", "email"],
        ["email", "pii_protection", "encrypted"],
        ["phone", "pii", "phone"],
        ["phone", "pii_protection", "encrypted"],
        ["salary", "pii", "salary"],
        ["salary", "pii_protection", "encrypted"],
    ]


def test_masks_apply_per_principal(pii_stack):
    """The job's user is not in pii_readers: masked forms. The pii reader's branch decrypts with Databricks'
    aes_decrypt and secret() (resolved by the stand-in, aes_decrypt given to the engine): the plaintext."""
    stack, _, rows = pii_stack
    want = rows[4]
    query = (
        f"SELECT employee_id, name, email, phone, salary FROM {TABLE} "
        f"WHERE employee_id = {want['Employee_id']}"
    )
    other = sql(stack, query)
    assert other.status.state == StatementState.SUCCEEDED, other.status
    assert other.result.data_array == [
        [
            str(want["Employee_id"]),
            want["Name"],
            pii.mask("email", want["Email"]),
            pii.mask("phone", want["Phone"]),
            pii.salary_band(want["Salary"]),
        ]
    ]
    reader = sql(stack, query, stack.pii_reader_token)
    # the members' branch decrypts with the key version the masks name, as on Databricks
    assert reader.status.state == StatementState.SUCCEEDED, reader.status
    [row] = reader.result.data_array
    assert row[:4] == [str(want["Employee_id"]), want["Name"], want["Email"], want["Phone"]]
    assert float(row[4]) == want["Salary"]  # the salary's string form, as the job encrypted it
    w = stack.workspace_client()
    function = w.functions.get("climatelake.silver.pii_mask_email")
    assert "is_account_group_member('pii_readers')" in function.routine_definition
    assert "secret('climatelake', 'pii-key-v1')" in function.routine_definition
    columns = {c.name: c for c in w.tables.get(TABLE).columns}
    assert columns["email"].mask.function_name == "climatelake.silver.pii_mask_email"
    assert columns["email"].mask.using_column_names == ["email_masked"]


def test_raw_files_are_deleted_once_committed_and_reruns_lose_nothing(pii_stack):
    stack, keys, rows = pii_stack
    raw = raw_container(stack)
    assert [b.name for b in raw.list_blobs(name_starts_with="employees/")] == []
    ledger = read(stack, "climatelake.silver.employees_ingest_ledger")
    assert ledger["path"].to_list() == ["employees/batch-1.csv"] and ledger["rows"].to_list() == [302]
    settings, w = stack.settings(), stack.workspace_client()
    before = table_snapshot(w, settings, TABLE)

    run_employees(stack)  # nothing new: the table is not rewritten
    assert table_snapshot(w, settings, TABLE).version == before.version

    more = employees.generate_employees(310, seed=3)[300:]
    changed = {**rows[10], "Email": "changed.person@example.org"}
    raw.upload_blob("employees/batch-2.csv", employees.rows_to_csv([*more, changed]))
    run_employees(stack)
    after = table_snapshot(w, settings, TABLE)
    assert after.version == before.version + 1 and after.row_count == 310  # one commit
    assert [b.name for b in raw.list_blobs(name_starts_with="employees/")] == []
    table = read(stack, TABLE)
    emails = {r["employee_id"]: pii.decrypt(r["email"], keys.encryption) for r in table.iter_rows(named=True)}
    assert emails[changed["Employee_id"]] == "changed.person@example.org"
    assert emails[rows[11]["Employee_id"]] == rows[11]["Email"]
    assert emails[more[-1]["Employee_id"]] == more[-1]["Email"]


@pytest.fixture(scope="module")
def gateway(pii_stack):
    stack, _, _ = pii_stack
    from climatelake.keys import ApiKeyStore
    from flask_gateway import create_app

    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.env.items():
            patch.setenv(name, value)
        app = create_app(stack.settings())
        store = ApiKeyStore(stack.connection_string)
        keys = {role: store.create(role, role)[0] for role in ("reader", "pii_reader", "admin")}
        yield app, keys


def test_gateway_masks_for_readers_and_decrypts_for_pii_readers(pii_stack, gateway):
    _, _, rows = pii_stack
    app, keys = gateway
    client = app.test_client()
    want = rows[4]
    masked = client.get(
        f"/v1/employees/{want['Employee_id']}", headers={"X-API-Key": keys["reader"]}
    ).get_json()
    assert masked["email"] == want["Email"][0] + "***@" + want["Email"].split("@")[1]
    assert masked["phone"] == "***-***-" + want["Phone"][-4:].replace("-", "")[-4:]
    assert masked["salary"] is None and masked["salary_band"] == pii.salary_band(want["Salary"])
    for role in ("pii_reader", "admin"):
        clear = client.get(
            f"/v1/employees/{want['Employee_id']}", headers={"X-API-Key": keys[role]}
        ).get_json()
        assert (clear["email"], clear["phone"], clear["salary"]) == (
            want["Email"],
            want["Phone"],
            want["Salary"],
        )
    masks = {
        role: client.get("/v1/employees", query_string={"limit": 2}, headers={"X-API-Key": key}).get_json()[
            "masked"
        ]
        for role, key in keys.items()
    }  # the list says which fields the caller's role gets masked
    assert masks == {"reader": ["email", "phone", "salary"], "pii_reader": [], "admin": []}
    assert client.get("/v1/employees/1").status_code == 401
    assert client.get("/v1/employees/999999", headers={"X-API-Key": keys["reader"]}).status_code == 404


def test_employee_listing_pages_and_audit_has_no_values(pii_stack, gateway):
    _, _, rows = pii_stack
    app, keys = gateway
    client = app.test_client()
    seen, cursor = [], None
    while True:
        page = client.get(
            "/v1/employees",
            query_string={"limit": 120, **({"cursor": cursor} if cursor else {})},
            headers={"X-API-Key": keys["pii_reader"]},
        ).get_json()
        seen += page["employees"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    expected = employees.generate_employees(310, seed=3)  # batch 1 and batch 2 (one email changed)
    assert [e["employee_id"] for e in seen] == [r["Employee_id"] for r in expected]
    assert {r["Email"] for r in rows[11:]} <= {e["email"] for e in seen}
    audit = app.extensions["audit"]
    assert audit.flush(timeout=10)
    records = audit.query(dt.datetime.now(dt.UTC).strftime("%Y%m%d"))
    revealed = [r for r in records if r.get("route", "").startswith("/v1/employees")]
    assert any(r.get("pii_revealed") is True for r in revealed)
    assert any(r.get("pii_revealed") is False for r in revealed)
    dumped = str([dict(r) for r in records])
    assert not any(r["Email"] in dumped or r["Phone"] in dumped for r in rows)


def test_a_column_tagged_pii_in_the_catalog_is_encrypted_by_the_next_run(pii_stack):
    """Tags drive the policy: a steward tags `name`; the next run encrypts every row's name (a kind the
    treatments map does not know: encrypt) in one commit and promises it with pii_protection."""
    stack, keys, rows = pii_stack
    w = stack.workspace_client()
    run_sql(w, f"ALTER TABLE {TABLE} ALTER COLUMN name SET TAGS ('pii' = 'name')", warehouse_id="local")
    before = table_snapshot(w, stack.settings(), TABLE)
    run_employees(stack)
    assert table_snapshot(w, stack.settings(), TABLE).version == before.version + 1
    table = read(stack, TABLE)
    names = {r["employee_id"]: r["name"] for r in table.iter_rows(named=True)}
    want = rows[20]
    assert names[want["Employee_id"]] != want["Name"]
    assert pii.decrypt(names[want["Employee_id"]], keys.encryption) == want["Name"]
    # the other columns were not encrypted twice
    email = table.filter(pl.col("employee_id") == want["Employee_id"])["email"][0]
    assert pii.decrypt(email, keys.encryption) == want["Email"]
    tags = sql(
        stack,
        "SELECT tag_name, tag_value FROM climatelake.information_schema.column_tags "
        "WHERE table_name = 'employees' AND column_name = 'name' ORDER BY tag_name",
    ).result.data_array
    assert tags == [["pii", "name"], ["pii_protection", "encrypted"]]


def test_a_newly_encrypted_date_column_changes_the_schema_and_the_masks_stay(pii_stack):
    """A tagged DATE column becomes text when encrypted: the table's schema changes, which the job writes by
    path (Sail cannot replace a table's schema by name) — so it drops the table's column masks first (path
    access to a masked table is refused) and sets them again after. The run succeeds, the column holds
    ciphertext of the dates, and every mask is back on its column."""
    stack, keys, rows = pii_stack
    w = stack.workspace_client()
    masks_before = {c.name: c.mask.function_name for c in w.tables.get(TABLE).columns if c.mask}
    assert masks_before, "the first run set the masks"
    run_sql(
        w, f"ALTER TABLE {TABLE} ALTER COLUMN hire_date SET TAGS ('pii' = 'hire_date')", warehouse_id="local"
    )
    before = table_snapshot(w, stack.settings(), TABLE)
    run_employees(stack)
    info = w.tables.get(TABLE)
    assert {c.name: c.type_name.value for c in info.columns}["hire_date"] == "STRING"
    assert {c.name: c.mask.function_name for c in info.columns if c.mask} == masks_before
    assert table_snapshot(w, stack.settings(), TABLE).version > before.version
    want = rows[30]
    stored = read(stack, TABLE).filter(pl.col("employee_id") == want["Employee_id"])["hire_date"][0]
    assert pii.decrypt(stored, keys.encryption) == str(want["Hire_date"])


def test_no_plaintext_pii_anywhere_in_storage(pii_stack):
    """After the whole pipeline: every blob of every container (Delta data and logs, ledger, quarantine,
    raw, manifests, exports, dead letters), every table entity (audit, keys) and the stack's log files
    (job runs, stand-ins) — none holds a generated email or phone number in plaintext."""
    stack, _, _ = pii_stack
    people = employees.generate_employees(310, seed=3)
    needles = [r["Email"].encode() for r in people] + [r["Phone"].encode() for r in people]
    needles += [b"changed.person@example.org"]
    service = BlobServiceClient.from_connection_string(stack.connection_string)
    scanned = 0
    for container in service.list_containers():
        client = service.get_container_client(container.name)
        for blob in client.list_blobs():
            data = client.download_blob(blob.name).readall()
            assert not any(n in data for n in needles), f"{container.name}/{blob.name}"
            scanned += 1
    assert scanned > 10
    tables = TableServiceClient.from_connection_string(stack.connection_string)
    for table in tables.list_tables():
        for entity in tables.get_table_client(table.name).list_entities():
            text = str(dict(entity)).encode()
            assert not any(n in text for n in needles), table.name
    files = [p for p in stack.state_dir.rglob("*") if p.is_file() and p.stat().st_size < 50_000_000]
    assert any("run-logs" in str(p) for p in files)
    for path in files:
        data = path.read_bytes()
        assert not any(n in data for n in needles), str(path)
