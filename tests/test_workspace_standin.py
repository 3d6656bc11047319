"""The workspace stand-in against databricks-sdk, unchanged: Unity Catalog, Jobs 2.2, errors, restart."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    BadRequest,
    InvalidParameterValue,
    InvalidState,
    NotFound,
    ResourceConflict,
    ResourceDoesNotExist,
    Unauthenticated,
)
from databricks.sdk.service import jobs

from emulators.common.event_sink import EventSink
from emulators.stack import wait_until
from emulators.workspace.testing import InProcessWorkspace
from emulators.workspace.warm_python import WarmPython


class Workspace(InProcessWorkspace):
    """An in-process stand-in on a free port, restartable on the same data folder."""

    def __init__(self, data_dir: Path, destinations: dict[str, str] | None = None) -> None:
        super().__init__(data_dir, notification_destinations=destinations or {})
        self.start()


@pytest.fixture()
def workspace(tmp_path: Path, event_sink: EventSink) -> Iterator[Workspace]:
    ws = Workspace(tmp_path / "ws", {"hook": event_sink.url})
    yield ws
    ws.stop()


def job_files(tmp_path: Path) -> dict[str, str]:
    files = {
        "ok": "import sys\nprint('args', sys.argv[1:])\n",
        "fail": "raise ValueError('boom: the input is wrong')\n",
        "wait": "import time\nfor _ in range(600):\n    time.sleep(0.1)\n",
    }
    paths = {}
    for name, code in files.items():
        path = tmp_path / f"{name}.py"
        path.write_text(code)
        paths[name] = str(path)
    return paths


def python_job(w: WorkspaceClient, name: str, path: str, **settings) -> int:
    return w.jobs.create(
        name=name,
        tasks=[
            jobs.Task(
                task_key="main",
                spark_python_task=jobs.SparkPythonTask(
                    python_file=path, parameters=["--id", "{{job.parameters.request_id}}"]
                ),
            )
        ],
        parameters=[jobs.JobParameterDefinition(name="request_id", default="none")],
        **settings,
    ).job_id


def test_catalogs_schemas_tables_round_trip(workspace: Workspace):
    w = workspace.client()
    catalog = w.catalogs.create(name="Sales", comment="c")
    assert catalog.name == "sales" and catalog.owner == "ada@example.com" and catalog.created_at > 0
    w.schemas.create(name="raw", catalog_name="sales")
    assert [s.full_name for s in w.schemas.list(catalog_name="sales")] == ["sales.raw"]
    w.api_client.do(
        "POST",
        "/api/2.1/unity-catalog/tables",
        body={
            "catalog_name": "sales",
            "schema_name": "raw",
            "name": "orders",
            "table_type": "EXTERNAL",
            "data_source_format": "DELTA",
            "storage_location": "abfss://lake@acct.dfs.core.windows.net/orders",
            "columns": [{"name": "id", "type_name": "LONG", "type_text": "bigint", "position": 0}],
        },
    )
    table = w.tables.get("sales.raw.orders")
    assert table.table_type.value == "EXTERNAL" and table.columns[0].name == "id"
    assert [t.name for t in w.tables.list(catalog_name="sales", schema_name="raw")] == ["orders"]
    with pytest.raises(InvalidParameterValue):
        w.catalogs.delete("sales")  # not empty
    w.catalogs.delete("sales", force=True)
    with pytest.raises(NotFound):
        w.tables.get("sales.raw.orders")


def test_errors_map_to_the_sdk_classes(workspace: Workspace):
    w = workspace.client()
    w.catalogs.create(name="dup")
    # a real workspace answers a duplicate catalog 400 CATALOG_ALREADY_EXISTS: the SDK's BadRequest
    with pytest.raises(BadRequest, match="already exists") as duplicate:
        w.catalogs.create(name="DUP")
    assert not isinstance(duplicate.value, ResourceConflict)
    w.catalogs.create(name="other")
    with pytest.raises(BadRequest, match="already exists"):
        w.catalogs.update("other", new_name="dup")
    with pytest.raises(NotFound):
        w.catalogs.get("missing")
    with pytest.raises(InvalidParameterValue):
        w.catalogs.create(name="bad.name")
    with pytest.raises(Unauthenticated):
        list(workspace.client(token="wrong").catalogs.list())


def test_listing_pages_neither_skip_nor_repeat(workspace: Workspace):
    w = workspace.client()
    names = [f"c{i:02d}" for i in range(25)]
    for name in names:
        w.catalogs.create(name=name)
    first = w.api_client.do("GET", "/api/2.1/unity-catalog/catalogs", query={"max_results": 10})
    assert len(first["catalogs"]) == 10 and first["next_page_token"]
    assert [c.name for c in w.catalogs.list(max_results=7)] == names  # the SDK follows next_page_token


def test_run_now_runs_the_file_and_the_waiter_sees_success(
    workspace: Workspace, tmp_path: Path, event_sink: EventSink
):
    w = workspace.client()
    job_id = python_job(
        w,
        "ok-job",
        job_files(tmp_path)["ok"],
        webhook_notifications=jobs.WebhookNotifications(
            on_success=[jobs.Webhook(id="hook")], on_failure=[jobs.Webhook(id="hook")]
        ),
    )
    run = w.jobs.run_now(job_id, job_parameters={"request_id": "r-1"}).result(
        timeout=dt.timedelta(seconds=60)
    )
    assert run.state.life_cycle_state == jobs.RunLifeCycleState.TERMINATED
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert {p.name: p.value for p in run.job_parameters} == {"request_id": "r-1"}
    assert run.tasks[0].state.result_state == jobs.RunResultState.SUCCESS
    log = Path(workspace.config.data_dir / "run-logs" / str(run.run_id) / "main.log").read_text()
    assert "args ['--id', 'r-1']" in log  # the dynamic value reference was resolved
    notice = event_sink.wait_for(lambda e: e.get("run", {}).get("run_id") == run.run_id, timeout=30)
    assert notice == {
        "event_type": "jobs.on_success",
        "workspace_id": "0",
        "run": {"run_id": run.run_id},
        "job": {"job_id": job_id, "name": "ok-job"},
    }


def test_failed_run_terminates_failed_with_the_error(
    workspace: Workspace, tmp_path: Path, event_sink: EventSink
):
    w = workspace.client()
    job_id = python_job(
        w,
        "bad-job",
        job_files(tmp_path)["fail"],
        webhook_notifications=jobs.WebhookNotifications(on_failure=[jobs.Webhook(id="hook")]),
    )
    run = w.jobs.run_now(job_id).result(timeout=dt.timedelta(seconds=60))
    # The SDK's waiter returns on TERMINATED even when the run failed: the result_state says so.
    assert run.state.result_state == jobs.RunResultState.FAILED
    assert "boom: the input is wrong" in run.state.state_message
    output = w.jobs.get_run_output(run.run_id)
    assert "ValueError" in output.error
    notice = event_sink.wait_for(lambda e: e.get("run", {}).get("run_id") == run.run_id, timeout=30)
    assert notice["event_type"] == "jobs.on_failure"


def test_idempotency_token_returns_the_same_run(workspace: Workspace, tmp_path: Path):
    w = workspace.client()
    job_id = python_job(w, "idem", job_files(tmp_path)["ok"])
    first = w.jobs.run_now(job_id, idempotency_token="req-42").run_id
    second = w.jobs.run_now(job_id, idempotency_token="req-42").run_id
    third = w.jobs.run_now(job_id, idempotency_token="req-43").run_id
    assert first == second != third
    assert len(list(w.jobs.list_runs(job_id=job_id))) == 2


def test_cancel_and_queueing(workspace: Workspace, tmp_path: Path):
    w = workspace.client()
    job_id = python_job(
        w, "slow", job_files(tmp_path)["wait"], max_concurrent_runs=1, queue=jobs.QueueSettings(enabled=True)
    )
    first = w.jobs.run_now(job_id).run_id
    second = w.jobs.run_now(job_id).run_id
    wait_until(
        lambda: w.jobs.get_run(second).state.life_cycle_state == jobs.RunLifeCycleState.QUEUED,
        30,
        "the second run queued behind the first",
    )
    assert w.jobs.get_run(first).state.life_cycle_state == jobs.RunLifeCycleState.RUNNING
    cancelled = w.jobs.cancel_run(first).result(timeout=dt.timedelta(seconds=60))
    assert cancelled.state.result_state == jobs.RunResultState.CANCELED
    w.jobs.cancel_run(second).result(timeout=dt.timedelta(seconds=60))


def test_queued_runs_start_oldest_first(workspace: Workspace, tmp_path: Path):
    """A job at ``max_concurrent_runs: 1`` with runs queued behind a running one starts them in the order
    they were queued (the stand-in started the newest first, which under a burst left the first requests
    waiting until the queue emptied: R4 load test)."""
    gate = tmp_path / "open"
    blocker = tmp_path / "blocker.py"
    blocker.write_text(f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\n")
    w = workspace.client()
    queue = jobs.QueueSettings(enabled=True)
    job_id = python_job(w, "fifo", str(blocker), max_concurrent_runs=1, queue=queue)
    runs = [w.jobs.run_now(job_id).run_id for _ in range(4)]
    wait_until(
        lambda: all(
            w.jobs.get_run(r).state.life_cycle_state == jobs.RunLifeCycleState.QUEUED for r in runs[1:]
        ),
        30,
        "three runs queued behind the first",
    )
    gate.touch()
    for run_id in runs:
        w.jobs.wait_get_run_job_terminated_or_skipped(run_id, timeout=dt.timedelta(seconds=60))
    started = [w.jobs.get_run(r).tasks[0].start_time for r in runs]
    assert started == sorted(started), dict(zip(runs, started, strict=True))


def test_state_survives_a_restart_and_lost_runs_end(tmp_path: Path):
    ws = Workspace(tmp_path / "ws")
    try:
        w = ws.client()
        w.catalogs.create(name="kept")
        job_id = python_job(w, "kept-job", job_files(tmp_path)["wait"])
        run_id = w.jobs.run_now(job_id).run_id
        wait_until(
            lambda: w.jobs.get_run(run_id).state.life_cycle_state == jobs.RunLifeCycleState.RUNNING,
            30,
            "the run started",
        )
    finally:
        ws.stop()
    ws.start()
    try:
        w = ws.client()
        assert w.catalogs.get("kept").name == "kept"
        assert w.jobs.get(job_id).settings.name == "kept-job"
        lost = w.jobs.get_run(run_id)
        assert lost.state.life_cycle_state == jobs.RunLifeCycleState.INTERNAL_ERROR
        assert "restarted" in lost.state.state_message
    finally:
        ws.stop()


def test_a_run_lost_in_a_restart_notifies_on_failure(tmp_path: Path, event_sink: EventSink):
    """Databricks counts a run ending INTERNAL_ERROR as failed (databricks-sdk's JobEmailNotifications
    .on_failure): its on_failure webhooks fire, so whoever waits on them learns of the lost run."""
    ws = Workspace(tmp_path / "ws", {"hook": event_sink.url})
    try:
        w = ws.client()
        job_id = python_job(
            w,
            "lost-job",
            job_files(tmp_path)["wait"],
            webhook_notifications=jobs.WebhookNotifications(on_failure=[jobs.Webhook(id="hook")]),
        )
        run_id = w.jobs.run_now(job_id).run_id
        wait_until(
            lambda: w.jobs.get_run(run_id).state.life_cycle_state == jobs.RunLifeCycleState.RUNNING,
            30,
            "the run started",
        )
    finally:
        ws.stop()
    ws.start()
    try:
        notice = event_sink.wait_for(lambda e: e.get("run", {}).get("run_id") == run_id, timeout=30)
        assert notice["event_type"] == "jobs.on_failure"
        lost = ws.client().jobs.get_run(run_id)
        assert lost.state.life_cycle_state == jobs.RunLifeCycleState.INTERNAL_ERROR
    finally:
        ws.stop()


def test_tasks_fork_fresh_from_the_warm_python_and_it_stops_with_the_workspace(tmp_path: Path):
    """Each spark_python_task runs like ``python <file>``: its own __main__, folder, sys.path[0] and
    module state (a change to an already imported module does not reach the next task); the warm server
    it was forked from ends with the workspace."""
    probe = tmp_path / "jobs" / "probe.py"
    probe.parent.mkdir()
    probe.write_text(
        "import os, sys, pyspark.sql\n"
        "print('seen', getattr(pyspark.sql, 'probe_marker', None), 'main', __name__)\n"
        "pyspark.sql.probe_marker = 'set'\n"
        "print('cwd', os.getcwd(), 'path0', sys.path[0], 'parent', os.getppid())\n"
        "print('preloaded', 'pyspark.sql.connect.session' in sys.modules)\n"
    )
    ws = Workspace(tmp_path / "ws")
    try:
        w = ws.client()
        job_id = python_job(w, "probe", str(probe))
        logs = []
        for _ in range(2):
            run = w.jobs.run_now(job_id).result(timeout=dt.timedelta(seconds=60))
            assert run.state.result_state == jobs.RunResultState.SUCCESS
            logs.append((ws.config.data_dir / "run-logs" / str(run.run_id) / "main.log").read_text())
    finally:
        ws.stop()
    for log in logs:
        assert "seen None main __main__" in log
        assert f"cwd {probe.parent} path0 {probe.parent}" in log
        assert "preloaded True" in log  # forked from the warm server, not a cold interpreter
    parents = {int(log.split("parent ")[1].split()[0]) for log in logs}
    assert len(parents) == 1  # both forked by the same server
    server = parents.pop()
    wait_until(lambda: not Path(f"/proc/{server}").exists(), 10, "the warm Python server ended")


def test_plain_processes_when_the_warm_python_is_off_or_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``CLIMATELAKE_WORKSPACE_WARM_TASKS=0`` runs tasks as plain ``python`` processes; a warm server that
    cannot start says why (the runner then falls back to a process)."""
    broken = WarmPython(python="/bin/false")
    with pytest.raises(RuntimeError, match="did not start"):
        broken.start(str(tmp_path / "x.py"), [], str(tmp_path), {}, tmp_path / "x.log")
    broken.stop()
    monkeypatch.setenv("CLIMATELAKE_WORKSPACE_WARM_TASKS", "0")
    ws = Workspace(tmp_path / "ws")
    try:
        w = ws.client()
        paths = job_files(tmp_path)
        run = w.jobs.run_now(python_job(w, "plain", paths["ok"])).result(timeout=dt.timedelta(seconds=60))
        assert run.state.result_state == jobs.RunResultState.SUCCESS
        log = (ws.config.data_dir / "run-logs" / str(run.run_id) / "main.log").read_text()
        assert "args ['--id', 'none']" in log
        run = w.jobs.run_now(python_job(w, "plain-fail", paths["fail"])).result(
            timeout=dt.timedelta(seconds=60)
        )
        assert run.state.result_state == jobs.RunResultState.FAILED
        assert "boom: the input is wrong" in run.state.state_message
    finally:
        ws.stop()


