"""Deploy the Databricks Asset Bundle's jobs through databricks-sdk.

Why not the Databricks CLI: it downloads a binary, which cannot happen here, and the workspace stand-in is
reached the same way the CLI would reach it — Jobs 2.2 create/reset. This reads ``databricks/databricks.yml``
and ``resources/*.yml``, substitutes ``${var.*}`` and ``${workspace.file_path}``, and creates each job or
resets the one with the same name, so deploying twice changes nothing. Python files are referenced where
they lie, and ``workspace.file_path`` is the local sync root — the bundle folder, or the common parent of it
and the ``sync.paths`` outside it, as the Databricks CLI computes it — which is right for the local
stand-in; a real workspace gets its files from ``databricks bundle deploy``.

Unity Catalog objects the jobs need (the catalog and its schemas) are created here too.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import Any

import yaml
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.jobs import JobSettings

BUNDLE_ROOT = Path(__file__).resolve().parent.parent / "databricks"
SCHEMAS = ("silver", "results")
_VAR = re.compile(r"\$\{(var\.[A-Za-z0-9_]+|workspace\.file_path)\}")


def bundle_variables(
    target: str = "local", overrides: dict[str, str] | None = None, bundle_root: Path = BUNDLE_ROOT
) -> dict[str, str]:
    """``var.<name>`` and ``workspace.file_path`` values for ``target`` (defaults, target, overrides)."""
    bundle = yaml.safe_load((bundle_root / "databricks.yml").read_text())
    if target not in bundle.get("targets", {}):
        raise ValueError(f"unknown bundle target {target!r}; the bundle has {sorted(bundle['targets'])}")
    target_spec = bundle["targets"][target] or {}
    values = {f"var.{k}": str(v.get("default", "")) for k, v in bundle.get("variables", {}).items()}
    values.update({f"var.{k}": str(v) for k, v in (target_spec.get("variables") or {}).items()})
    values.update({f"var.{k}": str(v) for k, v in (overrides or {}).items()})
    values["workspace.file_path"] = str(sync_root(bundle, bundle_root))
    return values


def sync_root(bundle: dict[str, Any], bundle_root: Path) -> Path:
    """The common parent of the bundle folder and its ``sync.paths`` (the CLI uploads from there)."""
    paths = [(bundle_root / p).resolve() for p in (bundle.get("sync") or {}).get("paths") or ["."]]
    return Path(os.path.commonpath([bundle_root.resolve(), *paths]))


def load_jobs(
    target: str = "local", overrides: dict[str, str] | None = None, bundle_root: Path = BUNDLE_ROOT
) -> dict[str, dict[str, Any]]:
    """The bundle's job settings for ``target``, as Jobs API dicts, keyed by resource name."""
    bundle = yaml.safe_load((bundle_root / "databricks.yml").read_text())
    values = bundle_variables(target, overrides, bundle_root)

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, str):
            for _ in range(5):  # variables may refer to variables
                value = _VAR.sub(lambda m: values[m.group(1)], value)
        return value

    jobs: dict[str, dict[str, Any]] = {}
    for pattern in bundle.get("include", []):
        for path in sorted(glob.glob(str(bundle_root / pattern))):
            resources = (yaml.safe_load(Path(path).read_text()) or {}).get("resources", {})
            for key, job in (resources.get("jobs") or {}).items():
                job = resolve(job)
                for task in job.get("tasks", []):
                    python_task = task.get("spark_python_task")
                    if python_task and not python_task["python_file"].startswith("/"):
                        python_task["python_file"] = str(
                            (Path(path).parent / python_task["python_file"]).resolve()
                        )
                jobs[key] = job
    return jobs


def ensure_catalog(w: WorkspaceClient, catalog: str) -> None:
    try:
        w.catalogs.get(catalog)
    except NotFound:
        w.catalogs.create(name=catalog, comment="climatelake: weather and employee data")
    for schema in SCHEMAS:
        try:
            w.schemas.get(f"{catalog}.{schema}")
        except NotFound:
            w.schemas.create(name=schema, catalog_name=catalog)


def deploy(
    w: WorkspaceClient, target: str = "local", overrides: dict[str, str] | None = None
) -> dict[str, int]:
    """Create or reset every job of the bundle; returns job name → job id."""
    jobs = load_jobs(target, overrides)
    ensure_catalog(w, bundle_variables(target, overrides)["var.catalog"])
    deployed: dict[str, int] = {}
    for settings in jobs.values():
        existing = [j for j in w.jobs.list(name=settings["name"])]
        job_settings = JobSettings.from_dict(settings)
        if existing:
            w.jobs.reset(job_id=existing[0].job_id, new_settings=job_settings)
            deployed[settings["name"]] = existing[0].job_id
        else:
            deployed[settings["name"]] = w.jobs.create(
                **{k: getattr(job_settings, k) for k in settings}
            ).job_id
    return deployed


def job_id_by_name(w: WorkspaceClient, name: str) -> int:
    for job in w.jobs.list(name=name):
        return job.job_id
    raise LookupError(f"no job named {name!r} in the workspace; deploy the bundle first (climatelake deploy)")
