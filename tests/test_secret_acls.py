"""Secret scope ACLs in the workspace stand-in, through databricks-sdk unchanged (issue 16): READ < WRITE <
MANAGE, the creator's MANAGE, workspace admins, ACLs of (nested) groups, overwrite and delete taking effect on
the next call, and the audit rows of every call (service ``secrets``) without any secret value."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, NotFound, PermissionDenied
from databricks.sdk.service.workspace import AclItem, AclPermission

from emulators.workspace.testing import PRINCIPAL, InProcessWorkspace
from tests.helpers.people import AccessWorld as World
from tests.helpers.people import make_people

VALUE = "s3cr3t-" + uuid.uuid4().hex  # must never appear in the audit log


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    ws = InProcessWorkspace(Path(tmp_path_factory.mktemp("secret-acls"))).start()
    admin = ws.client()
    # bob ∈ juniors ∈ readers: a group's ACL applies to the members of its member groups
    people = make_people(ws, outer="readers")
    admin.secrets.create_scope(scope="team")
    admin.secrets.put_secret(scope="team", key="db-password", string_value=VALUE)
    yield World(ws, admin, people.clients, people.names)
    ws.stop()


def _acls(w: WorkspaceClient, scope: str) -> dict[str, AclPermission]:
    return {a.principal: a.permission for a in w.secrets.list_acls(scope)}


def test_the_creator_manages_and_others_have_nothing(world: World):
    assert _acls(world.admin, "team") == {PRINCIPAL: AclPermission.MANAGE}
    alice = world.clients["alice"]
    with pytest.raises(PermissionDenied, match="does not have READ permission on scope team"):
        alice.secrets.get_secret("team", "db-password")
    with pytest.raises(PermissionDenied):
        list(alice.secrets.list_secrets("team"))
    with pytest.raises(PermissionDenied, match="WRITE"):
        alice.secrets.put_secret(scope="team", key="x", string_value="y")
    with pytest.raises(PermissionDenied, match="MANAGE"):
        list(alice.secrets.list_acls("team"))
    with pytest.raises(PermissionDenied):
        alice.secrets.delete_scope("team")
    # every scope is listed to everyone (as on Databricks); a missing scope is 404 before any check
    assert "team" in {s.name for s in alice.secrets.list_scopes()}
    with pytest.raises(NotFound):
        alice.secrets.get_secret("no-such-scope", "k")


def test_a_group_acl_reaches_nested_members_and_levels_are_ordered(world: World):
    admin, bob = world.admin, world.clients["bob"]
    admin.secrets.put_acl("team", world.names["readers"], AclPermission.READ)
    assert admin.secrets.get_acl("team", world.names["readers"]) == AclItem(
        principal=world.names["readers"], permission=AclPermission.READ
    )
    got = bob.secrets.get_secret("team", "db-password")
    assert base64.b64decode(got.value).decode() == VALUE
    assert [s.key for s in bob.secrets.list_secrets("team")] == ["db-password"]
    with pytest.raises(PermissionDenied, match="WRITE"):
        bob.secrets.put_secret(scope="team", key="db-password", string_value="overwritten")
    with pytest.raises(PermissionDenied, match="MANAGE"):
        bob.secrets.put_acl("team", world.names["bob"], AclPermission.MANAGE)
    # deleting the group's ACL takes effect on the next call
    admin.secrets.delete_acl("team", world.names["readers"])
    with pytest.raises(PermissionDenied):
        bob.secrets.get_secret("team", "db-password")
    with pytest.raises(NotFound):
        admin.secrets.get_acl("team", world.names["readers"])


def test_write_then_manage_by_overwriting_the_acl(world: World):
    admin, alice, carol = world.admin, world.clients["alice"], world.clients["carol"]
    admin.secrets.put_acl("team", world.names["alice"], AclPermission.WRITE)
    alice.secrets.put_secret(scope="team", key="api-key", string_value="k1")
    assert base64.b64decode(alice.secrets.get_secret("team", "api-key").value) == b"k1"  # WRITE ⊇ READ
    alice.secrets.delete_secret("team", "api-key")
    with pytest.raises(PermissionDenied, match="MANAGE"):
        alice.secrets.put_acl("team", world.names["carol"], AclPermission.READ)
    admin.secrets.put_acl("team", world.names["alice"], AclPermission.MANAGE)  # overwrites WRITE
    alice.secrets.put_acl("team", world.names["carol"], AclPermission.READ)
    assert _acls(alice, "team") == {
        PRINCIPAL: AclPermission.MANAGE,
        world.names["alice"]: AclPermission.MANAGE,
        world.names["carol"]: AclPermission.READ,
    }
    assert carol.secrets.get_secret("team", "db-password").key == "db-password"
    alice.secrets.delete_acl("team", world.names["carol"])
    with pytest.raises(PermissionDenied):
        carol.secrets.get_secret("team", "db-password")
    with pytest.raises(BadRequest):  # InvalidParameterValue: no such principal
        alice.secrets.put_acl("team", "nobody@example.com", AclPermission.READ)
    admin.secrets.delete_acl("team", world.names["alice"])


def test_a_non_admin_creator_manages_its_scope(world: World):
    carol, alice = world.clients["carol"], world.clients["alice"]
    carol.secrets.create_scope(scope="carols")
    assert _acls(carol, "carols") == {world.names["carol"]: AclPermission.MANAGE}
    carol.secrets.put_secret(scope="carols", key="k", string_value="v")
    with pytest.raises(PermissionDenied):
        alice.secrets.get_secret("carols", "k")
    assert world.admin.secrets.get_secret("carols", "k").key == "k"  # workspace admins MANAGE every scope
    with pytest.raises(PermissionDenied):
        alice.secrets.delete_scope("carols")
    carol.secrets.delete_scope("carols")
    # initial_manage_principal "users": every user manages the new scope
    carol.secrets.create_scope(scope="shared", initial_manage_principal="users")
    alice.secrets.put_secret(scope="shared", key="k", string_value="v")
    alice.secrets.delete_scope("shared")
    # a recreated scope starts with its new creator's ACL only
    alice.secrets.create_scope(scope="shared")
    assert _acls(alice, "shared") == {world.names["alice"]: AclPermission.MANAGE}
    alice.secrets.delete_scope("shared")


def test_audit_rows_of_secrets_calls_without_values(world: World):
    bob = world.clients["bob"]
    request_id = uuid.uuid4().hex
    with pytest.raises(PermissionDenied):
        bob.api_client.do(
            "GET",
            "/api/2.0/secrets/get",
            query={"scope": "team", "key": "db-password"},
            headers={"X-Request-Id": request_id},
        )
    rows = world.audit(service_name="secrets")
    denied = [r for r in rows if r["request_id"] == request_id]
    assert len(denied) == 1
    row = denied[0]
    assert row["action_name"] == "getSecret"
    assert row["user_identity"]["email"] == world.names["bob"]
    assert row["request_params"] == {"scope": "team", "key": "db-password"}
    assert row["response"]["status_code"] == 403
    assert "READ permission on scope team" in row["response"]["error_message"]
    actions = {r["action_name"] for r in rows}
    assert {"createScope", "putSecret", "getSecret", "listSecrets", "putAcl", "getAcl", "listAcls"} <= actions
    assert {"deleteAcl", "deleteSecret", "deleteScope"} <= actions
    allowed_reads = [
        r for r in rows if r["action_name"] == "getSecret" and r["response"]["status_code"] == 200
    ]
    assert {r["user_identity"]["email"] for r in allowed_reads} >= {world.names["bob"], world.names["carol"]}
    put_acl = next(r for r in rows if r["action_name"] == "putAcl" and r["response"]["status_code"] == 200)
    assert put_acl["request_params"]["permission"] in ("READ", "WRITE", "MANAGE")
    everything = json.dumps(world.audit())
    assert VALUE not in everything and base64.b64encode(VALUE.encode()).decode() not in everything