def test_a_task_does_not_outlive_a_dead_warm_python(tmp_path: Path):
    """If the warm server dies, its running task is killed with it and the run ends INTERNAL_ERROR."""
    sleeper = tmp_path / "sleeper.py"
    sleeper.write_text(
        "import os, time\nprint('pids', os.getpid(), os.getppid(), flush=True)\ntime.sleep(120)\n"
    )
    ws = Workspace(tmp_path / "ws")
    try:
        w = ws.client()
        run_id = w.jobs.run_now(python_job(w, "sleeper", str(sleeper))).run_id
        log = ws.config.data_dir / "run-logs" / str(run_id) / "main.log"
        wait_until(lambda: log.is_file() and "pids" in log.read_text(), 30, "the task started")
        task_pid, server_pid = (int(p) for p in log.read_text().split("pids ")[1].split()[:2])
        os.kill(server_pid, signal.SIGKILL)
        wait_until(
            lambda: w.jobs.get_run(run_id).state.life_cycle_state == jobs.RunLifeCycleState.INTERNAL_ERROR,
            30,
            "the run ended INTERNAL_ERROR",
        )
        wait_until(lambda: not Path(f"/proc/{task_pid}").exists(), 10, "the task process is gone")
    finally:
        ws.stop()


def test_the_warm_python_is_ready_before_the_first_run_and_never_outlives_a_stop(tmp_path: Path):
    """The runner starts its warm Python in the background at start-up (the first task does not wait
    for PySpark's imports); stopping the workspace at once, while that start is under way, leaves none."""
    ws = Workspace(tmp_path / "quick")
    ws.stop()  # possibly while the server is still importing
    warm = ws.app.extensions["workspace"].executor._warm
    assert warm._server is None and warm._folder is None

    ws = Workspace(tmp_path / "ws")
    try:
        warm = ws.app.extensions["workspace"].executor._warm
        wait_until(lambda: warm._server is not None, 30, "the warm Python started without any run")
        server = warm._server
        assert server.poll() is None
    finally:
        ws.stop()
    assert server.poll() is not None


