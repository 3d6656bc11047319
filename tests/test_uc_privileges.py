"""Unity Catalog privileges in the workspace stand-in, through databricks-sdk unchanged (issue 16): principals
(SCIM users, nested groups, service principals, their tokens), grants (``w.grants``), enforcement of reads,
lists and temporary table credentials, ownership, and the audit rows of every decision."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, NotFound, PermissionDenied, Unauthenticated
from databricks.sdk.service.catalog import (
    PermissionsChange,
    Privilege,
    TableOperation,
    VolumeOperation,
    VolumeType,
)
from databricks.sdk.service.iam import Patch, PatchOp, PatchSchema

from emulators.workspace.testing import PRINCIPAL, InProcessWorkspace
from tests.helpers.people import AccessWorld, audit_rows, make_people, signing_workspace, token_for

P = Privilege


@dataclass
class World(AccessWorld):
    ids: dict[str, str]

    def table_id(self, full_name: str) -> str:
        return self.admin.tables.get(full_name).table_id


def _grant(w: WorkspaceClient, kind: str, name: str, principal: str, *privileges: Privilege) -> None:
    w.grants.update(kind, name, changes=[PermissionsChange(principal=principal, add=list(privileges))])


def _revoke(w: WorkspaceClient, kind: str, name: str, principal: str, *privileges: Privilege) -> None:
    w.grants.update(kind, name, changes=[PermissionsChange(principal=principal, remove=list(privileges))])


def _table(w: WorkspaceClient, full_name: str) -> None:
    catalog, schema, name = full_name.split(".")
    body = {"catalog_name": catalog, "schema_name": schema, "name": name, "table_type": "MANAGED"}
    body["columns"] = [{"name": "id", "type_name": "LONG", "type_text": "bigint", "position": 0}]
    w.api_client.do("POST", "/api/2.1/unity-catalog/tables", body=body)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    ws = signing_workspace(Path(tmp_path_factory.mktemp("uc-privileges")))
    admin = ws.client()
    people = make_people(ws, outer="analysts")  # groups of groups: bob ∈ juniors ∈ analysts
    names, ids = people.names, people.ids
    etl = admin.service_principals.create(display_name=f"etl-{uuid.uuid4().hex[:6]}")
    names["etl"], ids["etl"] = etl.application_id, etl.id

    admin.catalogs.create(name="sales")
    admin.catalogs.create(name="hr")
    for schema in ("raw", "gold"):
        admin.schemas.create(name=schema, catalog_name="sales")
    admin.schemas.create(name="people", catalog_name="hr")
    for table in ("sales.raw.orders", "sales.raw.secret", "sales.gold.daily", "hr.people.staff"):
        _table(admin, table)

    _grant(admin, "catalog", "sales", names["alice"], P.USE_CATALOG)
    _grant(admin, "schema", "sales.raw", names["alice"], P.USE_SCHEMA)
    _grant(admin, "table", "sales.raw.orders", names["alice"], P.SELECT)
    _grant(admin, "catalog", "sales", names["analysts"], P.USE_CATALOG)
    _grant(admin, "schema", "sales.gold", names["analysts"], P.USE_SCHEMA, P.SELECT)  # schema → its tables
    _grant(admin, "catalog", "sales", names["etl"], P.USE_CATALOG, P.USE_SCHEMA, P.SELECT, P.MODIFY)

    obo = admin.token_management.create_obo_token(
        application_id=names["etl"], comment="etl", lifetime_seconds=600
    )
    clients = people.clients
    clients["etl"] = ws.client(obo.token_value)
    yield World(ws, admin, clients, names, ids)
    ws.stop()


# principals -------------------------------------------------------------------------------------
def test_scim_principals_and_tokens(world: World):
    admin, alice = world.admin, world.clients["alice"]
    assert admin.current_user.me().user_name == PRINCIPAL
    assert alice.current_user.me().user_name == world.names["alice"]
    assert world.clients["etl"].current_user.me().user_name == world.names["etl"]
    found = list(admin.users.list(filter=f'userName eq "{world.names["alice"]}"'))
    assert [u.id for u in found] == [world.ids["alice"]]
    assert admin.users.get(world.ids["alice"]).user_name == world.names["alice"]
    assert world.names["etl"] in {sp.application_id for sp in admin.service_principals.list()}
    analysts = admin.groups.get(world.ids["analysts"])
    assert [m.value for m in analysts.members] == [world.ids["juniors"]]
    assert {g.display for g in admin.groups.get(world.ids["juniors"]).groups} == {world.names["analysts"]}
    # a user's own token (w.tokens.create) works until it is revoked
    created = alice.tokens.create(comment="mine", lifetime_seconds=300)
    mine = world.ws.client(created.token_value)
    assert mine.current_user.me().user_name == world.names["alice"]
    assert created.token_info.token_id in {t.token_id for t in alice.tokens.list()}
    alice.tokens.delete(created.token_info.token_id)
    with pytest.raises(Unauthenticated):
        mine.current_user.me()
    # only workspace admins change the directory
    with pytest.raises(PermissionDenied):
        alice.users.create(user_name=f"mallory-{uuid.uuid4().hex[:6]}@example.com")
    with pytest.raises(PermissionDenied):
        alice.token_management.create_obo_token(application_id=world.names["etl"])


def test_group_membership_patch_add_and_remove(world: World):
    admin = world.admin
    group = admin.groups.create(display_name=f"tmp-{uuid.uuid4().hex[:6]}")
    member = {"value": world.ids["carol"]}
    schemas = [PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP]
    admin.groups.patch(
        group.id, operations=[Patch(op=PatchOp.ADD, path="members", value=[member])], schemas=schemas
    )
    assert [m.value for m in admin.groups.get(group.id).members] == [world.ids["carol"]]
    remove = Patch(op=PatchOp.REMOVE, path=f'members[value eq "{world.ids["carol"]}"]')
    admin.groups.patch(group.id, operations=[remove], schemas=schemas)
    assert not admin.groups.get(group.id).members
    admin.groups.delete(group.id)


# the matrix ---------------------------------------------------------------------------------------
def _get(w: WorkspaceClient, kind: str, name: str) -> str:
    """The securable's name as read by ``w`` (catalogs answer ``name``, the others ``full_name``)."""
    if kind == "catalog":
        return w.catalogs.get(name).name
    return {"schema": w.schemas.get, "table": w.tables.get}[kind](name).full_name


