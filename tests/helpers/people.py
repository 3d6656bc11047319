"""The cast the access tests share in an in-process workspace stand-in: users with tokens of their own, and
bob in a group nested in another (a grant or ACL to the outer group must reach him), plus the audit log,
the stand-in started to sign what it vends, and the world a test module's fixture yields.

On Databricks a user signs in; here the stand-in's control plane (``/api/2.0/local/tokens``) hands a token
out for a principal, which the test then uses through an unmodified databricks-sdk client.
"""

from __future__ import annotations

import base64
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.iam import ComplexValue

from emulators.workspace.testing import InProcessWorkspace


@dataclass
class People:
    #: key (alice, bob, carol, and the inner and outer groups' keys) → principal name
    names: dict[str, str]
    #: key → SCIM id
    ids: dict[str, str]
    #: key → a client signed in as that user
    clients: dict[str, WorkspaceClient]


def token_for(ws: InProcessWorkspace, principal: str) -> str:
    """A principal's token from the stand-in's control plane (on Databricks a user signs in)."""
    answer = ws.client().api_client.do("POST", "/api/2.0/local/tokens", body={"principal": principal})
    return answer["token_value"]


def make_people(ws: InProcessWorkspace, outer: str, inner: str = "juniors") -> People:
    """alice, bob and carol (unique names), and bob ∈ ``inner`` ∈ ``outer`` (``names[outer]`` and
    ``names[inner]`` are the groups' names)."""
    admin = ws.client()
    suffix = uuid.uuid4().hex[:6]
    names = {k: f"{k}-{suffix}@example.com" for k in ("alice", "bob", "carol")}
    ids = {k: admin.users.create(user_name=v).id for k, v in names.items()}
    inner_group = admin.groups.create(
        display_name=f"{inner}-{suffix}", members=[ComplexValue(value=ids["bob"])]
    )
    outer_group = admin.groups.create(
        display_name=f"{outer}-{suffix}", members=[ComplexValue(value=inner_group.id)]
    )
    names[inner], ids[inner] = inner_group.display_name, inner_group.id
    names[outer], ids[outer] = outer_group.display_name, outer_group.id
    clients = {k: ws.client(token_for(ws, names[k])) for k in ("alice", "bob", "carol")}
    return People(names, ids, clients)


def audit_rows(admin: WorkspaceClient, **query: str) -> list[dict]:
    """Rows of the stand-in's audit log (``system.access.audit``), filtered by column values."""
    return admin.api_client.do("GET", "/api/2.0/local/audit", query=query)["rows"]


def signing_workspace(folder: Path, account: str = "devstoreaccount1") -> InProcessWorkspace:
    """The stand-in started with a storage account key, so that it vends signed SAS tokens (temporary table
    and path credentials); any key does: the SAS is signed, never used against storage here."""
    key = base64.b64encode(os.urandom(64)).decode()
    return InProcessWorkspace(
        folder,
        storage_connection_string=f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key}",
    ).start()


@dataclass
class AccessWorld:
    """What an access test module's fixture yields: the started stand-in, its admin client, and the cast's
    clients and names; a test file's own ``World`` adds its fields and helpers."""

    ws: InProcessWorkspace
    admin: WorkspaceClient
    clients: dict[str, WorkspaceClient]
    names: dict[str, str]

    def audit(self, **query: str) -> list[dict]:
        return audit_rows(self.admin, **query)