def test_a_warm_task_ends_like_a_python_process_and_bad_requests_do_not_stop_the_server(tmp_path: Path):
    """Exit status a byte, non-daemon threads awaited, numpy's random state not shared between tasks; a
    client that connects and leaves without a request does not end the server (nor its tasks)."""
    job = tmp_path / "job.py"
    job.write_text(
        "import sys, threading, time, numpy\n"
        "print('random', numpy.random.randint(1 << 30), flush=True)\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('thread finished', flush=True))).start()\n"
        "sys.exit(int(sys.argv[1]))\n"
    )
    warm = WarmPython()
    try:

        def run(code: int, log: Path) -> tuple[int, str]:
            task = warm.start(str(job), [str(code)], str(tmp_path), dict(os.environ), log)
            return task.wait(timeout=60), log.read_text()

        first = run(3, tmp_path / "first.log")
        server = warm._server.pid
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stray:
            stray.connect(warm._socket)
        second = run(256 + 7, tmp_path / "second.log")
        assert warm._server.pid == server  # the same server took the second task
    finally:
        warm.stop()
    assert first[0] == 3 and second[0] == 7  # as `python job.py 263` exits 7
    assert "thread finished" in first[1] and "thread finished" in second[1]
    assert first[1].split()[1] != second[1].split()[1]  # each task draws its own random numbers