#: (principal, securable kind, name) → allowed; comments say why
READS = [
    ("alice", "table", "sales.raw.orders", True),  # USE CATALOG + USE SCHEMA + SELECT
    ("alice", "table", "sales.raw.secret", False),  # no SELECT
    ("alice", "table", "sales.gold.daily", False),  # no USE SCHEMA on gold
    ("alice", "schema", "sales.raw", True),
    ("alice", "schema", "sales.gold", False),
    ("alice", "catalog", "sales", True),
    ("alice", "catalog", "hr", False),
    (
        "bob",
        "table",
        "sales.gold.daily",
        True,
    ),  # through juniors ∈ analysts; SELECT inherited from the schema
    ("bob", "table", "sales.raw.orders", False),
    ("bob", "schema", "sales.gold", True),
    ("carol", "catalog", "sales", False),  # nothing granted
    ("carol", "table", "sales.raw.orders", False),
    ("etl", "table", "sales.raw.secret", True),  # a catalog grant reaches every table in it
    ("etl", "table", "hr.people.staff", False),
]
CREDENTIALS = [
    ("alice", "sales.raw.orders", TableOperation.READ, True),
    ("alice", "sales.raw.orders", TableOperation.READ_WRITE, False),  # SELECT only, no MODIFY
    ("alice", "sales.raw.secret", TableOperation.READ, False),
    ("bob", "sales.gold.daily", TableOperation.READ, True),
    ("bob", "sales.gold.daily", TableOperation.READ_WRITE, False),
    ("etl", "sales.raw.secret", TableOperation.READ_WRITE, True),  # MODIFY inherited from the catalog
    ("carol", "sales.raw.orders", TableOperation.READ, False),
]


