"""Deploy the Databricks Asset Bundle's jobs through databricks-sdk.

Why not the Databricks CLI: it downloads a binary, which cannot happen here, and the workspace stand-in is
reached the same way the CLI would reach it — Jobs 2.2 create/reset. This reads ``databricks/databricks.yml``
and ``resources/*.yml``, substitutes ``${var.*}`` and ``${workspace.file_path}``, and creates each job or
resets the one with the same name, so deploying twice changes nothing. Python files are referenced where
they lie, and ``workspace.file_path`` is the local sync root — the bundle folder, or the common parent of it
and the ``sync.paths`` outside it, as the Databricks CLI computes it — which is right for the local
stand-in. A target that names a workspace host (dev, prod) gets the files and wheels uploaded as the CLI lays
them out (``<root_path>/files``, ``<root_path>/artifacts/.internal``; :mod:`climatelake.workspace_sync`)
and its jobs name them there.

Unity Catalog objects the jobs need — the catalog, its schemas and who may use them — come from the
bundle's ``catalogs`` and ``schemas`` resources (``resources/unity_catalog.yml``) and the product's
principals (``principals.yml``): :mod:`climatelake.bundle_access`. Variables with ``lookup:`` resolve to a
service principal's application ID, only when something refers to them; a target's ``run_as`` applies to
every job that sets none, as the CLI applies it.

Artifacts: the bundle's ``artifacts`` of type ``whl`` are built as the CLI builds them — ``build`` run in the
artifact's ``path``, the wheel taken from ``<path>/dist`` (or its ``files``) — and each job's local wheel
references (``environments[].spec.dependencies`` and ``libraries[].whl``, relative to their resource file)
are resolved after the build, a glob to the newest file of each package (as the CLI does since 0.256). A
wheel newer than every source file under ``path`` is reused; builds are serialised with a file lock.
"""

from __future__ import annotations

import fcntl
import glob
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import JobAccessControlRequest, JobPermissionLevel, JobSettings

from climatelake import bundle_access

BUNDLE_ROOT = Path(__file__).resolve().parent.parent / "databricks"
_VAR = re.compile(r"\$\{(var\.[A-Za-z0-9_]+|workspace\.file_path)\}")


def bundle_variables(
    target: str = "local", overrides: dict[str, str] | None = None, bundle_root: Path = BUNDLE_ROOT
) -> dict[str, str]:
    """``var.<name>`` and ``workspace.file_path`` values for ``target`` (defaults, target, overrides).
    A variable with a ``lookup`` and no value is absent: :func:`_resolver` looks it up when it is used."""
    bundle = yaml.safe_load((bundle_root / "databricks.yml").read_text())
    if target not in bundle.get("targets", {}):
        raise ValueError(f"unknown bundle target {target!r}; the bundle has {sorted(bundle['targets'])}")
    target_spec = bundle["targets"][target] or {}
    values = {
        f"var.{k}": str(v.get("default", ""))
        for k, v in bundle.get("variables", {}).items()
        if "lookup" not in v
    }
    values.update({f"var.{k}": str(v) for k, v in (target_spec.get("variables") or {}).items()})
    values.update({f"var.{k}": str(v) for k, v in (overrides or {}).items()})
    values["workspace.file_path"] = str(sync_root(bundle, bundle_root))
    return values


def sync_root(bundle: dict[str, Any], bundle_root: Path) -> Path:
    """The common parent of the bundle folder and its ``sync.paths`` (the CLI uploads from there)."""
    paths = [(bundle_root / p).resolve() for p in (bundle.get("sync") or {}).get("paths") or ["."]]
    return Path(os.path.commonpath([bundle_root.resolve(), *paths]))


#: folders never part of a package's sources (the up-to-date check of a wheel skips them)
_NOT_SOURCES = {"dist", "build", "node_modules", "__pycache__", "tests", "bench", "docs"}


def _bundle(bundle_root: Path) -> dict[str, Any]:
    return yaml.safe_load((bundle_root / "databricks.yml").read_text())


def artifacts(target: str = "local", bundle_root: Path = BUNDLE_ROOT) -> dict[str, dict[str, Any]]:
    """The bundle's artifacts for ``target`` (top level, then the target's overrides), paths resolved."""
    bundle = _bundle(bundle_root)
    merged = {k: dict(v or {}) for k, v in (bundle.get("artifacts") or {}).items()}
    for key, override in (((bundle.get("targets") or {}).get(target) or {}).get("artifacts") or {}).items():
        merged.setdefault(key, {}).update(override or {})
    for spec in merged.values():
        spec["path"] = (bundle_root / spec.get("path", ".")).resolve()
    return merged