def test_a_warm_task_s_end_is_reported_when_it_exits_not_at_the_servers_next_check(tmp_path: Path):
    """The server learns of a task's exit from SIGCHLD at once: waiting for its periodic parent check
    reported every task up to that interval late (50 ms; the bimodal task hop of issue 18, target 4).
    Here the check is 30 s apart, so only the exit can wake the server. The task's own child processes
    still work as in a fresh ``python`` (SIGCHLD is back to its default in the task)."""
    job = tmp_path / "job.py"
    job.write_text(
        "import signal, subprocess, sys\n"
        "assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL\n"
        "print('child', subprocess.run([sys.executable, '-c', 'pass']).returncode, flush=True)\n"
    )
    warm = WarmPython(parent_check=30)
    try:
        for name in ("first", "second"):
            log = tmp_path / f"{name}.log"
            task = warm.start(str(job), [], str(tmp_path), dict(os.environ), log)
            assert task.wait(timeout=10) == 0, log.read_text()
            assert "child 0" in log.read_text()
    finally:
        warm.stop()


def test_task_runs_have_their_own_output_and_finished_runs_can_be_deleted(
    workspace: Workspace, tmp_path: Path
):
    """Everyday calls of databricks-sdk users (issue 15): reading a task's output by its run id after
    ``jobs.submit``, and deleting finished runs; an active run refuses deletion."""
    w = workspace.client()
    files = job_files(tmp_path)
    submitted = w.jobs.submit(
        run_name="two tasks",
        tasks=[
            jobs.SubmitTask(
                task_key="first", spark_python_task=jobs.SparkPythonTask(python_file=files["ok"])
            ),
            jobs.SubmitTask(
                task_key="second",
                depends_on=[jobs.TaskDependency(task_key="first")],
                spark_python_task=jobs.SparkPythonTask(python_file=files["fail"]),
            ),
        ],
    ).result(timeout=dt.timedelta(seconds=60))
    first, second = sorted(submitted.tasks, key=lambda t: t.task_key)
    assert first.run_id != submitted.run_id and second.run_id != first.run_id

    ok = w.jobs.get_run_output(first.run_id)
    assert ok.metadata.run_id == first.run_id and [t.task_key for t in ok.metadata.tasks] == ["first"]
    assert "args []" in ok.logs and ok.error is None
    failed = w.jobs.get_run_output(second.run_id)
    assert "boom: the input is wrong" in failed.error and "ValueError" in failed.error_trace
    with pytest.raises(InvalidParameterValue, match="multiple tasks is not supported"):
        w.jobs.get_run_output(submitted.run_id)
    with pytest.raises(ResourceDoesNotExist):  # 400 INVALID_PARAMETER_VALUE "Run … does not exist."
        w.jobs.get_run_output(submitted.run_id * 1000 + 9)
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get_run(987654)

    waiting = w.jobs.create(
        name="waits",
        tasks=[jobs.Task(task_key="main", spark_python_task=jobs.SparkPythonTask(python_file=files["wait"]))],
    ).job_id
    active = w.jobs.run_now(waiting).run_id
    with pytest.raises(InvalidState, match="still active"):
        w.jobs.delete_run(active)
    w.jobs.cancel_run(active).result(timeout=dt.timedelta(seconds=60))
    w.jobs.delete_run(active)
    w.jobs.delete_run(submitted.run_id)
    with pytest.raises(NotFound):
        w.jobs.get_run(submitted.run_id)
    assert {r.run_id for r in w.jobs.list_runs()}.isdisjoint({active, submitted.run_id})
    with pytest.raises(BadRequest, match="does not exist"):
        w.jobs.delete_run(submitted.run_id)
