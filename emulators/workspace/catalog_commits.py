"""The catalog-managed Delta commits of MANAGED tables (``/delta/preview/commits``), as a mixin of
:class:`~emulators.workspace.catalog.UnityCatalog`.

MANAGED Delta tables that are catalog-managed (https://github.com/delta-io/delta/blob/master/protocol_rfcs/
catalog-managed.md): the catalog, not the ``_delta_log`` listing, is the source of truth of their versions.
Writers ``commit`` each new version (a staged file under ``_delta_log/_staged_commits/``) here and later
report what they backfilled; readers ask ``get_commits`` and read only up to ``latest_table_version``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from emulators.common.records import RecordStore
from emulators.workspace.catalog_records import clean_properties, int_field, normalize_columns, now_ms
from emulators.workspace.errors import conflict, invalid, too_many_requests

#: Unbackfilled commits a table may hold before the catalog refuses more (the spec's 429).
MAX_UNBACKFILLED_COMMITS = 100
#: The table properties that opt a new table in to catalog-managed commits: Databricks' documented
#: ``TBLPROPERTIES ('delta.feature.catalogManaged' = 'supported')`` ("Catalog-managed commits",
#: docs.databricks.com/aws/en/delta/catalog-managed-commits) and the earlier preview name.
CATALOG_MANAGED_PROPERTIES = ("delta.feature.catalogManaged", "delta.feature.catalogOwned-preview")
#: The table properties a Delta engine takes as "this table takes part in Unity Catalog's coordinated
#: commits" (Sail: ``io.unitycatalog.tableId``, and ``table_id`` as a legacy key).
UNITY_TABLE_ID_PROPERTIES = ("io.unitycatalog.tableId", "table_id")


def opts_in_to_catalog_managed(table: dict[str, Any]) -> bool:
    """Whether a MANAGED Delta table was created with catalog-managed commits (its properties).

    On Databricks a MANAGED Delta table is catalog-managed only when it was created with the feature (or
    later altered to it); without it a managed table is plain Delta, which any Delta reader — delta-rs,
    polars' ``scan_table`` — opens through vended credentials. delta-rs refuses a catalog-managed table it
    is given no catalog version for ("Max catalog version is required when loading a catalog-managed
    table").
    """
    if table.get("table_type") != "MANAGED" or table.get("data_source_format") != "DELTA":
        return False
    properties = {k.lower(): str(v).lower() for k, v in (table.get("properties") or {}).items()}
    return any(properties.get(key.lower()) in ("supported", "enabled") for key in CATALOG_MANAGED_PROPERTIES)


class ManagedCommits:
    """Ratifies and lists the commits of catalog-managed tables; needs the catalog's ``store``,
    ``get_table_by_id``, ``max_unbackfilled_commits`` and ``_commit_lock``."""

    store: RecordStore
    max_unbackfilled_commits: int
    _commit_lock: threading.Lock

    if TYPE_CHECKING:

        def get_table_by_id(self, table_id: str) -> dict[str, Any]: ...

    def is_catalog_managed(self, table: dict[str, Any]) -> bool:
        """Whether the catalog ratifies the table's versions: it opted in, or its writer made it so."""
        return opts_in_to_catalog_managed(table) or (
            table.get("table_type") == "MANAGED"
            and self.store.get("catalog-managed", str(table.get("table_id"))) is not None
        )

    def mark_catalog_managed(self, table_id: str) -> None:
        """Record that a table's writer made it catalog-managed (its log has the catalogManaged feature)."""
        self.store.put("catalog-managed", str(table_id), {"table_id": str(table_id)})

    def _managed_delta_table(self, body: dict[str, Any]) -> dict[str, Any]:
        table_id = body.get("table_id")
        table_uri = body.get("table_uri")
        if not table_id or not table_uri:
            raise invalid("table_id and table_uri are required.")
        table = self.get_table_by_id(table_id)
        if table["table_type"] != "MANAGED" or table.get("data_source_format") != "DELTA":
            raise invalid(f"Table '{table['full_name']}' is not a MANAGED Delta table.")
        if str(table_uri).rstrip("/") != table["storage_location"].rstrip("/"):
            raise invalid(
                f"table_uri '{table_uri}' does not match the location of table '{table['full_name']}' "
                f"({table['storage_location']})."
            )
        return table

    def get_commits(self, body: dict[str, Any]) -> dict[str, Any]:
        """Unbackfilled commits with start_version <= version <= end_version, and the latest version."""
        table = self._managed_delta_table(body)
        start = int_field(body.get("start_version"), "start_version")
        if start is None or start < 0:
            raise invalid("start_version is required and must not be negative.")
        end = int_field(body.get("end_version"), "end_version")
        if end is not None and end < start:
            raise invalid("end_version must not be smaller than start_version.")
        state = self.store.get("delta-commits", table["table_id"]) or {
            "latest_table_version": 0,
            "commits": [],
        }
        commits = [
            c for c in state["commits"] if c["version"] >= start and (end is None or c["version"] <= end)
        ]
        return {"commits": commits, "latest_table_version": state["latest_table_version"]}

    def commit(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        """Ratify the next version of a managed table and/or record what the writer backfilled."""
        commit_info = body.get("commit_info")
        backfilled = int_field(body.get("latest_backfilled_version"), "latest_backfilled_version")
        if commit_info is None and backfilled is None:
            raise invalid("At least one of commit_info and latest_backfilled_version must be present.")
        with self._commit_lock:
            table = self._managed_delta_table(body)
            state = self.store.get("delta-commits", table["table_id"]) or {
                "latest_table_version": 0,
                "commits": [],
            }
            latest = state["latest_table_version"]
            if commit_info is not None:
                info = _commit_info(commit_info)
                same = next((c for c in state["commits"] if c["version"] == info["version"]), None)
                if same is not None and same["file_name"] == info["file_name"]:
                    return {}  # a replay of an accepted commit is an idempotent no-op
                if same is not None or info["version"] <= latest:
                    raise conflict(
                        f"Commit version {info['version']} of table '{table['full_name']}' already exists."
                    )
                if info["version"] != latest + 1:
                    raise invalid(
                        f"Commit version {info['version']} is not the expected version {latest + 1} of "
                        f"table '{table['full_name']}'."
                    )
                if len(state["commits"]) >= self.max_unbackfilled_commits:
                    raise too_many_requests(
                        f"Table '{table['full_name']}' has {len(state['commits'])} unbackfilled commits; "
                        "backfill some before committing more."
                    )
                state["commits"].append(info)
                state["latest_table_version"] = latest = info["version"]
            if backfilled is not None:
                if backfilled > latest:
                    raise invalid(
                        f"latest_backfilled_version {backfilled} exceeds the latest version {latest}."
                    )
                state["commits"] = [c for c in state["commits"] if c["version"] > backfilled]
            self.store.put("delta-commits", table["table_id"], state)
            metadata = body.get("metadata")
            if commit_info is not None or metadata:
                self._apply_commit_metadata(table, metadata, principal)
        return {}

    def _apply_commit_metadata(self, table: dict[str, Any], metadata: Any, principal: str) -> None:
        """A commit's metadata (schema, description, properties) keeps the catalog's table in step."""
        with self.store.lock:
            record = self.store.get("table", table["full_name"]) or table
            if isinstance(metadata, dict):
                columns = (metadata.get("schema") or {}).get("columns")
                if columns:
                    record["columns"] = normalize_columns(columns)
                if metadata.get("description") is not None:
                    record["comment"] = metadata["description"]
                properties = (metadata.get("properties") or {}).get("properties")
                if isinstance(properties, dict):
                    record["properties"] = clean_properties(properties)
            record["updated_at"] = now_ms()
            record["updated_by"] = principal
            self.store.put("table", record["full_name"], record)


def _commit_info(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("commit_info must be an object.")
    fields = ("version", "timestamp", "file_name", "file_size", "file_modification_timestamp")
    missing = [f for f in fields if value.get(f) is None]
    if missing:
        raise invalid(f"commit_info is missing {', '.join(missing)}.")
    info = {f: (value[f] if f == "file_name" else int_field(value[f], f"commit_info.{f}")) for f in fields}
    if info["version"] < 1:
        raise invalid("commit_info.version must be at least 1 (version 0 is written when the table is made).")
    return info
