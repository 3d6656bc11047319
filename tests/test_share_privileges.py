"""Adding a table to a Delta Sharing share checks Unity Catalog privileges (issue 16), through databricks-sdk
``w.shares.update`` unchanged: the caller owns the share (or holds MANAGE on it, or is a metastore admin),
and the share's owner holds SELECT on each table added, with USE CATALOG and USE SCHEMA on the way; removals
need nothing more. Refusals are 403 PERMISSION_DENIED and rows of the audit log (``updateShare``)."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import PermissionDenied
from databricks.sdk.service.catalog import PermissionsChange, Privilege
from databricks.sdk.service.iam import ComplexValue
from databricks.sdk.service.sharing import SharedDataObject, SharedDataObjectUpdate
from databricks.sdk.service.sharing import SharedDataObjectUpdateAction as Action
from databricks.sdk.service.sql import StatementState

from emulators.workspace.testing import InProcessWorkspace


@dataclass
class World:
    admin: WorkspaceClient
    clients: dict[str, WorkspaceClient]
    names: dict[str, str]
    share: str


def _grant(w: WorkspaceClient, kind: str, name: str, principal: str, *privileges: Privilege) -> None:
    w.grants.update(kind, name, changes=[PermissionsChange(principal=principal, add=list(privileges))])


def _revoke(w: WorkspaceClient, kind: str, name: str, principal: str, *privileges: Privilege) -> None:
    w.grants.update(kind, name, changes=[PermissionsChange(principal=principal, remove=list(privileges))])


def _update(action: Action, table: str) -> list[SharedDataObjectUpdate]:
    return [SharedDataObjectUpdate(action=action, data_object=SharedDataObject(name=table))]


def _objects(w: WorkspaceClient, share: str) -> list[str]:
    return sorted(o.name for o in w.shares.get(share, include_shared_data=True).objects or [])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    key = base64.b64encode(os.urandom(64)).decode()  # any key: no storage is reached here
    ws = InProcessWorkspace(
        Path(tmp_path_factory.mktemp("share-privileges")),
        storage_connection_string=f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key}",
        # statements reach an engine only when the workspace cannot answer them; ALTER SHARE never does
        sql_engine_remote="sc://127.0.0.1:9",
    ).start()
    admin = ws.client()
    suffix = uuid.uuid4().hex[:6]
    names = {k: f"{k}-{suffix}@example.com" for k in ("alice", "bob")}
    ids = {k: admin.users.create(user_name=v).id for k, v in names.items()}
    juniors = admin.groups.create(display_name=f"juniors-{suffix}", members=[ComplexValue(value=ids["bob"])])
    sharers = admin.groups.create(display_name=f"sharers-{suffix}", members=[ComplexValue(value=juniors.id)])
    names["sharers"] = sharers.display_name
    admin.catalogs.create(name="sales")
    admin.schemas.create(name="gold", catalog_name="sales")
    for table in ("daily", "weekly"):
        body = {"catalog_name": "sales", "schema_name": "gold", "name": table, "table_type": "MANAGED"}
        body["columns"] = [{"name": "id", "type_name": "LONG", "type_text": "bigint", "position": 0}]
        admin.api_client.do("POST", "/api/2.1/unity-catalog/tables", body=body)
    share = f"partners_{suffix}"
    admin.shares.create(share)
    admin.shares.update(share, owner=names["alice"])  # a metastore admin hands the share to alice
    clients = {}
    for k in ("alice", "bob"):
        answer = admin.api_client.do("POST", "/api/2.0/local/tokens", body={"principal": names[k]})
        clients[k] = ws.client(answer["token_value"])
    yield World(admin, clients, names, share)
    ws.stop()


def test_the_owner_needs_select_and_the_path(world: World):
    admin, alice, share = world.admin, world.clients["alice"], world.share
    with pytest.raises(PermissionDenied, match="USE CATALOG on Catalog 'sales'"):
        alice.shares.update(share, updates=_update(Action.ADD, "sales.gold.daily"))
    _grant(admin, "catalog", "sales", world.names["alice"], Privilege.USE_CATALOG)
    _grant(admin, "schema", "sales.gold", world.names["alice"], Privilege.USE_SCHEMA)
    with pytest.raises(PermissionDenied, match="SELECT on Table 'sales.gold.daily'"):
        alice.shares.update(share, updates=_update(Action.ADD, "sales.gold.daily"))
    _grant(admin, "table", "sales.gold.daily", world.names["alice"], Privilege.SELECT)
    alice.shares.update(share, updates=_update(Action.ADD, "sales.gold.daily"))
    assert _objects(admin, share) == ["sales.gold.daily"]


def test_others_cannot_update_the_share(world: World):
    bob = world.clients["bob"]
    for action in (Action.ADD, Action.REMOVE):
        with pytest.raises(PermissionDenied, match=f"MANAGE on Share '{world.share}'"):
            bob.shares.update(world.share, updates=_update(action, "sales.gold.daily"))
    assert _objects(world.admin, world.share) == ["sales.gold.daily"]


def test_a_metastore_admin_adds_only_what_the_share_owner_may_select(world: World):
    admin, share = world.admin, world.share
    with pytest.raises(PermissionDenied, match="SELECT on Table 'sales.gold.weekly'.*owner"):
        admin.shares.update(share, updates=_update(Action.ADD, "sales.gold.weekly"))
    _grant(admin, "schema", "sales.gold", world.names["alice"], Privilege.SELECT)  # inherited by its tables
    admin.shares.update(share, updates=_update(Action.ADD, "sales.gold.weekly"))
    assert _objects(admin, share) == ["sales.gold.daily", "sales.gold.weekly"]


def test_a_group_owner_and_removals(world: World):
    admin, alice, bob, share = world.admin, world.clients["alice"], world.clients["bob"], world.share
    # the owner once the update is made must hold SELECT: sharers has nothing yet
    _grant(admin, "catalog", "sales", world.names["sharers"], Privilege.USE_CATALOG, Privilege.USE_SCHEMA)
    with pytest.raises(PermissionDenied, match=world.names["sharers"]):
        alice.shares.update(
            share,
            owner=world.names["sharers"],
            updates=_update(Action.REMOVE, "sales.gold.weekly") + _update(Action.ADD, "sales.gold.weekly"),
        )
    alice.shares.update(share, owner=world.names["sharers"])
    # bob ∈ juniors ∈ sharers: a member of the owning group manages the share; removal needs no SELECT
    bob.shares.update(share, updates=_update(Action.REMOVE, "sales.gold.weekly"))
    with pytest.raises(PermissionDenied, match="SELECT on Table 'sales.gold.weekly'"):
        bob.shares.update(share, updates=_update(Action.ADD, "sales.gold.weekly"))
    _grant(admin, "table", "sales.gold.weekly", world.names["sharers"], Privilege.SELECT)
    bob.shares.update(share, updates=_update(Action.ADD, "sales.gold.weekly"))
    _revoke(admin, "table", "sales.gold.weekly", world.names["sharers"], Privilege.SELECT)
    with pytest.raises(PermissionDenied):  # alice no longer owns it
        alice.shares.update(share, updates=_update(Action.REMOVE, "sales.gold.weekly"))
    assert _objects(admin, share) == ["sales.gold.daily", "sales.gold.weekly"]


def _sql(w: WorkspaceClient, statement: str, expect: StatementState) -> str:
    answer = w.statement_execution.execute_statement(
        statement=statement, warehouse_id="local", wait_timeout="30s"
    )
    assert answer.status.state == expect, (statement, answer.status)
    return answer.status.error.message if answer.status.error else ""


def test_alter_share_through_sql_is_checked_the_same_way(world: World):
    admin, alice, bob, share = world.admin, world.clients["alice"], world.clients["bob"], world.share
    admin.schemas.create(name="raw", catalog_name="sales")
    body = {"catalog_name": "sales", "schema_name": "raw", "name": "orders", "table_type": "MANAGED"}
    body["columns"] = [{"name": "id", "type_name": "LONG", "type_text": "bigint", "position": 0}]
    admin.api_client.do("POST", "/api/2.1/unity-catalog/tables", body=body)
    # alice no longer owns the share; bob's group does, with the path open but no SELECT on the new table
    message = _sql(alice, f"ALTER SHARE {share} ADD TABLE sales.raw.orders", StatementState.FAILED)
    assert "[INSUFFICIENT_PERMISSIONS]" in message and f"MANAGE on Share '{share}'" in message
    message = _sql(bob, f"ALTER SHARE {share} ADD TABLE sales.raw.orders", StatementState.FAILED)
    assert "[INSUFFICIENT_PERMISSIONS]" in message and "SELECT on Table 'sales.raw.orders'" in message
    _grant(admin, "table", "sales.raw.orders", world.names["sharers"], Privilege.SELECT)
    _sql(bob, f"ALTER SHARE {share} ADD TABLE sales.raw.orders", StatementState.SUCCEEDED)
    _sql(bob, f"ALTER SHARE {share} REMOVE TABLE sales.raw.orders", StatementState.SUCCEEDED)
    assert "sales.raw.orders" not in _objects(admin, share)


def test_refusals_are_audited(world: World):
    rows = world.admin.api_client.do(
        "GET", "/api/2.0/local/audit", query={"action_name": "updateShare", "status_code": 403}
    )["rows"]
    who = {r["user_identity"]["email"] for r in rows}
    assert {world.names["alice"], world.names["bob"]} <= who
    assert all(r["request_params"]["name_arg"] == world.share for r in rows)
    assert all(r["response"]["error_message"].startswith("User does not have") for r in rows)
    allowed = world.admin.api_client.do(
        "GET", "/api/2.0/local/audit", query={"action_name": "updateShare", "status_code": 200}
    )["rows"]
    assert {world.names["bob"]} <= {r["user_identity"]["email"] for r in allowed}
