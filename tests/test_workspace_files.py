"""Workspace files 2.0 of the workspace stand-in through databricks-sdk's own calls (upload, download,
mkdirs, get_status, list, delete), as ``climatelake.workspace_sync`` and the Databricks CLI use them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk.errors import DatabricksError, NotFound, ResourceAlreadyExists
from databricks.sdk.service.workspace import ImportFormat, ObjectType

from emulators.workspace.testing import InProcessWorkspace


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator[InProcessWorkspace]:
    workspace = InProcessWorkspace(tmp_path / "ws").start()
    yield workspace
    workspace.stop()


def test_files_round_trip_and_errors(ws: InProcessWorkspace):
    w = ws.client()
    root = "/Workspace/Users/ada@example.com/.bundle/b/dev"
    with pytest.raises(NotFound, match="parent folder"):
        w.workspace.upload(f"{root}/files/a.py", b"print(1)\n", format=ImportFormat.AUTO)
    w.workspace.mkdirs(f"{root}/files/src")
    w.workspace.upload(f"{root}/files/src/a.py", b"print(1)\n", format=ImportFormat.AUTO)
    assert w.workspace.download(f"{root}/files/src/a.py").read() == b"print(1)\n"
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload(f"{root}/files/src/a.py", b"print(2)\n", format=ImportFormat.AUTO)
    w.workspace.upload(f"{root}/files/src/a.py", b"print(2)\n", format=ImportFormat.AUTO, overwrite=True)
    # /Workspace/Users/… and /Users/… are one tree, as in Databricks
    assert w.workspace.download("/Users/ada@example.com/.bundle/b/dev/files/src/a.py").read() == b"print(2)\n"
    status = w.workspace.get_status(f"{root}/files/src/a.py")
    assert status.object_type == ObjectType.FILE and status.size == 9 and status.object_id
    assert [o.path for o in w.workspace.list(f"{root}/files")] == [
        "/Users/ada@example.com/.bundle/b/dev/files/src"
    ]
    with pytest.raises(NotFound):
        w.workspace.get_status(f"{root}/nothing")
    with pytest.raises(DatabricksError, match="not empty"):
        w.workspace.delete(f"{root}/files")
    w.workspace.delete(f"{root}/files", recursive=True)
    with pytest.raises(NotFound):
        w.workspace.download(f"{root}/files/src/a.py")


def test_a_job_runs_files_it_names_in_the_workspace(ws: InProcessWorkspace):
    """As on a cluster, where /Workspace is mounted: a task's python_file and the workspace paths among its
    parameters are read from the workspace's files (a sibling module imports too)."""
    from databricks.sdk.service import jobs

    w = ws.client()
    root = "/Workspace/Users/ada@example.com/.bundle/b/dev/files"
    w.workspace.mkdirs(f"{root}/src")
    w.workspace.mkdirs(f"{root}/sql")
    helper = b"GREETING = 'from the workspace'\n"
    w.workspace.upload(f"{root}/src/helper.py", helper, format=ImportFormat.AUTO)
    main = b"import sys\nfrom helper import GREETING\nprint(GREETING, open(sys.argv[1]).read())\n"
    w.workspace.upload(f"{root}/src/main.py", main, format=ImportFormat.AUTO)
    w.workspace.upload(f"{root}/sql/q.sql", b"SELECT 1", format=ImportFormat.AUTO)
    job = w.jobs.create(
        name="from-workspace",
        tasks=[
            jobs.Task(
                task_key="t",
                spark_python_task=jobs.SparkPythonTask(
                    python_file=f"{root}/src/main.py", parameters=[f"{root}/sql/q.sql"]
                ),
            )
        ],
    )
    run = w.jobs.run_now(job.job_id).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS, run.state
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert "from the workspace SELECT 1" in output.logs