def build_artifacts(target: str = "local", bundle_root: Path = BUNDLE_ROOT) -> list[Path]:
    """Build every ``whl`` artifact (unless its wheel is newer than its sources); returns the wheels."""
    wheels: list[Path] = []
    for name, spec in artifacts(target, bundle_root).items():
        if spec.get("type") != "whl":
            raise ValueError(f"artifact {name}: only type whl is built locally, not {spec.get('type')!r}")
        path: Path = spec["path"]
        patterns = _artifact_patterns(spec)
        (path / "dist").mkdir(exist_ok=True)
        with open(path / "dist" / ".climatelake-build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time (parallel test sessions share dist/)
            built = _newest_per_package(patterns)
            if not built or min(w.stat().st_mtime for w in built) < _sources_mtime(path):
                _run_build(spec.get("build") or "python setup.py bdist_wheel", path, name)
                built = _newest_per_package(patterns)
        if not built:
            raise RuntimeError(f"artifact {name}: the build left no file at {', '.join(patterns)}")
        wheels += built
    return wheels


def _artifact_patterns(spec: dict[str, Any]) -> list[str]:
    sources = [f["source"] for f in spec.get("files") or []] or ["dist/*.whl"]
    return [str(spec["path"] / source) for source in sources]


def built_artifacts(target: str = "local", bundle_root: Path = BUNDLE_ROOT) -> list[Path]:
    """The artifacts' files as they are now (newest wheel of each package), without building."""
    return [
        f
        for spec in artifacts(target, bundle_root).values()
        for f in _newest_per_package(_artifact_patterns(spec))
    ]


def _run_build(command: str, cwd: Path, name: str) -> None:
    """Run an artifact's build commands (one a line) in its path; ``python`` is this interpreter."""
    for line in filter(None, (c.strip() for c in command.splitlines())):
        argv = shlex.split(line)
        if argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
        if done.returncode:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"artifact {name}: `{line}` failed: {' '.join(tail)}")


def _sources_mtime(path: Path) -> float:
    newest = 0.0
    for folder, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _NOT_SOURCES and "egg-info" not in d]
        for file in files:
            if file.endswith((".py", ".toml", ".json", ".csv", ".cfg")):
                newest = max(newest, os.stat(os.path.join(folder, file)).st_mtime)
    return newest


def _newest_per_package(patterns: list[str]) -> list[Path]:
    """The files matching ``patterns``; of several wheels of one package, the newest (the CLI's rule)."""
    newest: dict[str, Path] = {}
    for pattern in patterns:
        for match in map(Path, glob.glob(pattern)):
            package = match.name.split("-")[0] if match.suffix == ".whl" else str(match)
            if package not in newest or match.stat().st_mtime > newest[package].stat().st_mtime:
                newest[package] = match
    return sorted(newest.values())


def _local_library(value: str, base: Path) -> list[str]:
    """A job's wheel reference resolved against its resource file's folder (a glob: its newest files)."""
    if not value.endswith(".whl") or value.startswith("/") or "://" in value:
        return [value]  # a workspace/volume path, a URL or a PyPI requirement
    pattern = os.path.normpath(base / value)
    return [str(p) for p in _newest_per_package([pattern])] or [pattern]


def _resolver(
    target: str,
    overrides: dict[str, str] | None,
    bundle_root: Path,
    lookup: bundle_access.Lookup | None,
):
    """A function that substitutes ``${var.*}`` and ``${workspace.file_path}`` in a resource, recursively.
    A lookup variable is resolved through ``lookup`` on first use; without one its reference stays as
    written (reading the bundle needs no workspace; deploying does)."""
    bundle = _bundle(bundle_root)
    values = bundle_variables(target, overrides, bundle_root)
    lookups = {
        f"var.{k}": next(iter(v["lookup"].items()))
        for k, v in (bundle.get("variables") or {}).items()
        if "lookup" in v and f"var.{k}" not in values
    }

    def value_of(match: re.Match) -> str:
        name = match.group(1)
        if name not in values and name in lookups:
            if lookup is None:
                return match.group(0)
            values[name] = lookup(*lookups[name])
        return values[name]

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, str):
            for _ in range(5):  # variables may refer to variables
                value = _VAR.sub(value_of, value)
        return value

    return resolve


