"""The Asset Bundle is read the way `databricks bundle` would: variables, targets, includes, paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from climatelake.bundle import BUNDLE_ROOT, bundle_variables, load_jobs


def test_jobs_resolve_variables_and_file_paths():
    jobs = load_jobs("local", {"storage_account": "acct"})
    request_job = jobs["climatelake_weather_request"]
    task = request_job["tasks"][0]["spark_python_task"]
    assert Path(task["python_file"]) == BUNDLE_ROOT / "src" / "extract_request.py"
    assert Path(task["python_file"]).is_file()
    params = task["parameters"]
    assert params[params.index("--lake-root") + 1] == "abfss://lake@acct.dfs.core.windows.net"
    assert "{{job.parameters.request_id}}" in params  # runtime references are left for the workspace
    assert {p["name"] for p in request_job["parameters"]} == {
        "request_id",
        "city_ids",
        "start_date",
        "end_date",
        "metrics",
        "granularity",
    }
    assert request_job["webhook_notifications"]["on_success"] == [{"id": "climatelake-job-events"}]


def test_files_outside_the_bundle_are_named_from_the_sync_root():
    """``sync.paths`` includes ../sql: ${workspace.file_path} is the repository root, as the CLI makes it, so
    the employees job finds sql/pii_masks.sql locally and on Databricks alike."""
    assert Path(bundle_variables()["workspace.file_path"]) == BUNDLE_ROOT.parent
    for job in ("climatelake_employees", "climatelake_employees_rotate"):
        params = load_jobs()[job]["tasks"][0]["spark_python_task"]["parameters"]
        masks = Path(params[params.index("--masks-sql") + 1])
        assert masks == BUNDLE_ROOT.parent / "sql" / "pii_masks.sql" and masks.is_file()


def test_targets_override_defaults():
    assert bundle_variables("prod")["var.storage_account"] == "climatelakeprod"
    assert bundle_variables("local")["var.catalog"] == "climatelake"
    with pytest.raises(ValueError, match="unknown bundle target"):
        bundle_variables("staging")


def test_bundle_root_is_not_a_python_package():
    # `databricks` is databricks-sdk's namespace package: an __init__.py here would shadow it.
    assert not (BUNDLE_ROOT / "__init__.py").exists()


def test_function_app_requirements_match_the_project():
    """Azure builds the function app from requirements.txt; it must not drift from pyproject.toml."""
    import tomllib

    root = BUNDLE_ROOT.parent
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    listed = [
        line
        for line in (root / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert listed == declared


def test_every_wheel_a_job_names_exists_after_the_build(monkeypatch: pytest.MonkeyPatch):
    """The bundle builds what it references: its `artifacts` build the project's wheel into dist/, and each
    job's wheel references (environment dependencies, task libraries) resolve to built files, as
    `databricks bundle deploy` resolves them before uploading."""
    import zipfile

    from climatelake import bundle
    from climatelake.bundle import build_artifacts

    wheels = build_artifacts()
    assert [w.parent for w in wheels] == [BUNDLE_ROOT.parent / "dist"]
    assert "climatelake/pii.py" in zipfile.ZipFile(wheels[0]).namelist()  # what the employees tasks import
    named = []
    for job in load_jobs().values():
        for environment in job.get("environments") or []:
            named += [d for d in environment["spec"].get("dependencies") or [] if d.endswith(".whl")]
        for task in job["tasks"]:
            named += [lib["whl"] for lib in task.get("libraries") or [] if "whl" in lib]
    assert named, "no job names a wheel: the employees jobs should"
    for path in named:
        assert Path(path).is_file(), f"{path} is named by a job but was not built"
        assert Path(path) in wheels
    built_at = wheels[0].stat().st_mtime_ns
    # sources unchanged since (other sessions may edit this checkout meanwhile): the wheel is reused
    monkeypatch.setattr(bundle, "_sources_mtime", lambda path: 0.0)
    assert build_artifacts() == wheels and wheels[0].stat().st_mtime_ns == built_at  # up to date: reused
