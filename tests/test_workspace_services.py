"""Secrets 2.0, retries on 429/503, Jobs 2.2 additions (update, runs/submit, python_wheel_task, a crashed
worker) and a restart, through databricks-sdk unchanged against the in-process workspace stand-in."""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from databricks.sdk.errors import NotFound, ResourceAlreadyExists
from databricks.sdk.service import compute, jobs

from emulators.stack import wait_until
from emulators.workspace.testing import TOKEN, InProcessWorkspace

HEADERS = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def workspace(tmp_path: Path) -> Iterator[InProcessWorkspace]:
    ws = InProcessWorkspace(tmp_path / "ws").start()
    yield ws
    ws.stop()


def test_secrets_round_trip_in_base64_and_are_encrypted_at_rest(workspace: InProcessWorkspace):
    w = workspace.client()
    scope = f"scope-{uuid.uuid4().hex[:6]}"
    w.secrets.create_scope(scope=scope)
    with pytest.raises(ResourceAlreadyExists):
        w.secrets.create_scope(scope=scope)
    plain = f"s3cr3t-{uuid.uuid4().hex}"
    w.secrets.put_secret(scope=scope, key="db-password", string_value=plain)
    w.secrets.put_secret(scope=scope, key="blob", bytes_value=base64.b64encode(b"\x00\xffbytes").decode())
    assert base64.b64decode(w.secrets.get_secret(scope=scope, key="db-password").value).decode() == plain
    assert base64.b64decode(w.secrets.get_secret(scope=scope, key="blob").value) == b"\x00\xffbytes"
    assert scope in [s.name for s in w.secrets.list_scopes()]
    assert sorted(s.key for s in w.secrets.list_secrets(scope=scope)) == ["blob", "db-password"]
    assert all(s.last_updated_timestamp > 0 for s in w.secrets.list_secrets(scope=scope))
    store = (workspace.config.data_dir / "workspace.sqlite").read_bytes()
    wal = workspace.config.data_dir / "workspace.sqlite-wal"
    raw = store + (wal.read_bytes() if wal.exists() else b"")
    assert plain.encode() not in raw and base64.b64encode(plain.encode()) not in raw
    key_file = workspace.config.data_dir / "secrets.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    w.secrets.delete_secret(scope=scope, key="blob")
    with pytest.raises(NotFound):
        w.secrets.get_secret(scope=scope, key="blob")
    w.secrets.delete_scope(scope=scope)
    with pytest.raises(NotFound):
        w.secrets.list_secrets(scope=scope)
    with pytest.raises(NotFound):
        w.secrets.put_secret(scope="missing-scope", key="k", string_value="v")


def test_sdk_retries_429_and_503_after_retry_after(workspace: InProcessWorkspace):
    w = workspace.client(retry_timeout_seconds=30)
    w.catalogs.create(name="retried")
    faults = f"{workspace.url}/api/2.0/local/faults"
    path = "/api/2.1/unity-catalog/catalogs/retried"
    for status in (429, 503):
        rule = {"path": path, "method": "GET", "status": status, "retry_after": 1, "count": 1}
        requests.post(faults, json=rule, headers=HEADERS, timeout=5).raise_for_status()
    raw = requests.get(f"{workspace.url}{path}", headers=HEADERS, timeout=5)
    assert raw.status_code == 429 and raw.headers["Retry-After"] == "1"
    assert raw.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    started = time.monotonic()
    assert w.catalogs.get("retried").name == "retried"  # the 503 first, then success
    assert time.monotonic() - started >= 0.9  # it waited as Retry-After said
    assert requests.get(faults, headers=HEADERS, timeout=5).json() == {"faults": []}


def _job_file(tmp_path: Path, name: str, code: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(code)
    return str(path)


def test_jobs_update_merges_tasks_and_removes_fields(workspace: InProcessWorkspace, tmp_path: Path):
    w = workspace.client()
    ok = _job_file(tmp_path, "ok", "print('ok')\n")
    job_id = w.jobs.create(
        name="to-update",
        max_concurrent_runs=3,
        tasks=[jobs.Task(task_key="a", spark_python_task=jobs.SparkPythonTask(python_file=ok))],
    ).job_id
    w.jobs.update(
        job_id,
        new_settings=jobs.JobSettings(
            name="updated",
            tasks=[
                jobs.Task(
                    task_key="b",
                    depends_on=[jobs.TaskDependency(task_key="a")],
                    spark_python_task=jobs.SparkPythonTask(python_file=ok),
                )
            ],
        ),
        fields_to_remove=["max_concurrent_runs"],
    )
    settings = w.jobs.get(job_id).settings
    assert settings.name == "updated" and settings.max_concurrent_runs is None
    assert [t.task_key for t in settings.tasks] == ["a", "b"]
    run = w.jobs.run_now(job_id).result(timeout=dt.timedelta(seconds=60))
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert [(t.task_key, t.state.result_state) for t in run.tasks] == [
        ("a", jobs.RunResultState.SUCCESS),
        ("b", jobs.RunResultState.SUCCESS),
    ]
    assert all(t.start_time > 0 and t.end_time >= t.start_time for t in run.tasks)
    assert run.tasks[1].spark_python_task.python_file == ok


def _wheel(tmp_path: Path) -> Path:
    """A minimal pure-Python wheel with a console-script entry point."""
    path = tmp_path / "hello_pkg-0.1.0-py3-none-any.whl"
    info = "hello_pkg-0.1.0.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(
            "hello_pkg/__init__.py",
            "import sys\n\ndef main():\n    print('wheel args', sys.argv[1:])\n    return 0\n",
        )
        wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: hello-pkg\nVersion: 0.1.0\n")
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/entry_points.txt", "[console_scripts]\nhello = hello_pkg:main\n")
        wheel.writestr(f"{info}/RECORD", "")
    return path


