"""Temporary credentials for a table's, volume's or path's storage: a short-lived SAS for Azure Storage.

Databricks (on Azure) answers ``temporary-*-credentials`` with a user delegation SAS. Azurite cannot issue
user delegation keys for a shared-key account, so the stand-in signs a *service* SAS for the location's
container with the account key from its storage connection string — the same ``sas_token`` field, usable
the same way by engines (polars, delta-rs, Sail). Deviation: the token covers the whole container, not only
the table's directory (directory-scoped SAS needs a hierarchical-namespace account).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from azure.storage.blob import ContainerSasPermissions, generate_container_sas

from emulators.workspace.errors import invalid, permission_denied

_ABFS = re.compile(r"^(abfss?|wasbs?)://(?P<container>[^@/]+)@(?P<account>[^./]+)\.[^/]+(?P<path>/.*)?$")
_AZ = re.compile(r"^(az|azure|adl)://(?P<container>[^/]+)(?P<path>/.*)?$")

#: operation → SAS permissions (read: read+list; write: also add, create, write, delete).
_PERMISSIONS = {
    "READ": "rl",
    "READ_VOLUME": "rl",
    "PATH_READ": "rl",
    "READ_WRITE": "racwdl",
    "WRITE_VOLUME": "racwdl",
    "PATH_READ_WRITE": "racwdl",
    "PATH_CREATE_TABLE": "racwdl",
}


@dataclass
class Location:
    account: str
    container: str
    path: str


def parse_location(url: str, default_account: str) -> Location:
    match = _ABFS.match(url) or _AZ.match(url)
    if not match:
        raise invalid(f"'{url}' is not an Azure Storage location (abfss://container@account.dfs…/path).")
    groups = match.groupdict()
    return Location(groups.get("account") or default_account, groups["container"], (groups["path"] or "/"))


class CredentialVendor:
    """Signs SAS tokens for locations in the storage account of ``connection_string``."""

    def __init__(self, connection_string: str, ttl_seconds: int = 3600) -> None:
        parts = dict(item.split("=", 1) for item in connection_string.split(";") if "=" in item)
        self.account = parts.get("AccountName", "")
        self.key = parts.get("AccountKey", "")
        self.ttl_seconds = ttl_seconds

    def vend(self, url: str, operation: str) -> dict[str, Any]:
        if not self.key:
            raise permission_denied("The local workspace has no storage credential to vend.")
        permission = _PERMISSIONS.get(str(operation or "").upper())
        if permission is None:
            raise invalid(f"Unsupported operation '{operation}'.")
        location = parse_location(url, self.account)
        if location.account != self.account:
            raise permission_denied(
                f"No storage credential covers '{url}' (only account '{self.account}' is configured)."
            )
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.ttl_seconds)
        token = generate_container_sas(
            account_name=self.account,
            container_name=location.container,
            account_key=self.key,
            permission=ContainerSasPermissions.from_string(permission),
            expiry=expiry,
            start=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
            protocol="https,http",
        )
        return {
            "azure_user_delegation_sas": {"sas_token": token},
            "expiration_time": int(expiry.timestamp() * 1000),
            "url": url,
        }