def _resources(bundle_root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Each included resource file and its ``resources`` mapping."""
    found = []
    for pattern in _bundle(bundle_root).get("include", []):
        for path in sorted(glob.glob(str(bundle_root / pattern))):
            found.append((Path(path), (yaml.safe_load(Path(path).read_text()) or {}).get("resources", {})))
    return found


def load_catalog_resources(
    target: str = "local",
    overrides: dict[str, str] | None = None,
    bundle_root: Path = BUNDLE_ROOT,
    lookup: bundle_access.Lookup | None = None,
) -> list[bundle_access.Securable]:
    """The bundle's catalogs, schemas and external locations with their grants, resolved for ``target``."""
    resolve = _resolver(target, overrides, bundle_root, lookup)
    merged: dict[str, Any] = {"catalogs": {}, "schemas": {}, "external_locations": {}}
    for _, resources in _resources(bundle_root):
        for kind in merged:
            merged[kind].update(resolve(resources.get(kind) or {}))
    return bundle_access.load_catalog_resources(merged)


def schema_names(bundle_root: Path = BUNDLE_ROOT) -> tuple[str, ...]:
    """The schemas the bundle declares (``resources.schemas.*.name``)."""
    return tuple(
        spec["name"]
        for _, resources in _resources(bundle_root)
        for spec in (resources.get("schemas") or {}).values()
    )


def load_jobs(
    target: str = "local",
    overrides: dict[str, str] | None = None,
    bundle_root: Path = BUNDLE_ROOT,
    lookup: bundle_access.Lookup | None = None,
) -> dict[str, dict[str, Any]]:
    """The bundle's job settings for ``target``, as Jobs API dicts (with the bundle's ``permissions`` of a
    job kept beside them: the deploy applies them through the Permissions API), keyed by resource name.
    The target's ``run_as`` is given to every job without one of its own (the CLI's rule)."""
    resolve = _resolver(target, overrides, bundle_root, lookup)
    run_as = resolve(((_bundle(bundle_root).get("targets") or {}).get(target) or {}).get("run_as"))

    jobs: dict[str, dict[str, Any]] = {}
    for path, resources in _resources(bundle_root):
        for key, job in (resources.get("jobs") or {}).items():
            job = resolve(job)
            if run_as and "run_as" not in job:
                job["run_as"] = dict(run_as)
            base = Path(path).parent
            for task in job.get("tasks", []):
                python_task = task.get("spark_python_task")
                if python_task and not python_task["python_file"].startswith("/"):
                    python_task["python_file"] = str((base / python_task["python_file"]).resolve())
                for library in task.get("libraries") or []:
                    if "whl" in library:
                        library["whl"] = _local_library(library["whl"], base)[0]
            for environment in job.get("environments") or []:
                spec = environment.get("spec") or {}
                if spec.get("dependencies"):
                    spec["dependencies"] = [
                        resolved for d in spec["dependencies"] for resolved in _local_library(d, base)
                    ]
            jobs[key] = job
    return jobs


def deploy(
    w: WorkspaceClient, target: str = "local", overrides: dict[str, str] | None = None
) -> dict[str, int]:
    """Build the artifacts, make the product's principals (:func:`bundle_access.ensure_principals`), the
    catalog and schemas with their grants, then :func:`deploy_jobs`. The principals' application IDs are
    passed on as the bundle's service-principal variables, so nothing is looked up by name again."""
    build_artifacts(target)
    overrides = {**(overrides or {}), **_principal_overrides(w)}
    apply_access(w, target, overrides)
    return deploy_jobs(w, target, overrides)


def ensure_access(
    w: WorkspaceClient, target: str = "local", overrides: dict[str, str] | None = None
) -> list[str]:
    """Principals, catalog, schemas and grants as the bundle declares them; returns what changed."""
    return apply_access(w, target, {**(overrides or {}), **_principal_overrides(w)})


def _principal_overrides(w: WorkspaceClient) -> dict[str, str]:
    """The service-principal variables (``jobs_service_principal``, …) → the application IDs of the
    principals :func:`bundle_access.ensure_principals` found or made."""
    application_ids = bundle_access.ensure_principals(w, BUNDLE_ROOT)
    return {
        var: application_ids[name] for var, name in principal_variables().items() if name in application_ids
    }


def apply_access(
    w: WorkspaceClient,
    target: str,
    overrides: dict[str, str] | None,
    lookup: bundle_access.Lookup | None = None,
    create_missing: bool = True,
) -> list[str]:
    """The metastore's external data access (:func:`bundle_access.ensure_external_access`), the bundle's
    grants on its catalog and schemas and its secret scopes' ACLs, for principals that exist.
    ``create_missing``: make a missing catalog, schema or scope (False where another step makes them, as the
    Azure deploy makes the catalog with its managed location and a Key Vault-backed scope)."""
    securables = load_catalog_resources(target, overrides, BUNDLE_ROOT, lookup)
    changed = bundle_access.ensure_external_access(w)
    changed += bundle_access.apply_catalog_resources(w, securables, create_missing)
    resolve = _resolver(target, overrides, BUNDLE_ROOT, lookup)
    scopes = {
        k: resolve(v) for _, r in _resources(BUNDLE_ROOT) for k, v in (r.get("secret_scopes") or {}).items()
    }
    return changed + bundle_access.apply_secret_scopes(w, scopes, create_missing)


def principal_variables(bundle_root: Path = BUNDLE_ROOT) -> dict[str, str]:
    """The bundle's service-principal variables: variable name → the display name its lookup names."""
    variables = _bundle(bundle_root).get("variables") or {}
    return {
        name: spec["lookup"]["service_principal"]
        for name, spec in variables.items()
        if "service_principal" in (spec.get("lookup") or {})
    }


def deploy_jobs(
    w: WorkspaceClient, target: str = "local", overrides: dict[str, str] | None = None
) -> dict[str, int]:
    """Create every job of the bundle, or reset the one of the same name when its settings differ (a second
    deploy writes nothing); returns job name → job id. Build the artifacts first (:func:`build_artifacts`).

    A target that names a workspace (``workspace.host``: dev, prod) gets the bundle's files and wheels
    uploaded first and its jobs name them there (:mod:`climatelake.workspace_sync`, the CLI's layout); the
    local target's jobs name them where they lie, which the workspace stand-in reads."""
    jobs = load_jobs(target, overrides, lookup=bundle_access.service_principal_lookup(w))
    bundle = _bundle(BUNDLE_ROOT)
    if (((bundle.get("targets") or {}).get(target) or {}).get("workspace") or {}).get("host"):
        from climatelake import workspace_sync

        root = workspace_sync.root_path(w, bundle, target)
        local_root = sync_root(bundle, BUNDLE_ROOT)
        sync_paths = [(BUNDLE_ROOT / p).resolve() for p in (bundle.get("sync") or {}).get("paths") or ["."]]
        mapping = workspace_sync.sync(w, root, local_root, sync_paths, built_artifacts(target))
        jobs = workspace_sync.to_workspace(jobs, mapping, local_root, f"{root}/files")
    deployed: dict[str, int] = {}
    for settings in jobs.values():
        settings = dict(settings)
        permissions = settings.pop("permissions", None) or []
        existing = [j for j in w.jobs.list(name=settings["name"])]
        job_settings = JobSettings.from_dict(settings)
        if existing:
            job_id = existing[0].job_id
            if not _same_settings(w.jobs.get(job_id).settings, job_settings):
                w.jobs.reset(job_id=job_id, new_settings=job_settings)
        else:
            job_id = w.jobs.create(**{k: getattr(job_settings, k) for k in settings}).job_id
        deployed[settings["name"]] = job_id
        _apply_job_permissions(w, job_id, permissions)
    return deployed


def _apply_job_permissions(w: WorkspaceClient, job_id: int, permissions: list[dict[str, str]]) -> None:
    """The job's declared ``permissions`` (Asset Bundles: ``level`` and ``user_name`` | ``group_name`` |
    ``service_principal_name``), each declared principal at exactly its level, through the Permissions API
    (``w.jobs.update_permissions``: PATCH, so entries the bundle does not name stay); nothing written when
    every declared level is already held directly."""
    if not permissions:
        return
    held = {}
    for entry in w.jobs.get_permissions(str(job_id)).access_control_list or []:
        name = entry.user_name or entry.group_name or entry.service_principal_name or ""
        direct = [p.permission_level.value for p in entry.all_permissions or [] if not p.inherited]
        held[name.lower()] = direct
    changes = []
    for declared in permissions:
        kind = next(k for k in ("user_name", "group_name", "service_principal_name") if declared.get(k))
        if held.get(declared[kind].lower()) != [declared["level"]]:
            changes.append(
                JobAccessControlRequest(
                    **{kind: declared[kind]}, permission_level=JobPermissionLevel(declared["level"])
                )
            )
    if changes:
        w.jobs.update_permissions(str(job_id), access_control_list=changes)


def _same_settings(current: JobSettings | None, wanted: JobSettings) -> bool:
    """Whether a job already has every setting the bundle gives it (the workspace may add defaults)."""
    have = current.as_dict() if current else {}
    return all(have.get(key) == value for key, value in wanted.as_dict().items())


def job_id_by_name(w: WorkspaceClient, name: str) -> int:
    for job in w.jobs.list(name=name):
        return job.job_id
    raise LookupError(f"no job named {name!r} in the workspace; deploy the bundle first (climatelake deploy)")
