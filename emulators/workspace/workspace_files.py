"""Workspace files 2.0 (``/api/2.0/workspace``): folders and files, state and behaviour (no HTTP here).

What ``databricks bundle deploy`` (and ``climatelake.bundle`` for a target with a workspace host) uses to put
a bundle's files and wheels into a workspace: ``mkdirs``, ``import`` (overwrite), ``export``,
``get-status``, ``list``, ``delete``. Shapes are databricks-sdk's (``ObjectInfo``, ``ExportResponse``;
``WorkspaceExt.upload`` sends a multipart form, ``download`` reads the raw bytes of ``direct_download``).
Errors as the SDK's docs name them: a missing path 404 ``RESOURCE_DOES_NOT_EXIST``, an existing one without
``overwrite`` 400 ``RESOURCE_ALREADY_EXISTS``, a folder where a file is asked 400 ``INVALID_PARAMETER_VALUE``.

Objects are ``workspace-object`` records by path (metadata only), their bytes files under ``files_dir``
at the same path; paths absolute and normalised (``/Workspace`` prefixes are the same tree, as in
Databricks). A job's task names workspace files as on Databricks, where ``/Workspace`` is mounted on the
cluster: the runner reads them through :meth:`WorkspaceFiles.local_path`. LIMITATIONS: every import is a
FILE (no notebooks, no DBC/HTML/JUPYTER formats: 400); no ACLs; no size limit beyond the request's.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import shutil
from pathlib import Path
from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.catalog_records import now_ms
from emulators.workspace.errors import ApiError, invalid, resource_already_exists, resource_does_not_exist

_FORMATS = ("AUTO", "SOURCE", "RAW")
_LANGUAGES = {".py": "PYTHON", ".sql": "SQL", ".scala": "SCALA", ".r": "R"}


def normalize(path: Any) -> str:
    """A workspace path: absolute, without ``..``, trailing slashes or the ``/Workspace`` prefix."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise invalid(f"Path ({path}) must be absolute.")
    clean = posixpath.normpath(path)
    if clean == "/Workspace" or clean.startswith("/Workspace/"):
        clean = clean.removeprefix("/Workspace") or "/"
    return clean


class WorkspaceFiles:
    def __init__(self, store: RecordStore, files_dir: Path) -> None:
        self.store = store
        self.files_dir = files_dir

    def _bytes_path(self, path: str) -> Path:
        return self.files_dir / path.lstrip("/")  # normalised: no "..", so always inside files_dir

    def local_path(self, path: str) -> str:
        """Where a task finds a workspace file (``/Workspace/…`` or the path of an imported file), else
        ``path`` itself (a file of this machine)."""
        if not isinstance(path, str) or not path.startswith("/"):
            return path
        target = normalize(path)
        record = self.store.get("workspace-object", target)
        if path.startswith("/Workspace/") or (record is not None and record["object_type"] == "FILE"):
            return str(self._bytes_path(target))
        return path

    def mkdirs(self, path: Any) -> None:
        target = normalize(path)
        with self.store.lock:
            parts = [p for p in target.split("/") if p]
            for depth in range(1, len(parts) + 1):
                folder = "/" + "/".join(parts[:depth])
                existing = self.store.get("workspace-object", folder)
                if existing is None:
                    self.store.put("workspace-object", folder, self._info(folder, "DIRECTORY"))
                elif existing["object_type"] != "DIRECTORY":
                    raise resource_already_exists(f"{folder} exists and is not a folder.")

    def import_file(self, path: Any, content: bytes, fmt: str, overwrite: bool) -> None:
        target = normalize(path)
        if (fmt or "SOURCE").upper() not in _FORMATS:
            raise invalid(f"The local workspace imports files ({', '.join(_FORMATS)}), not {fmt}.")
        with self.store.lock:
            folder = posixpath.dirname(target)
            parent = self.store.get("workspace-object", folder)
            if parent is None or parent["object_type"] != "DIRECTORY":
                raise resource_does_not_exist(f"The parent folder ({folder}) does not exist.")
            existing = self.store.get("workspace-object", target)
            if existing is not None and (not overwrite or existing["object_type"] == "DIRECTORY"):
                raise resource_already_exists(f"{target} already exists.")
            record = self._info(target, "FILE", created=existing["created_at"] if existing else None)
            record["size"] = len(content)
            local = self._bytes_path(target)
            local.parent.mkdir(parents=True, exist_ok=True)
            staged = local.with_name(f".{local.name}.importing")
            staged.write_bytes(content)
            staged.replace(local)  # atomic: a running task never reads half a file
            self.store.put("workspace-object", target, record)

    def export(self, path: Any) -> bytes:
        record = self._object(path)
        if record["object_type"] == "DIRECTORY":
            raise invalid(f"{record['path']} is a folder: export files only.")
        return self._bytes_path(record["path"]).read_bytes()

    def status(self, path: Any) -> dict[str, Any]:
        return _view(self._object(path))

    def list(self, path: Any) -> list[dict[str, Any]]:
        folder = self._object(path)
        if folder["object_type"] != "DIRECTORY":
            return [_view(folder)]
        prefix = folder["path"].rstrip("/") + "/"
        children = self.store.scan("workspace-object", prefix)
        return [_view(r) for key, r in children if "/" not in key[len(prefix) :]]

    def delete(self, path: Any, recursive: bool) -> None:
        record = self._object(path)
        with self.store.lock:
            children = list(self.store.scan("workspace-object", record["path"].rstrip("/") + "/"))
            if children and not recursive:
                raise ApiError(
                    400, "DIRECTORY_NOT_EMPTY", f"Folder ({record['path']}) is not empty; use recursive."
                )
            for key, _ in children:
                self.store.delete("workspace-object", key)
            self.store.delete("workspace-object", record["path"])
            local = self._bytes_path(record["path"])
            if local.is_dir():
                shutil.rmtree(local, ignore_errors=True)
            else:
                local.unlink(missing_ok=True)

    def _object(self, path: Any) -> dict[str, Any]:
        target = normalize(path)
        record = self.store.get("workspace-object", target)
        if record is None and target == "/":
            return self._info("/", "DIRECTORY")
        if record is None:
            raise resource_does_not_exist(f"Path ({path}) doesn't exist.")
        return record

    def _info(self, path: str, object_type: str, created: int | None = None) -> dict[str, Any]:
        now = now_ms()
        record: dict[str, Any] = {
            "path": path,
            "object_type": object_type,
            "object_id": self.store.next_id("workspace-object-id"),
            "created_at": created or now,
            "modified_at": now,
        }
        language = _LANGUAGES.get(posixpath.splitext(path)[1].lower())
        if object_type == "FILE" and language:
            record["language"] = language
        return record


def _view(record: dict[str, Any]) -> dict[str, Any]:
    """ObjectInfo, as databricks-sdk reads it."""
    return dict(record)


def decode(content: Any) -> bytes:
    """The base64 ``content`` of a JSON import."""
    try:
        return base64.b64decode(str(content or ""), validate=True)
    except binascii.Error:
        raise invalid("content must be base64.") from None
