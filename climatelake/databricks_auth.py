"""How the product's apps sign in to Databricks: the SDK's own chain, or an Azure managed identity.

On Azure the gateway (Container Apps) and the function app each run with a user-assigned managed identity
that the deploy adds to the workspace as a service principal (its client ID is the principal's application
ID; ``climatelake deploy --target azure``), so each app is its own principal in Unity Catalog's grants and
no Databricks token sits in Key Vault. Locally, and for the CLI, the SDK's chain applies unchanged
(``DATABRICKS_HOST`` + ``DATABRICKS_TOKEN``: the local stack gives each app its principal's token).

The variables are Databricks' documented ones for managed-identity sign-in (``DATABRICKS_HOST``,
``ARM_CLIENT_ID``, ``ARM_USE_MSI=true``; learn.microsoft.com/azure/databricks/dev-tools/auth/azure-mi),
which the Go SDK, the CLI and Terraform implement as ``azure-msi``. databricks-sdk for Python reads
``ARM_USE_MSI`` but implements no strategy for it (databricks/databricks-sdk-py#164, open), so
:class:`ManagedIdentityStrategy` does what that issue suggests: azure-identity's
``ManagedIdentityCredential`` gets the identity's Microsoft Entra ID token for the Azure Databricks resource
(application ID ``2ff814a6-3304-4ab8-85cb-cd0e6f879c1d``) and each request carries it as a bearer token.
azure-identity caches the token and renews it before it expires.

Choice: the workspace's URL is named (``DATABRICKS_HOST``) and the identity is added to the workspace
explicitly, as that page recommends, rather than ``DATABRICKS_AZURE_RESOURCE_ID`` with an Azure role on the
workspace (which would make the app a workspace admin on first sign-in).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk.credentials_provider import CredentialsProvider, CredentialsStrategy

#: the Azure Databricks first-party application: the resource its Entra ID tokens are for
AZURE_DATABRICKS_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"
#: what an app on Azure is given (infra/modules/containerapp.bicep, functionapp.bicep), besides the host
MANAGED_IDENTITY_VARIABLES = ("ARM_USE_MSI", "ARM_CLIENT_ID")


class ManagedIdentityStrategy(CredentialsStrategy):
    """Bearer tokens of a (user-assigned) managed identity, for databricks-sdk's ``credentials_strategy``."""

    def __init__(self, client_id: str, credential: Any | None = None) -> None:
        if credential is None:
            from azure.identity import ManagedIdentityCredential

            credential = ManagedIdentityCredential(client_id=client_id)
        self.client_id = client_id
        self._credential = credential

    def auth_type(self) -> str:
        return "azure-msi"  # the name the Go SDK and the CLI give it

    def __call__(self, cfg: Any) -> CredentialsProvider:
        def headers() -> dict[str, str]:
            return {"Authorization": f"Bearer {self._credential.get_token(AZURE_DATABRICKS_SCOPE).token}"}

        return headers


def uses_managed_identity(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return (env.get("ARM_USE_MSI") or "").strip().lower() in ("1", "true", "yes")


def workspace_client(environ: Mapping[str, str] | None = None) -> WorkspaceClient:
    """The app's client: with ``ARM_USE_MSI=true`` its managed identity (``ARM_CLIENT_ID``) at
    ``DATABRICKS_HOST``; otherwise the SDK's configuration chain."""
    env = os.environ if environ is None else environ
    if not uses_managed_identity(env):
        return WorkspaceClient()
    host, client_id = (env.get("DATABRICKS_HOST") or "").strip(), (env.get("ARM_CLIENT_ID") or "").strip()
    missing = [name for name, value in (("DATABRICKS_HOST", host), ("ARM_CLIENT_ID", client_id)) if not value]
    if missing:
        raise ValueError(
            f"ARM_USE_MSI=true needs {' and '.join(missing)} (the workspace URL, the identity's client ID)"
        )
    if env.get("DATABRICKS_TOKEN"):
        raise ValueError("ARM_USE_MSI=true and DATABRICKS_TOKEN are both set: choose one way to sign in")
    return WorkspaceClient(host=host, credentials_strategy=ManagedIdentityStrategy(client_id))