@pytest.mark.parametrize(("who", "kind", "name", "allowed"), READS)
def test_reads(world: World, who: str, kind: str, name: str, allowed: bool):
    w = world.clients[who]
    if allowed:
        assert _get(w, kind, name) == name
    else:
        with pytest.raises(PermissionDenied, match="does not have"):
            _get(w, kind, name)
    assert _get(world.admin, kind, name) == name  # the metastore admin reads everything


@pytest.mark.parametrize(("who", "table", "operation", "allowed"), CREDENTIALS)
def test_temporary_table_credentials(world: World, who: str, table: str, operation, allowed: bool):
    vend = world.clients[who].temporary_table_credentials.generate_temporary_table_credentials
    table_id = world.table_id(table)
    if allowed:
        assert vend(operation=operation, table_id=table_id).azure_user_delegation_sas.sas_token
    else:
        with pytest.raises(PermissionDenied):
            vend(operation=operation, table_id=table_id)


def test_lists_show_only_what_the_caller_may_see(world: World):
    alice, bob, carol = (world.clients[k] for k in ("alice", "bob", "carol"))
    assert {c.name for c in alice.catalogs.list()} == {"sales"}
    assert {s.name for s in alice.schemas.list("sales")} == {"raw"}
    assert {t.name for t in alice.tables.list("sales", "raw")} == {"orders"}
    assert {s.name for s in bob.schemas.list("sales")} == {"gold"}
    assert {t.name for t in bob.tables.list("sales", "gold")} == {"daily"}
    assert not list(carol.catalogs.list())
    assert {c.name for c in world.admin.catalogs.list()} >= {"sales", "hr"}


def test_grants_get_and_effective_inherited_from(world: World):
    admin = world.admin
    direct = admin.grants.get("table", "sales.raw.orders").privilege_assignments
    assert [(a.principal, a.privileges) for a in direct] == [(world.names["alice"], [P.SELECT])]
    effective = admin.grants.get_effective("table", "sales.gold.daily", principal=world.names["analysts"])
    (assignment,) = effective.privilege_assignments
    (select,) = assignment.privileges  # USE SCHEMA does not apply to a table: not conveyed to it
    assert select.privilege == P.SELECT
    assert (select.inherited_from_type.value, select.inherited_from_name) == ("SCHEMA", "sales.gold")
    etl = admin.grants.get_effective("table", "sales.raw.secret", principal=world.names["etl"])
    conveyed = {
        (p.privilege, p.inherited_from_type.value, p.inherited_from_name)
        for p in etl.privilege_assignments[0].privileges
    }
    assert conveyed == {(P.SELECT, "CATALOG", "sales"), (P.MODIFY, "CATALOG", "sales")}
    listed = [(a.principal, a.privileges) for a in admin.grants.list("table", "sales.raw.orders")]
    assert listed == [(world.names["alice"], [P.SELECT])]
    paged = admin.grants.list_effective("table", "sales.gold.daily", principal=world.names["analysts"])
    assert [p.inherited_from_name for a in paged for p in a.privileges] == ["sales.gold"]
    with pytest.raises(NotFound):
        _grant(admin, "table", "sales.raw.orders", "nobody@example.com", P.SELECT)
    with pytest.raises(BadRequest):
        _grant(admin, "table", "sales.raw.orders", world.names["alice"], P.USE_CATALOG)  # not for tables


def test_revocation_takes_effect_immediately(world: World):
    admin, bob = world.admin, world.clients["bob"]
    _table(admin, "sales.gold.weekly")
    assert bob.tables.get("sales.gold.weekly").name == "weekly"  # a schema grant covers future tables
    _revoke(admin, "schema", "sales.gold", world.names["analysts"], P.SELECT)
    with pytest.raises(PermissionDenied):
        bob.tables.get("sales.gold.weekly")
    _grant(admin, "table", "sales.gold.weekly", world.names["juniors"], P.SELECT)
    assert bob.tables.get("sales.gold.weekly").name == "weekly"
    _grant(admin, "schema", "sales.gold", world.names["analysts"], P.SELECT)


