"""Write undeliverable events to the dead-letter container in Azurite, named and shaped as Azure does.

Blob name: ``<SUBSCRIPTION-NAME in upper case>/<year>/<month>/<day>/<hour>/<guid>.json`` with the UTC date
and hour not zero-padded (Azure's documented example: ``MY-BLOB-SUBSCRIPTION/2019/8/8/5/….json``); content: a
JSON array of the events, each with Azure's dead-letter properties added.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from azure.storage.blob import BlobServiceClient, ContentSettings


def blob_name(subscription: str, moment: dt.datetime) -> str:
    t = moment.astimezone(dt.UTC)
    return f"{subscription.upper()}/{t.year}/{t.month}/{t.day}/{t.hour}/{uuid.uuid4()}.json"


class DeadLetterWriter:
    def __init__(self, connection_string: str) -> None:
        self.service = BlobServiceClient.from_connection_string(connection_string)

    def write(self, container: str, subscription: str, documents: list[dict[str, Any]]) -> str:
        """Upload one blob; raises the storage error if the container is missing or refuses it."""
        name = blob_name(subscription, dt.datetime.now(dt.UTC))
        self.service.get_blob_client(container, name).upload_blob(
            json.dumps(documents).encode(),
            content_settings=ContentSettings(content_type="application/json"),
        )
        return name
