"""List containers and blobs cheaply: plain HTTP with an account SAS, parsed with ElementTree.

Why not ``ContainerClient.list_blobs``: the system topic lists every watched container five times a second,
and the SDK's XML deserialisation costs about 0.17 ms a blob — 1,000 blobs took ≈ 210 ms a listing here,
against ≈ 60 ms for the same request parsed with ElementTree (most of which is Azurite's own time). The
SDK still makes the SAS, the blob URLs and every other call. Without an account key in the connection
string (a SAS connection string), the SDK listing is used instead.
"""

from __future__ import annotations

import datetime as dt
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import quote, unquote

import requests
from azure.storage.blob import AccountSasPermissions, BlobServiceClient, ResourceTypes, generate_account_sas

SAS_LIFETIME = dt.timedelta(hours=24)


class ListingError(Exception):
    """Storage answered a listing with an error (other than a missing container)."""


@dataclass(frozen=True)
class ListedBlob:
    name: str
    etag: str
    size: int
    content_type: str
    blob_type: str
    created: str
    copy_id: str | None


class BlobLister:
    def __init__(self, service: BlobServiceClient) -> None:
        self.service = service
        self.base = service.url.split("?", 1)[0].rstrip("/")
        credential = service.credential
        self._key = getattr(credential, "account_key", None)
        self._sas = ""
        self._sas_renew_at = 0.0
        self._http = requests.Session()

    def _token(self) -> str:
        if time.time() >= self._sas_renew_at:
            self._sas = generate_account_sas(
                self.service.account_name,
                self._key,
                ResourceTypes(service=True, container=True, object=True),
                AccountSasPermissions(read=True, list=True),
                expiry=dt.datetime.now(dt.UTC) + SAS_LIFETIME,
            )
            self._sas_renew_at = time.time() + SAS_LIFETIME.total_seconds() / 2
        return self._sas

    def _pages(self, url: str, item: str) -> list[ET.Element]:
        items: list[ET.Element] = []
        marker = ""
        while True:
            answer = self._http.get(f"{url}&marker={marker}&{self._token()}", timeout=30)
            if answer.status_code == 404:
                raise FileNotFoundError(url)
            if answer.status_code != 200:
                raise ListingError(f"listing {url} answered {answer.status_code}: {answer.text[:200]}")
            root = ET.fromstring(answer.content)
            items += root.iter(item)
            marker = root.findtext("NextMarker") or ""
            if not marker:
                return items

    def containers(self) -> list[str]:
        if self._key is None:
            return [c.name for c in self.service.list_containers()]
        return [c.findtext("Name") or "" for c in self._pages(f"{self.base}/?comp=list", "Container")]

    def blobs(self, container: str) -> list[ListedBlob] | None:
        """The container's blobs, or None when the container does not exist."""
        if self._key is None:
            return self._sdk_blobs(container)
        try:
            elements = self._pages(
                f"{self.base}/{container}?restype=container&comp=list&include=copy", "Blob"
            )
        except FileNotFoundError:
            return None
        return [self._parse(e) for e in elements]

    def has_committed_blocks(self, container: str, name: str) -> bool | None:
        """Whether a block blob has committed blocks (Put Block List) or none (Put Blob); None when it is
        gone. Plain HTTP like the listings: this runs for every new blob on the way to its BlobCreated, and
        the SDK's Get Block List cost ≈ 2 ms more a call here (6.3 against 4.4 ms, loaded machine)."""
        if self._key is None:
            from azure.core.exceptions import ResourceNotFoundError

            try:
                committed, _ = self.service.get_blob_client(container, name).get_block_list("committed")
            except ResourceNotFoundError:
                return None
            return bool(committed)
        path = quote(f"{container}/{name}", safe="/")
        answer = self._http.get(
            f"{self.base}/{path}?comp=blocklist&blocklisttype=committed&{self._token()}", timeout=30
        )
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise ListingError(f"block list of {container}/{name} answered {answer.status_code}")
        blocks = ET.fromstring(answer.content).find("CommittedBlocks")
        return blocks is not None and len(blocks) > 0

    @staticmethod
    def _parse(element: ET.Element) -> ListedBlob:
        name_element = element.find("Name")
        name = (name_element.text or "") if name_element is not None else ""
        if name_element is not None and name_element.get("Encoded") == "true":
            name = unquote(name)
        props = element.find("Properties")
        text = props.findtext if props is not None else (lambda tag, default=None: default)
        return ListedBlob(
            name=name,
            etag=(text("Etag") or "").strip('"'),
            size=int(text("Content-Length") or 0),
            content_type=text("Content-Type") or "application/octet-stream",
            blob_type=text("BlobType") or "BlockBlob",
            created=text("Creation-Time") or "",
            copy_id=text("CopyId") or None,
        )

    def _sdk_blobs(self, container: str) -> list[ListedBlob] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            listing = list(self.service.get_container_client(container).list_blobs(include=["copy"]))
        except ResourceNotFoundError:
            return None
        return [
            ListedBlob(
                name=b.name,
                etag=b.etag.strip('"'),
                size=b.size,
                content_type=b.content_settings.content_type or "application/octet-stream",
                blob_type=str(getattr(b.blob_type, "value", b.blob_type)),
                created=str(b.creation_time),
                copy_id=b.copy.id if b.copy is not None else None,
            )
            for b in listing
        ]

    def close(self) -> None:
        self._http.close()
