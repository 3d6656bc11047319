"""Temporary path credentials decided as Databricks documents them (issue 16; ``path_access.py``), through
databricks-sdk's ``w.temporary_path_credentials`` against the workspace stand-in: only paths inside an
external location, never managed storage; ``EXTERNAL_USE_LOCATION`` always, then the location's
``READ_FILES`` / ``WRITE_FILES`` / ``CREATE_EXTERNAL_TABLE``, or for an external table's path
``EXTERNAL_USE_SCHEMA`` and ``SELECT`` / ``MODIFY`` on the table; every refusal in the audit log
(``system.access.audit``). Also the EXTERNAL_LOCATION securable itself (``w.grants``, SQL GRANT)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, InvalidParameterValue, PermissionDenied
from databricks.sdk.service.catalog import (
    AzureManagedIdentityRequest,
    PathOperation,
    PermissionsChange,
    Privilege,
)

from emulators.workspace.path_access import containing_location
from emulators.workspace.testing import PRINCIPAL
from tests.helpers.people import AccessWorld, make_people, signing_workspace

P = Privilege
ACCOUNT = "devstoreaccount1"
ZONE = f"abfss://landing@{ACCOUNT}.dfs.core.windows.net/zone"
FILES = f"{ZONE}/files"
TABLE_PATH = f"{ZONE}/tables/ext"
CONNECTOR = "/subscriptions/0/resourceGroups/local/providers/Microsoft.Databricks/accessConnectors/local"
READ, WRITE, CREATE = PathOperation.PATH_READ, PathOperation.PATH_READ_WRITE, PathOperation.PATH_CREATE_TABLE


@dataclass
class World(AccessWorld):
    catalog: str

    def path(self, who: str, url: str, operation: PathOperation):
        w = self.admin if who == "admin" else self.clients[who]
        return w.temporary_path_credentials.generate_temporary_path_credentials(url=url, operation=operation)

    def allowed(self, who: str, url: str, operation: PathOperation) -> bool:
        try:
            answer = self.path(who, url, operation)
        except PermissionDenied:
            return False
        assert answer.azure_user_delegation_sas.sas_token
        return True


def _change(w: WorkspaceClient, kind: str, name: str, principal: str, how: str, *privileges: Privilege):
    change = PermissionsChange(principal=principal, **{how: list(privileges)})
    w.grants.update(kind, name, changes=[change])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    ws = signing_workspace(Path(tmp_path_factory.mktemp("path-credentials")), ACCOUNT)
    admin = ws.client()
    # off by default, as on Databricks (tests/test_metastore.py): the deploy's step, by the metastore admin
    admin.metastores.update(admin.metastores.current().metastore_id, external_access_enabled=True)
    people = make_people(ws, "readers")
    names = people.names
    admin.storage_credentials.create(
        "local_cred", azure_managed_identity=AzureManagedIdentityRequest(access_connector_id=CONNECTOR)
    )
    admin.external_locations.create("landing", ZONE, "local_cred")
    # the managed storage of the catalog lies in an external location too (as on Azure: lake/unity)
    admin.external_locations.create(
        "lake", f"abfss://lake@{ACCOUNT}.dfs.core.windows.net/unity", "local_cred"
    )
    catalog = f"c_{uuid.uuid4().hex[:6]}"
    admin.catalogs.create(name=catalog)
    admin.schemas.create(name="s", catalog_name=catalog)
    ws.register_external_table(
        f"{catalog}.s.ext",
        TABLE_PATH,
        columns=[{"name": "id", "type_name": "LONG", "type_text": "bigint", "position": 0}],
    )
    body = {"catalog_name": catalog, "schema_name": "s", "name": "m", "table_type": "MANAGED"}
    body["columns"] = [{"name": "id", "type_name": "LONG", "type_text": "bigint", "position": 0}]
    admin.api_client.do("POST", "/api/2.1/unity-catalog/tables", body=body)

    _change(
        admin, "external_location", "landing", names["alice"], "add", P.EXTERNAL_USE_LOCATION, P.READ_FILES
    )
    # bob ∈ juniors ∈ readers: the grant to the outer group reaches him
    outer = names["readers"]
    _change(
        admin,
        "external_location",
        "landing",
        outer,
        "add",
        P.EXTERNAL_USE_LOCATION,
        P.READ_FILES,
        P.WRITE_FILES,
    )
    # carol: everything but EXTERNAL_USE_LOCATION (ALL_PRIVILEGES does not stand for it)
    _change(
        admin,
        "external_location",
        "landing",
        names["carol"],
        "add",
        P.ALL_PRIVILEGES,
        P.READ_FILES,
        P.WRITE_FILES,
        P.CREATE_EXTERNAL_TABLE,
    )
    yield World(ws, admin, people.clients, names, catalog)
    ws.stop()


def test_the_external_location_is_a_securable(world: World):
    """Grants on an external location through w.grants (direct and effective) and SQL; privileges that do not
    apply are refused; its creator owns it."""
    held = {
        a.principal: {p.value for p in a.privileges}
        for a in world.admin.grants.get("external_location", "landing").privilege_assignments
    }
    assert held[world.names["alice"]] == {"EXTERNAL_USE_LOCATION", "READ_FILES"}
    effective = world.admin.grants.get_effective(
        "external_location", "landing", principal=world.names["alice"]
    )
    assert {p.privilege.value for p in effective.privilege_assignments[0].privileges} == {
        "EXTERNAL_USE_LOCATION",
        "READ_FILES",
    }
    assert world.admin.external_locations.get("landing").owner == PRINCIPAL
    with pytest.raises(InvalidParameterValue, match="not applicable"):
        _change(world.admin, "external_location", "landing", world.names["alice"], "add", P.SELECT)
    with pytest.raises(PermissionDenied):  # not the owner, no MANAGE
        _change(
            world.clients["alice"], "external_location", "landing", world.names["alice"], "add", P.WRITE_FILES
        )
    sql = world.ws.app.extensions["workspace"].grants_sql
    record = {"created_by": PRINCIPAL, "statement_id": str(uuid.uuid4())}
    who = f"`{world.names['carol']}`"
    sql.answer(
        {**record, "statement": f"GRANT BROWSE ON EXTERNAL LOCATION landing TO {who}"}, lambda: (None, None)
    )
    _, shown = sql.answer(
        {**record, "statement": f"SHOW GRANTS {who} ON EXTERNAL  LOCATION `landing`"}, lambda: (None, None)
    )
    assert ["BROWSE", "EXTERNAL_LOCATION", "landing"] in [row[1:] for row in shown["data_array"]]
    sql.answer(
        {**record, "statement": f"REVOKE BROWSE ON EXTERNAL LOCATION landing FROM {who}"},
        lambda: (None, None),
    )
    held = world.admin.grants.get("external_location", "landing", principal=world.names["carol"])
    assert "BROWSE" not in {p.value for p in held.privilege_assignments[0].privileges}


def test_principal_by_path_by_operation(world: World):
    """principal × operation on files in the location (not a table's): the location's privileges decide,
    EXTERNAL_USE_LOCATION first; a group of groups carries its grant; the admin passes."""
    matrix = {
        "alice": {READ: True, WRITE: False, CREATE: False},
        "bob": {READ: True, WRITE: True, CREATE: False},
        "carol": {READ: False, WRITE: False, CREATE: False},  # READ_FILES without EXTERNAL_USE_LOCATION
        "admin": {READ: True, WRITE: True, CREATE: True},
    }
    for who, expected in matrix.items():
        for operation, allowed in expected.items():
            for url in (FILES, f"{ZONE}/files/2026/a.csv", FILES + "/"):
                assert world.allowed(who, url, operation) is allowed, (who, url, operation)
    with pytest.raises(PermissionDenied, match="EXTERNAL USE LOCATION on External Location 'landing'"):
        world.path("carol", FILES, READ)
    with pytest.raises(PermissionDenied, match="WRITE FILES on External Location 'landing'"):
        world.path("alice", FILES, WRITE)


def test_a_revoke_takes_effect_on_the_next_request(world: World):
    outer = world.names["readers"]
    assert world.allowed("bob", FILES, READ)
    _change(world.admin, "external_location", "landing", outer, "remove", P.READ_FILES)
    try:
        assert not world.allowed("bob", FILES, READ)
        assert not world.allowed("bob", FILES, WRITE)  # READ_WRITE needs READ_FILES too
    finally:
        _change(world.admin, "external_location", "landing", outer, "add", P.READ_FILES)
    assert world.allowed("bob", FILES, WRITE)


def test_an_external_tables_path_needs_the_tables_privileges(world: World):
    """At or under an external table's location (or above it), the table's grants decide, not READ_FILES:
    EXTERNAL_USE_SCHEMA on its schema and SELECT (PATH_READ) or MODIFY (PATH_READ_WRITE), with the path."""
    c, alice, admin = world.catalog, world.names["alice"], world.admin
    for url in (TABLE_PATH, f"{TABLE_PATH}/_delta_log/00000000000000000000.json", f"{ZONE}/tables"):
        assert not world.allowed("alice", url, READ), url  # READ_FILES on the location is not enough
    _change(admin, "catalog", c, alice, "add", P.USE_CATALOG)
    _change(admin, "schema", f"{c}.s", alice, "add", P.USE_SCHEMA)
    _change(admin, "table", f"{c}.s.ext", alice, "add", P.SELECT)
    with pytest.raises(PermissionDenied, match=f"EXTERNAL USE SCHEMA on Schema '{c}.s'"):
        world.path("alice", TABLE_PATH, READ)
    _change(admin, "schema", f"{c}.s", alice, "add", P.EXTERNAL_USE_SCHEMA)
    assert world.allowed("alice", TABLE_PATH, READ)
    assert world.allowed("alice", f"{TABLE_PATH}/part-0.parquet", READ)
    with pytest.raises(PermissionDenied, match=f"MODIFY on Table '{c}.s.ext'"):
        world.path("alice", TABLE_PATH, WRITE)
    _change(admin, "table", f"{c}.s.ext", alice, "add", P.MODIFY)
    assert world.allowed("alice", TABLE_PATH, WRITE)
    _change(admin, "schema", f"{c}.s", alice, "remove", P.USE_SCHEMA)  # the path to the table
    with pytest.raises(PermissionDenied, match=f"USE SCHEMA on Schema '{c}.s'"):
        world.path("alice", TABLE_PATH, READ)
    _change(admin, "schema", f"{c}.s", alice, "add", P.USE_SCHEMA)
    with pytest.raises(InvalidParameterValue, match="overlaps with an existing table"):
        world.path("admin", TABLE_PATH, CREATE)
    # a sibling folder whose name starts like the table's is not the table (whole segments)
    assert world.allowed("alice", f"{ZONE}/tables/ext_old", READ)


def test_managed_storage_and_paths_outside_every_location_are_refused_to_everyone(world: World):
    managed = world.admin.tables.get(f"{world.catalog}.s.m").storage_location
    for url in (managed, f"{managed}/_delta_log"):
        with pytest.raises(InvalidParameterValue, match="overlaps with managed storage"):
            world.path("admin", url, READ)
    outside = (
        f"abfss://other@{ACCOUNT}.dfs.core.windows.net/x",
        f"abfss://landing@{ACCOUNT}.dfs.core.windows.net/zone_old/x",  # not under …/zone
        f"abfss://landing@{ACCOUNT}.dfs.core.windows.net/",  # above the location
    )
    for url in outside:
        with pytest.raises(BadRequest, match="NO_PARENT_EXTERNAL_LOCATION_FOR_PATH"):
            world.path("admin", url, READ)


def test_refusals_are_in_the_audit_log(world: World):
    with pytest.raises(PermissionDenied):
        world.path("carol", f"{FILES}/audited", READ)
    with pytest.raises(BadRequest):
        world.path("carol", f"abfss://other@{ACCOUNT}.dfs.core.windows.net/audited", WRITE)
    rows = world.audit(action_name="generateTemporaryPathCredential")
    mine = [r for r in rows if r["user_identity"]["email"] == world.names["carol"]]
    refused = {
        (r["request_params"]["url"], r["request_params"]["operation"], r["response"]["status_code"])
        for r in mine
    }
    assert (f"{FILES}/audited", "PATH_READ", 403) in refused
    assert (f"abfss://other@{ACCOUNT}.dfs.core.windows.net/audited", "PATH_READ_WRITE", 400) in refused
    granted = [r for r in rows if r["user_identity"]["email"] == world.names["alice"]]
    assert any(r["response"]["status_code"] == 200 for r in granted)


def test_the_location_is_found_whatever_the_spelling():
    locations = [
        {"name": "landing", "url": ZONE},
        {"name": "raw", "url": "abfss://raw@acct.dfs.core.windows.net/"},
    ]
    for url in (
        f"wasbs://landing@{ACCOUNT}.blob.core.windows.net/zone/files",
        f"https://{ACCOUNT}.dfs.core.windows.net/landing/zone/files",
        f"http://127.0.0.1:10000/{ACCOUNT}/landing/zone/files",
        f"{ZONE}//files/./a/../b",
    ):
        assert (containing_location(locations, url) or {}).get("name") == "landing", url
    assert containing_location(locations, "https://acct.blob.core.windows.net/raw/weather")["name"] == "raw"
    assert containing_location(locations, f"abfss://landing@{ACCOUNT}.dfs.core.windows.net/zonex") is None
    assert containing_location(locations, "abfss://raw@other.dfs.core.windows.net/weather") is None
