"""What the Delta Sharing server reads from a shared table: a snapshot's files, and signed URLs to them.

Why its own reader: the protocol's parquet response format lists the data files of one version of a table
(protocol, metadata, then one ``file`` line each, with a short-lived pre-signed URL). EXTERNAL tables are
read from their ``_delta_log`` with delta-rs (checkpoints included). MANAGED tables are catalog-managed:
versions past the last one backfilled into ``_delta_log`` exist only as staged commits that the catalog
ratified (``_delta_log/_staged_commits/``, see ``catalog.py``), and delta-rs refuses to open a
catalog-managed table from Python; so their log is replayed here: the newest checkpoint at or before the
version, then each commit's JSON from ``_delta_log`` or, past the backfilled ones, from the staged commit.

URLs are blob service SAS URLs for exactly one data file, read-only, valid for ``url_ttl_seconds`` —
what Databricks hands recipients on Azure. ``DeltaTable.to_pyarrow_table`` is never called (it can abort
the process at exit); only the log is read here, never the data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

from emulators.workspace.credentials import parse_location
from emulators.workspace.errors import ApiError, invalid

#: catalog-managed commits of a MANAGED table: ``{"latest_table_version", "commits": [commit_info…]}``
CommitSource = Callable[[dict[str, Any]], dict[str, Any] | None]


@dataclass
class Snapshot:
    """One version of a Delta table as the sharing protocol needs it."""

    version: int
    min_reader_version: int
    reader_features: list[str]
    metadata: dict[str, Any]
    #: add actions: path (decoded, relative to the table root), size, partitionValues (strings), stats
    files: list[dict[str, Any]] = field(default_factory=list)
    #: whether a file has a deletion vector (rows the parquet response format cannot hide)
    deletion_vectors: bool = False


def storage_options(connection_string: str) -> dict[str, str]:
    """delta-rs options for the account of an Azure Storage connection string (as server.py builds them)."""
    parts = _parts(connection_string)
    options = {"account_name": parts.get("AccountName", ""), "account_key": parts.get("AccountKey", "")}
    if parts.get("BlobEndpoint", "").startswith("http://"):
        options.update(azure_storage_endpoint=parts["BlobEndpoint"].rstrip("/"), allow_http="true")
    return options


def _parts(connection_string: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in connection_string.split(";") if "=" in item)


def _partition_text(value: Any) -> str | None:
    """A partition value as the Delta log writes it (a string; null stays null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def parse_timestamp(text: str) -> int:
    """The protocol's timestamp (ISO 8601, e.g. ``2024-01-31T12:00:00Z``, or ``yyyy-mm-dd hh:mm:ss``) in
    epoch milliseconds; a time without a zone is UTC."""
    try:
        moment = dt.datetime.fromisoformat(str(text).strip().replace(" ", "T", 1))
    except ValueError:
        raise invalid(
            f"Invalid timestamp '{text}': expected ISO 8601 such as 2024-01-31T12:00:00Z."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


class DeltaFiles:
    """Reads table snapshots and signs file URLs for the storage account of ``connection_string``."""

    def __init__(self, connection_string: str, commits: CommitSource, url_ttl_seconds: int = 900) -> None:
        self.connection_string = connection_string
        parts = _parts(connection_string)
        self.account = parts.get("AccountName", "")
        self.key = parts.get("AccountKey", "")
        endpoint = parts.get("BlobEndpoint", "").rstrip("/")
        self.blob_endpoint = endpoint or f"https://{self.account}.blob.core.windows.net"
        self.options = storage_options(connection_string)
        self.commits = commits
        self.url_ttl_seconds = url_ttl_seconds
        self._blobs: BlobServiceClient | None = None
        self._lock = threading.Lock()

    # versions -----------------------------------------------------------------------------------
    def _open(self, table: dict[str, Any]):
        from deltalake import DeltaTable  # imported lazily: only sharing reads need it

        if not self.connection_string:
            raise ApiError(500, "INTERNAL_ERROR", "The local workspace has no storage to read shared data.")
        try:
            return DeltaTable(table["storage_location"], storage_options=self.options)
        except Exception as exc:
            raise ApiError(
                400, "INVALID_STATE", f"Table {table['full_name']} has no readable Delta log: {exc}"
            ) from None

    def _catalog_state(self, table: dict[str, Any]) -> tuple[int, dict[int, dict[str, Any]], _LogFiles]:
        """(latest version, staged commits by version, the log) of a MANAGED table: the catalog's latest
        version, or the log's when a writer committed there without the catalog (not catalog-managed)."""
        state = self.commits(table) or {}
        staged = {int(c["version"]): c for c in state.get("commits") or []}
        log = _LogFiles(self, table)
        latest = max([int(state.get("latest_table_version") or 0), *log.commits])
        return latest, staged, log

    def _managed(self, table: dict[str, Any]) -> bool:
        return table.get("table_type") == "MANAGED"

    def versions(self, table: dict[str, Any]) -> list[tuple[int, int]]:
        """(version, commit timestamp in ms) of every version, oldest first."""
        if not self._managed(table):
            delta = self._open(table)
            return sorted((h["version"], int(h.get("timestamp") or 0)) for h in delta.history())
        latest, staged, log = self._catalog_state(table)
        known = {}
        for version in range(latest + 1):
            if version in staged:
                known[version] = int(staged[version].get("timestamp") or 0)
            elif version in log.commits:
                known[version] = log.commit_timestamp(version)
        return sorted(known.items())

    def latest_version(self, table: dict[str, Any]) -> int:
        if self._managed(table):
            return self._catalog_state(table)[0]
        return self._open(table).version()

    def version_at(self, table: dict[str, Any], timestamp: str, at_or_after: bool = False) -> int:
        """The version current at ``timestamp`` (the last committed at or before it), or with
        ``at_or_after`` the earliest committed at or after it (the protocol's ``startingTimestamp``)."""
        moment = parse_timestamp(timestamp)
        versions = self.versions(table)
        if at_or_after:
            later = [v for v, ts in versions if ts >= moment]
            if not later:
                raise invalid(f"The timestamp {timestamp} is after the latest version of the table.")
            return later[0]
        earlier = [v for v, ts in versions if ts <= moment]
        if not earlier:
            raise invalid(f"The timestamp {timestamp} is before the earliest version of the table.")
        return earlier[-1]

    # snapshots ----------------------------------------------------------------------------------
    def snapshot(self, table: dict[str, Any], version: int | None = None) -> Snapshot:
        if self._managed(table):
            latest, staged, log = self._catalog_state(table)
            return log.replay(self._target(version, latest), staged)
        delta = self._open(table)
        latest = delta.version()
        target = self._target(version, latest)
        if target != latest:
            try:
                delta.load_as_version(target)
            except Exception as exc:
                raise invalid(f"Version {target} of the table cannot be read: {exc}") from None
        return self._from_delta_rs(delta, target)

    @staticmethod
    def _target(version: int | None, latest: int) -> int:
        target = latest if version is None else int(version)
        if target < 0 or target > latest:
            raise invalid(f"Cannot read version {target} of the table: its latest version is {latest}.")
        return target

    @staticmethod
    def _from_delta_rs(delta, version: int) -> Snapshot:
        import pyarrow as pa

        protocol = delta.protocol()
        meta = delta.metadata()
        metadata = {
            "id": meta.id,
            "name": meta.name,
            "description": meta.description,
            "format": {"provider": "parquet", "options": {}},
            "schemaString": delta.schema().to_json(),
            "partitionColumns": list(meta.partition_columns),
            "configuration": dict(meta.configuration or {}),
            "createdTime": meta.created_time,
        }
        files = []
        deletion_vectors = False
        for row in pa.table(delta.get_add_actions(flatten=True)).to_pylist():
            values = {k[len("partition.") :]: v for k, v in row.items() if k.startswith("partition.")}
            stats = {"numRecords": row["num_records"]} if row.get("num_records") is not None else None
            deletion_vectors |= any(v is not None for k, v in row.items() if k.startswith("deletionVector"))
            files.append(
                {
                    "path": row["path"],
                    "size": row["size_bytes"],
                    "partitionValues": {k: _partition_text(v) for k, v in values.items()},
                    "stats": json.dumps(stats) if stats else None,
                }
            )
        return Snapshot(
            version,
            protocol.min_reader_version,
            list(protocol.reader_features or []),
            {k: v for k, v in metadata.items() if v is not None},
            files,
            deletion_vectors,
        )

    def _service(self) -> BlobServiceClient:
        with self._lock:
            if self._blobs is None:
                self._blobs = BlobServiceClient.from_connection_string(self.connection_string)
            return self._blobs

    # URLs ---------------------------------------------------------------------------------------
    def signed_url(self, table: dict[str, Any], path: str) -> tuple[str, int]:
        """(a read-only SAS URL for one data file of the table, its expiry in epoch ms)."""
        location = parse_location(table["storage_location"], self.account)
        blob = f"{location.path.strip('/')}/{path.lstrip('/')}".lstrip("/")
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.url_ttl_seconds)
        token = generate_blob_sas(
            account_name=self.account,
            container_name=location.container,
            blob_name=blob,
            account_key=self.key,
            permission=BlobSasPermissions(read=True),
            expiry=expiry,
            start=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
            protocol="https,http",
        )
        url = f"{self.blob_endpoint}/{location.container}/{quote(blob)}?{token}"
        return url, int(expiry.timestamp() * 1000)


_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint\.parquet$")


class _LogFiles:
    """The ``_delta_log`` of one table in Azure Storage, replayed action by action (catalog-managed)."""

    def __init__(self, files: DeltaFiles, table: dict[str, Any]) -> None:
        location = parse_location(table["storage_location"], files.account)
        self.container = files._service().get_container_client(location.container)
        self.root = location.path.strip("/")
        self.log = f"{self.root}/_delta_log/".lstrip("/")
        self.commits: dict[int, Any] = {}
        self.checkpoints: dict[int, str] = {}
        for blob in self.container.list_blobs(name_starts_with=self.log):
            name = blob.name[len(self.log) :]
            if match := _COMMIT.match(name):
                self.commits[int(match[1])] = blob
            elif match := _CHECKPOINT.match(name):
                self.checkpoints[int(match[1])] = blob.name

    def _read(self, name: str) -> bytes:
        return self.container.get_blob_client(name).download_blob().readall()

    def commit_timestamp(self, version: int) -> int:
        blob = self.commits[version]
        for line in self._read(blob.name).decode().splitlines():
            info = json.loads(line).get("commitInfo") if line.strip() else None
            if info:
                return int(info.get("inCommitTimestamp") or info.get("timestamp") or 0)
        return int(blob.last_modified.timestamp() * 1000)

    def replay(self, target: int, staged: dict[int, dict[str, Any]]) -> Snapshot:
        snapshot = Snapshot(target, 1, [], {})
        files: dict[str, dict[str, Any]] = {}
        start = max((v for v in self.checkpoints if v <= target), default=-1)
        if start >= 0:
            for action in self._checkpoint_actions(self.checkpoints[start]):
                _apply(action, snapshot, files)
        for version in range(start + 1, target + 1):
            if version in self.commits:
                data = self._read(self.commits[version].name)
            elif version in staged:
                data = self._read(f"{self.log}_staged_commits/{staged[version]['file_name']}")
            else:
                raise ApiError(
                    400, "INVALID_STATE", f"Commit {version} of the table is not in its Delta log."
                )
            for line in data.decode().splitlines():
                if line.strip():
                    _apply(json.loads(line), snapshot, files)
        snapshot.files = list(files.values())
        return snapshot

    def _checkpoint_actions(self, name: str):
        import io

        import pyarrow.parquet as pq

        for row in pq.read_table(io.BytesIO(self._read(name))).to_pylist():
            for kind in ("protocol", "metaData", "add"):
                value = row.get(kind)
                if value:
                    for key in ("partitionValues", "configuration"):
                        if isinstance(value.get(key), list):  # a parquet map reads as (key, value) pairs
                            value[key] = dict(value[key])
                    yield {kind: value}


def _apply(action: dict[str, Any], snapshot: Snapshot, files: dict[str, dict[str, Any]]) -> None:
    """One Delta log action applied to a snapshot being replayed."""
    if "add" in action:
        add = action["add"]
        path = unquote(add["path"])
        files[path] = {
            "path": path,
            "size": add["size"],
            "partitionValues": add.get("partitionValues") or {},
            "stats": add.get("stats"),
        }
        snapshot.deletion_vectors |= bool(add.get("deletionVector"))
    elif "remove" in action:
        files.pop(unquote(action["remove"]["path"]), None)
    elif "metaData" in action:
        meta = action["metaData"]
        snapshot.metadata = {
            "id": meta.get("id"),
            "format": {"provider": "parquet", "options": {}},
            "schemaString": meta.get("schemaString"),
            "partitionColumns": meta.get("partitionColumns") or [],
            "configuration": meta.get("configuration") or {},
            **{k: meta[k] for k in ("name", "description", "createdTime") if meta.get(k) is not None},
        }
    elif "protocol" in action:
        snapshot.min_reader_version = int(action["protocol"].get("minReaderVersion", 1))
        snapshot.reader_features = list(action["protocol"].get("readerFeatures") or [])


def file_id(path: str) -> str:
    """A stable id of a data file within its table (the reference server hashes the path too)."""
    return hashlib.md5(path.encode(), usedforsecurity=False).hexdigest()