def test_only_owners_managers_and_admins_change_grants_and_owners(world: World):
    admin, alice = world.admin, world.clients["alice"]
    dave_name = f"dave-{uuid.uuid4().hex[:6]}@example.com"
    admin.users.create(user_name=dave_name)
    dave = world.ws.client(token_for(world.ws, dave_name))
    admin.schemas.create(name="ops", catalog_name="sales")
    _table(admin, "sales.ops.ledger")
    with pytest.raises(PermissionDenied):
        _grant(dave, "table", "sales.ops.ledger", dave_name, P.SELECT)
    with pytest.raises(PermissionDenied):
        dave.tables.update("sales.ops.ledger", owner=dave_name)
    # ownership transfer: the owner has all privileges on the table, but still needs the path to it
    admin.tables.update("sales.ops.ledger", owner=dave_name)
    assert admin.tables.get("sales.ops.ledger").owner == dave_name
    with pytest.raises(PermissionDenied, match="USE CATALOG on Catalog 'sales'"):
        dave.tables.get("sales.ops.ledger")
    _grant(admin, "catalog", "sales", dave_name, P.USE_CATALOG)
    _grant(admin, "schema", "sales.ops", dave_name, P.USE_SCHEMA)
    assert dave.tables.get("sales.ops.ledger").owner == dave_name
    vend = dave.temporary_table_credentials.generate_temporary_table_credentials
    assert vend(operation=TableOperation.READ_WRITE, table_id=world.table_id("sales.ops.ledger"))
    # …and may grant on it; MANAGE lets another principal grant too
    _grant(admin, "schema", "sales.ops", world.names["alice"], P.USE_SCHEMA)
    _grant(dave, "table", "sales.ops.ledger", world.names["alice"], P.SELECT, P.MANAGE)
    assert alice.tables.get("sales.ops.ledger").name == "ledger"
    _grant(alice, "table", "sales.ops.ledger", world.names["etl"], P.SELECT)
    with pytest.raises(PermissionDenied):  # MANAGE on the table, not on its schema
        _grant(alice, "schema", "sales.ops", world.names["etl"], P.USE_SCHEMA)
    # a schema's owner sees the tables in it, but reads no data without a grant
    _table(admin, "sales.ops.metrics")
    admin.schemas.update("sales.ops", owner=dave_name)
    assert dave.tables.get("sales.ops.metrics").name == "metrics"
    with pytest.raises(PermissionDenied, match="SELECT on Table 'sales.ops.metrics'"):
        vend(operation=TableOperation.READ, table_id=world.table_id("sales.ops.metrics"))
    _grant(dave, "table", "sales.ops.metrics", dave_name, P.SELECT)  # …which it may give itself
    assert vend(operation=TableOperation.READ, table_id=world.table_id("sales.ops.metrics"))


def test_audit_rows_record_the_denied_attempts(world: World):
    for who, kind, name, allowed in READS:
        if not allowed:
            with pytest.raises(PermissionDenied):
                _get(world.clients[who], kind, name)
    vend = world.clients["alice"].temporary_table_credentials.generate_temporary_table_credentials
    vend(operation=TableOperation.READ, table_id=world.table_id("sales.raw.orders"))
    with pytest.raises(PermissionDenied):
        vend(operation=TableOperation.READ_WRITE, table_id=world.table_id("sales.raw.orders"))
    rows = world.admin.api_client.do("GET", "/api/2.0/local/audit")["rows"]
    denied = [r for r in rows if r["response"]["status_code"] == 403]
    # each denied read of the matrix is there, by principal, action and name
    seen = {
        (
            r["user_identity"]["email"],
            r["action_name"],
            r["request_params"].get("full_name_arg") or r["request_params"].get("name_arg"),
        )
        for r in denied
    }
    actions = {"catalog": "getCatalog", "schema": "getSchema", "table": "getTable"}
    expected = {(world.names[who], actions[kind], name) for who, kind, name, allowed in READS if not allowed}
    assert expected <= seen
    last = next(
        r
        for r in reversed(denied)
        if r["action_name"] == "getTable" and r["user_identity"]["email"] == world.names["etl"]
    )
    assert last["service_name"] == "unityCatalog"
    assert last["request_params"] == {"full_name_arg": "hr.people.staff"}
    assert last["response"]["error_message"] == "User does not have USE CATALOG on Catalog 'hr'."
    for column in (
        "event_time",
        "event_date",
        "workspace_id",
        "source_ip_address",
        "user_agent",
        "request_id",
    ):
        assert column in last
    assert last["audit_level"] == "WORKSPACE_LEVEL" and last["account_id"]
    vended = [
        r
        for r in rows
        if r["action_name"] == "generateTemporaryTableCredential"
        and r["user_identity"]["email"] == world.names["alice"]
    ]
    assert {r["response"]["status_code"] for r in vended[-2:]} == {200, 403}
    assert vended[-1]["request_params"]["operation"] == "READ_WRITE"
    assert any(r["action_name"] == "updatePermissions" for r in rows)
    assert "dapi" not in json.dumps(rows) and "sig=" not in json.dumps(rows)  # no token, no SAS
    only = world.admin.api_client.do("GET", "/api/2.0/local/audit", query={"status_code": 403})["rows"]
    assert only and all(r["response"]["status_code"] == 403 for r in only)


