"""The metastore and its external data access (issue 16; ``metastore.py``), through databricks-sdk's
``w.metastores`` and ``w.temporary_path_credentials`` against the workspace stand-in: off by default, as on
Databricks, so no path credential is vended — to anyone, admins too — until a metastore admin turns it on;
the deploy's step (``bundle_access.ensure_external_access``) turns it on once, or tells a deployer who is
not an admin what to do."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, PermissionDenied
from databricks.sdk.service.catalog import (
    AzureManagedIdentityRequest,
    PathOperation,
    PermissionsChange,
    Privilege,
)

from climatelake import bundle_access
from emulators.workspace.testing import InProcessWorkspace
from tests.helpers.people import People, audit_rows, make_people

ACCOUNT = "devstoreaccount1"
ZONE = f"abfss://landing@{ACCOUNT}.dfs.core.windows.net/zone"
CONNECTOR = "/subscriptions/0/resourceGroups/local/providers/Microsoft.Databricks/accessConnectors/local"


@pytest.fixture()
def workspace(tmp_path: Path) -> Iterator[tuple[InProcessWorkspace, People]]:
    key = base64.b64encode(os.urandom(64)).decode()  # any key: the SAS is signed, never used here
    ws = InProcessWorkspace(
        tmp_path,
        storage_connection_string=f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key}",
    ).start()
    admin = ws.client()
    people = make_people(ws, "readers")
    admin.storage_credentials.create(
        "cred", azure_managed_identity=AzureManagedIdentityRequest(access_connector_id=CONNECTOR)
    )
    admin.external_locations.create("landing", ZONE, "cred")
    change = PermissionsChange(
        principal=people.names["alice"], add=[Privilege.EXTERNAL_USE_LOCATION, Privilege.READ_FILES]
    )
    admin.grants.update("external_location", "landing", changes=[change])
    try:
        yield ws, people
    finally:
        ws.stop()


def _read(w: WorkspaceClient):
    return w.temporary_path_credentials.generate_temporary_path_credentials(
        url=f"{ZONE}/files", operation=PathOperation.PATH_READ
    )


def test_the_metastore_is_answered_as_databricks_shapes_it(workspace) -> None:
    ws, people = workspace
    admin = ws.client()
    assignment = admin.metastores.current()
    summary = admin.metastores.summary()
    info = admin.metastores.get(assignment.metastore_id)
    assert summary.metastore_id == info.metastore_id == assignment.metastore_id
    assert info.external_access_enabled is False  # Databricks' default
    assert info.privilege_model_version == "1.0" and info.storage_root
    # the Delta Sharing server names the same metastore in its endpoint
    assert assignment.metastore_id in ws.app.extensions["workspace"].sharing.endpoint
    with pytest.raises(PermissionDenied):  # only a metastore admin changes it
        people.clients["alice"].metastores.update(assignment.metastore_id, external_access_enabled=True)
    with pytest.raises(InvalidParameterValue):
        admin.metastores.update(assignment.metastore_id, new_name="elsewhere")
    assert admin.metastores.get(assignment.metastore_id).external_access_enabled is False


def test_no_path_credential_until_external_access_is_enabled(workspace) -> None:
    ws, people = workspace
    admin, alice = ws.client(), people.clients["alice"]
    for w in (alice, admin):  # admins too: the setting is the metastore's, not a privilege
        with pytest.raises(PermissionDenied, match="External Data Access is disabled for metastore"):
            _read(w)
    refused = audit_rows(admin, action_name="generateTemporaryPathCredential")
    assert [r["response"]["status_code"] for r in refused] == [403, 403]

    metastore_id = admin.metastores.current().metastore_id
    assert admin.metastores.update(metastore_id, external_access_enabled=True).external_access_enabled
    assert _read(alice).azure_user_delegation_sas.sas_token
    with pytest.raises(PermissionDenied):  # the privileges still decide: bob holds none
        _read(people.clients["bob"])


def test_the_deploy_step_turns_it_on_once_or_names_the_step(workspace) -> None:
    ws, people = workspace
    with pytest.raises(RuntimeError, match="only a metastore admin may turn it on"):
        bundle_access.ensure_external_access(people.clients["alice"])
    admin = ws.client()
    assert bundle_access.ensure_external_access(admin) == [
        "metastore climatelake-local: external data access enabled"
    ]
    assert bundle_access.ensure_external_access(admin) == []  # a second deploy writes nothing
    assert _read(people.clients["alice"]).azure_user_delegation_sas.sas_token
