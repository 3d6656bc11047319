"""The functions' job-id cache (functions/job_runs.py) against the workspace stand-in's real answers: one
``jobs/list`` per name, and a job deleted and created again under the same name (a re-deploy, new id) is
still found — run-now's 400 "Job <id> does not exist." drops the cached id (issue 18)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue
from databricks.sdk.service import jobs

from emulators.workspace.testing import InProcessWorkspace
from functions import job_runs

DONE = dt.timedelta(seconds=60)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WorkspaceClient, str]]:
    folder = Path(tmp_path_factory.mktemp("job-runs"))
    script = folder / "ok.py"
    script.write_text("print('ran')\n")
    ws = InProcessWorkspace(folder / "ws").start()
    yield ws.client(), str(script)
    ws.stop()


def _deploy(w: WorkspaceClient, script: str, name: str) -> int:
    task = jobs.Task(task_key="main", spark_python_task=jobs.SparkPythonTask(python_file=script))
    parameter = jobs.JobParameterDefinition(name="request_id", default="")
    return w.jobs.create(name=name, tasks=[task], parameters=[parameter]).job_id


def _counting_lists(w: WorkspaceClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every jobs/list the cache makes (the call it saves)."""
    names: list[str] = []
    listing = w.jobs.list

    def counted(*args, **kwargs):
        names.append(kwargs.get("name", ""))
        return listing(*args, **kwargs)

    monkeypatch.setattr(w.jobs, "list", counted)
    return names


def _run_now(w: WorkspaceClient, **parameters: str):
    token = uuid.uuid4().hex
    return lambda job_id: w.jobs.run_now(job_id, job_parameters=parameters, idempotency_token=token)


def test_a_redeployed_job_is_found_under_its_new_id(workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    w, script = workspace
    name = f"redeployed-{uuid.uuid4().hex[:6]}"
    first = _deploy(w, script, name)
    lists = _counting_lists(w, monkeypatch)

    waiter, used = job_runs.with_job_id(w, name, _run_now(w, request_id="a"))
    assert used == first and waiter.result(timeout=DONE).job_id == first
    waiter, used = job_runs.with_job_id(w, name, _run_now(w, request_id="b"))
    assert used == first and lists == [name]  # the second run-now listed nothing

    w.jobs.delete(first)
    second = _deploy(w, script, name)
    assert second != first
    waiter, used = job_runs.with_job_id(w, name, _run_now(w, request_id="c"))
    assert used == second and waiter.result(timeout=DONE).job_id == second
    assert lists == [name, name]  # listed again only after the workspace said the old id was gone
    assert job_runs.cached_job_id(w, name) == second


def test_a_refusal_about_something_else_is_raised_and_the_id_kept(workspace) -> None:
    w, script = workspace
    name = f"kept-{uuid.uuid4().hex[:6]}"
    job_id = _deploy(w, script, name)
    with pytest.raises(InvalidParameterValue, match="not defined"):
        job_runs.with_job_id(w, name, _run_now(w, no_such_parameter="x"))
    assert job_runs.cached_job_id(w, name) == job_id


def test_a_job_gone_without_a_successor_is_a_lookup_error(workspace) -> None:
    w, script = workspace
    name = f"gone-{uuid.uuid4().hex[:6]}"
    job_id = _deploy(w, script, name)
    assert job_runs.cached_job_id(w, name) == job_id
    w.jobs.delete(job_id)
    with pytest.raises(LookupError, match="deploy the bundle first"):
        job_runs.with_job_id(w, name, _run_now(w, request_id="d"))