def test_runs_submit_with_a_python_wheel_task(workspace: InProcessWorkspace, tmp_path: Path):
    w = workspace.client()
    wheel = _wheel(tmp_path)
    run = w.jobs.submit(
        run_name="one-off",
        tasks=[
            jobs.SubmitTask(
                task_key="wheel",
                python_wheel_task=jobs.PythonWheelTask(
                    package_name="hello_pkg",
                    entry_point="hello",
                    parameters=["a"],
                    named_parameters={"x": "1"},
                ),
                libraries=[compute.Library(whl=str(wheel))],
            )
        ],
        idempotency_token=f"submit-{uuid.uuid4().hex}",
    ).result(timeout=dt.timedelta(seconds=60))
    assert run.run_type == jobs.RunType.SUBMIT_RUN and run.run_name == "one-off"
    assert run.state.result_state == jobs.RunResultState.SUCCESS, run.state.state_message
    assert run.tasks[0].python_wheel_task.entry_point == "hello"
    log = (workspace.config.data_dir / "run-logs" / str(run.run_id) / "wheel.log").read_text()
    assert "wheel args ['a', '--x=1']" in log


def test_a_crashed_worker_ends_the_run_internal_error(workspace: InProcessWorkspace, tmp_path: Path):
    w = workspace.client()
    crash = _job_file(tmp_path, "crash", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    job_id = w.jobs.create(
        name="crashing",
        tasks=[jobs.Task(task_key="main", spark_python_task=jobs.SparkPythonTask(python_file=crash))],
    ).job_id
    run_id = w.jobs.run_now(job_id).run_id
    wait_until(
        lambda: w.jobs.get_run(run_id).state.life_cycle_state == jobs.RunLifeCycleState.INTERNAL_ERROR,
        60,
        "the run ended INTERNAL_ERROR",
    )
    run = w.jobs.get_run(run_id)
    assert "died (SIGKILL)" in run.state.state_message
    assert run.tasks[0].state.life_cycle_state == jobs.RunLifeCycleState.INTERNAL_ERROR
    assert run.end_time >= run.start_time > 0


def test_catalogs_tables_jobs_runs_and_secrets_survive_a_restart(tmp_path: Path):
    ws = InProcessWorkspace(tmp_path / "ws").start()
    ok = _job_file(tmp_path, "ok", "print('ok')\n")
    try:
        w = ws.client()
        w.catalogs.create(name="kept")
        w.schemas.create(name="s", catalog_name="kept")
        ws.register_external_table(
            "kept.s.t",
            "abfss://lake@devstoreaccount1.dfs.core.windows.net/t",
            columns=[{"name": "id", "type_name": "LONG", "type_text": "bigint", "position": 0}],
        )
        job_id = w.jobs.create(
            name="kept-job",
            tasks=[jobs.Task(task_key="main", spark_python_task=jobs.SparkPythonTask(python_file=ok))],
        ).job_id
        run = w.jobs.run_now(job_id).result(timeout=dt.timedelta(seconds=60))
        w.secrets.create_scope(scope="kept-scope")
        w.secrets.put_secret(scope="kept-scope", key="k", string_value="still here")
    finally:
        ws.stop()
    ws.start()
    try:
        w = ws.client()
        assert w.catalogs.get("kept").name == "kept"
        assert w.tables.get("kept.s.t").columns[0].name == "id"
        assert w.jobs.get(job_id).settings.name == "kept-job"
        again = w.jobs.get_run(run.run_id)
        assert again.state.result_state == jobs.RunResultState.SUCCESS
        assert [r.run_id for r in w.jobs.list_runs(job_id=job_id)] == [run.run_id]
        assert base64.b64decode(w.secrets.get_secret(scope="kept-scope", key="k").value) == b"still here"
    finally:
        ws.stop()