def test_volumes_reads_lists_and_credentials(world: World):
    admin, bob = world.admin, world.clients["bob"]
    admin.volumes.create("sales", "gold", "files", VolumeType.MANAGED)
    admin.volumes.create("sales", "gold", "private", VolumeType.MANAGED)
    _grant(admin, "volume", "sales.gold.files", world.names["juniors"], P.READ_VOLUME)
    assert bob.volumes.read("sales.gold.files").name == "files"
    with pytest.raises(PermissionDenied, match="READ VOLUME on Volume 'sales.gold.private'"):
        bob.volumes.read("sales.gold.private")
    assert {v.name for v in bob.volumes.list("sales", "gold")} == {"files"}
    vend = bob.temporary_volume_credentials.generate_temporary_volume_credentials
    volume_id = admin.volumes.read("sales.gold.files").volume_id
    assert vend(operation=VolumeOperation.READ_VOLUME, volume_id=volume_id).azure_user_delegation_sas
    with pytest.raises(PermissionDenied, match="WRITE VOLUME"):
        vend(operation=VolumeOperation.WRITE_VOLUME, volume_id=volume_id)


def test_creates_need_their_privilege(world: World):
    admin, etl = world.admin, world.clients["etl"]
    with pytest.raises(PermissionDenied, match="CREATE CATALOG on Metastore"):
        etl.catalogs.create(name=f"etl_{uuid.uuid4().hex[:6]}")
    with pytest.raises(PermissionDenied, match="CREATE SCHEMA on Catalog 'sales'"):
        etl.schemas.create(name="scratch", catalog_name="sales")
    _grant(admin, "catalog", "sales", world.names["etl"], P.CREATE_SCHEMA)
    schema = etl.schemas.create(name="scratch", catalog_name="sales")
    assert schema.owner == world.names["etl"]  # the creator owns what it makes
    _table(etl, "sales.scratch.t")  # the owner of a schema holds CREATE TABLE in it
    assert etl.tables.get("sales.scratch.t").owner == world.names["etl"]


def test_principals_grants_and_audit_survive_a_restart(tmp_path: Path):
    ws = InProcessWorkspace(tmp_path / "ws").start()
    try:
        admin = ws.client()
        admin.users.create(user_name="erin@example.com")
        token = token_for(ws, "erin@example.com")
        admin.catalogs.create(name="kept")
        _grant(admin, "catalog", "kept", "erin@example.com", P.USE_CATALOG)
    finally:
        ws.stop()
    ws.start()
    try:
        erin = ws.client(token)
        assert erin.current_user.me().user_name == "erin@example.com"
        assert erin.catalogs.get("kept").name == "kept"
        query = {"action_name": "updatePermissions"}
        rows = audit_rows(ws.client(), **query)
        assert [r["request_params"]["securable_full_name"] for r in rows] == ["kept"]
    finally:
        ws.stop()
