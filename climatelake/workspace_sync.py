"""Put a bundle's files and wheels into a Databricks workspace, as ``databricks bundle deploy`` lays them out.

For a target that names a workspace (``workspace.host``) the jobs must find their files there: the CLI uploads
the ``sync.paths`` to ``<root_path>/files`` (the root defaults to ``~/.bundle/<bundle>/<target>``, ``~`` the
deploying user's home, ``/Workspace/Users/<user name>``) and each built wheel to
``<root_path>/artifacts/.internal/<wheel>``, then names those paths in the jobs. This does the same through
databricks-sdk (``w.workspace.upload`` / ``download`` / ``mkdirs``); a file whose workspace copy has the same
bytes is not uploaded again, so a second deploy writes nothing (the CLI keeps a sync snapshot instead).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from databricks.sdk.errors import NotFound
from databricks.sdk.service.workspace import ImportFormat

#: never synced (the CLI skips what .gitignore names; these are the ones that matter here)
_SKIPPED = {"__pycache__", "dist", "build", ".databricks", ".venv", "node_modules"}


def root_path(w: Any, bundle: dict[str, Any], target: str) -> str:
    """The target's workspace folder: its ``workspace.root_path``, else the CLI's default."""
    spec = ((bundle.get("targets") or {}).get(target) or {}).get("workspace") or {}
    root = spec.get("root_path") or (bundle.get("workspace") or {}).get("root_path")
    root = root or f"~/.bundle/{bundle['bundle']['name']}/{target}"
    if root.startswith("~"):
        root = f"/Workspace/Users/{w.current_user.me().user_name}{root[1:]}"
    return root.rstrip("/")


def local_files(sync_root: Path, paths: Iterable[Path]) -> list[Path]:
    """Every file under the sync paths (skipping caches, build output and hidden folders), sorted."""
    found: set[Path] = set()
    for top in paths:
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d not in _SKIPPED and not d.startswith(".")]
            found.update(Path(folder) / f for f in files if not f.startswith(".") and not f.endswith(".pyc"))
    return sorted(p for p in found if p.is_relative_to(sync_root))


class Uploader:
    """Uploads files whose workspace copy differs; makes each folder once per deploy."""

    def __init__(self, w: Any) -> None:
        self.w = w
        self.folders: set[str] = set()
        self.uploaded: list[str] = []

    def put(self, local: Path, remote: str) -> None:
        content = local.read_bytes()
        try:
            if self.w.workspace.download(remote).read() == content:
                return
        except NotFound:
            pass
        folder = remote.rsplit("/", 1)[0]
        if folder not in self.folders:
            self.w.workspace.mkdirs(folder)
            self.folders.add(folder)
        self.w.workspace.upload(remote, content, format=ImportFormat.AUTO, overwrite=True)
        self.uploaded.append(remote)


def sync(w: Any, root: str, sync_root: Path, paths: Iterable[Path], wheels: Iterable[Path]) -> dict[str, str]:
    """Upload the sync paths' files and the wheels; returns local path → workspace path for each."""
    uploader = Uploader(w)
    mapping: dict[str, str] = {}
    for wheel in wheels:
        mapping[str(wheel)] = f"{root}/artifacts/.internal/{wheel.name}"
        uploader.put(wheel, mapping[str(wheel)])
    for file in local_files(sync_root, paths):
        mapping[str(file)] = f"{root}/files/{file.relative_to(sync_root).as_posix()}"
        uploader.put(file, mapping[str(file)])
    return mapping


def to_workspace(value: Any, mapping: dict[str, str], sync_root: Path, files_root: str) -> Any:
    """A job's settings with every local path of the sync root (or a wheel) named by its workspace path."""
    if isinstance(value, dict):
        return {k: to_workspace(v, mapping, sync_root, files_root) for k, v in value.items()}
    if isinstance(value, list):
        return [to_workspace(v, mapping, sync_root, files_root) for v in value]
    if isinstance(value, str):
        if value in mapping:
            return mapping[value]
        prefix = str(sync_root).rstrip("/") + "/"
        if value.startswith(prefix):
            return f"{files_root}/{value[len(prefix) :]}"
    return value
