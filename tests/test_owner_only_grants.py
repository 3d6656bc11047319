"""The two external-use privileges are granted by owners only (issue 16; ``Privileges.owner_only_reason``):
``EXTERNAL_USE_LOCATION`` by the external location's owner, ``EXTERNAL_USE_SCHEMA`` by the owner of the
schema's catalog — a ``MANAGE`` holder, or the owner of the schema, is refused 403 ``PERMISSION_DENIED``
(databricks-sdk ``PermissionDenied``) and the refusal is an audit row; other privileges it may still grant.
Through databricks-sdk's ``w.grants.update`` against the workspace stand-in, unmodified."""

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
from databricks.sdk.service.catalog import AzureManagedIdentityRequest, PermissionsChange, Privilege

from emulators.workspace.local_answers import SqlStatementError
from emulators.workspace.testing import InProcessWorkspace
from tests.helpers.people import People, audit_rows, make_people

P = Privilege
ACCOUNT = "devstoreaccount1"
CONNECTOR = "/subscriptions/0/resourceGroups/local/providers/Microsoft.Databricks/accessConnectors/local"


@dataclass
class World:
    ws: InProcessWorkspace
    admin: WorkspaceClient
    people: People
    location: str
    catalog: str


def _grant(
    w: WorkspaceClient, kind: str, name: str, principal: str, *privileges: Privilege, how: str = "add"
):
    w.grants.update(kind, name, changes=[PermissionsChange(principal=principal, **{how: list(privileges)})])


def _direct(w: WorkspaceClient, kind: str, name: str, principal: str) -> set[str]:
    listing = w.grants.get(kind, name, principal=principal).privilege_assignments or []
    return {p.value for a in listing for p in a.privileges or []}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    key = base64.b64encode(os.urandom(64)).decode()  # any key: no SAS is used here
    ws = InProcessWorkspace(
        Path(tmp_path_factory.mktemp("owner-only")),
        storage_connection_string=f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key}",
    ).start()
    admin = ws.client()
    people = make_people(ws, "stewards")
    names = people.names
    suffix = uuid.uuid4().hex[:6]
    location, catalog = f"zone_{suffix}", f"c_{suffix}"
    admin.storage_credentials.create(
        f"cred_{suffix}", azure_managed_identity=AzureManagedIdentityRequest(access_connector_id=CONNECTOR)
    )
    admin.external_locations.create(
        location, f"abfss://zone{suffix}@{ACCOUNT}.dfs.core.windows.net/", f"cred_{suffix}"
    )
    admin.external_locations.update(location, owner=names["alice"])  # alice owns the location
    _grant(admin, "external_location", location, names["bob"], P.MANAGE)  # bob manages it
    admin.catalogs.create(name=catalog)
    admin.catalogs.update(catalog, owner=names["alice"])  # alice owns the catalog
    admin.schemas.create(name="s", catalog_name=catalog)
    admin.schemas.update(f"{catalog}.s", owner=names["bob"])  # bob owns the schema
    _grant(admin, "catalog", catalog, names["carol"], P.MANAGE)  # carol manages the catalog
    try:
        yield World(ws, admin, people, location, catalog)
    finally:
        ws.stop()


def test_a_manage_holder_grants_other_privileges_but_not_external_use_location(world: World) -> None:
    bob, names = world.people.clients["bob"], world.people.names
    _grant(bob, "external_location", world.location, names["carol"], P.READ_FILES)  # MANAGE suffices here
    assert _direct(world.admin, "external_location", world.location, names["carol"]) == {"READ_FILES"}

    with pytest.raises(PermissionDenied, match="ownership of External Location"):
        _grant(bob, "external_location", world.location, names["carol"], P.EXTERNAL_USE_LOCATION)
    assert _direct(world.admin, "external_location", world.location, names["carol"]) == {"READ_FILES"}
    refused = [
        r
        for r in audit_rows(world.admin, action_name="updatePermissions")
        if r["user_identity"]["email"] == names["bob"] and r["response"]["status_code"] == 403
    ]
    assert refused and "EXTERNAL_USE_LOCATION" in refused[-1]["request_params"]["changes"]


def test_the_location_owner_grants_external_use_location_and_only_it_revokes(world: World) -> None:
    alice, bob, names = world.people.clients["alice"], world.people.clients["bob"], world.people.names
    _grant(alice, "external_location", world.location, names["stewards"], P.EXTERNAL_USE_LOCATION)
    assert "EXTERNAL_USE_LOCATION" in _direct(
        world.admin, "external_location", world.location, names["stewards"]
    )
    with pytest.raises(PermissionDenied):
        _grant(
            bob, "external_location", world.location, names["stewards"], P.EXTERNAL_USE_LOCATION, how="remove"
        )
    _grant(
        world.admin,
        "external_location",
        world.location,
        names["stewards"],
        P.EXTERNAL_USE_LOCATION,
        how="remove",
    )
    assert _direct(world.admin, "external_location", world.location, names["stewards"]) == set()


def test_external_use_schema_is_granted_by_the_catalog_owner_only(world: World) -> None:
    clients, names = world.people.clients, world.people.names
    schema = f"{world.catalog}.s"
    # bob owns the schema, carol holds MANAGE on the catalog: neither may give EXTERNAL USE SCHEMA
    for who in ("bob", "carol"):
        with pytest.raises(PermissionDenied, match=f"ownership of Catalog '{world.catalog}'"):
            _grant(clients[who], "schema", schema, names["stewards"], P.EXTERNAL_USE_SCHEMA)
    with pytest.raises(PermissionDenied):
        _grant(clients["carol"], "catalog", world.catalog, names["stewards"], P.EXTERNAL_USE_SCHEMA)
    _grant(clients["bob"], "schema", schema, names["stewards"], P.USE_SCHEMA)  # the owner grants the rest
    _grant(clients["alice"], "schema", schema, names["stewards"], P.EXTERNAL_USE_SCHEMA)
    assert _direct(world.admin, "schema", schema, names["stewards"]) == {"USE_SCHEMA", "EXTERNAL_USE_SCHEMA"}


def test_sql_grant_follows_the_same_rule(world: World) -> None:
    """``GRANT … ON EXTERNAL LOCATION`` as the SQL statements' local answer decides it (the in-process
    workspace has no SQL engine; the statement is handed to the same ``grants_sql`` answer a statement
    reaches): the same rule, Databricks' SQL error."""
    names = world.people.names
    grants_sql = world.ws.app.extensions["workspace"].grants_sql
    statement = f"GRANT EXTERNAL USE LOCATION ON EXTERNAL LOCATION {world.location} TO `{names['carol']}`"

    def run(who: str):
        record = {"created_by": names[who], "statement_id": str(uuid.uuid4()), "statement": statement}
        return grants_sql.answer(record, lambda: (None, None))

    with pytest.raises(SqlStatementError, match="ownership of External Location") as refused:
        run("bob")
    assert refused.value.message.startswith("[PERMISSION_DENIED] User does not have ownership of External")
    assert refused.value.sql_state == "42501"
    assert "EXTERNAL_USE_LOCATION" not in _direct(
        world.admin, "external_location", world.location, names["carol"]
    )
    run("alice")
    assert "EXTERNAL_USE_LOCATION" in _direct(
        world.admin, "external_location", world.location, names["carol"]
    )
