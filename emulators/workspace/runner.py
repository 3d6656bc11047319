"""Executes job runs: each task's Python file in its own worker process, connected to Sail.

Why processes: a job's code must run as it would on a Databricks cluster — a fresh Python interpreter that
gets its Spark session from the environment (``SPARK_REMOTE`` here, the cluster on Databricks) — and a
crashed job must not take the workspace down with it. ``spark_python_task`` processes are forked from a
warm Python that has PySpark imported (``warm_python.py``, like a cluster's running driver; ≈ 0.35 s less
per task); wheel tasks, which bring their own packages, start a plain interpreter.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from emulators.workspace.connect_proxy import ConnectProxy, PlanRecorder, proxied_remote, split_remote
from emulators.workspace.errors import ApiError
from emulators.workspace.jobs import Jobs, _state, _status
from emulators.workspace.run_identity import PlanAccess, RunIdentity
from emulators.workspace.warm_python import WarmPython, WarmTask

log = logging.getLogger("workspace.runner")
_REFERENCE = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")


class ParameterError(ValueError):
    pass


#: runs a python_wheel_task: the entry point from the wheel's metadata, else package.entry_point()
_WHEEL_LAUNCHER = """
import importlib, importlib.metadata as md, sys
package, name = sys.argv[1], sys.argv[2]
sys.argv = [package, *sys.argv[3:]]
norm = lambda text: text.replace('-', '_').lower()
found = [e for d in md.distributions() if norm(d.metadata['Name'] or '') == norm(package)
         for e in d.entry_points if e.name == name]
target = found[0].load() if found else getattr(importlib.import_module(package), name)
result = target()
sys.exit(result if isinstance(result, int) else 0)
"""


def resolve_references(text: str, values: dict[str, str]) -> str:
    """Replace Databricks dynamic value references (``{{job.parameters.x}}``, ``{{job.run_id}}`` …)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ParameterError(f"Unknown dynamic value reference '{{{{{name}}}}}'.")
        return values[name]

    return _REFERENCE.sub(replace, text)


def task_order(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tasks in an order that respects ``depends_on`` (stable for independent tasks)."""
    done: set[str] = set()
    ordered: list[dict[str, Any]] = []
    pending = list(tasks)
    while pending:
        ready = [t for t in pending if all(d["task_key"] in done for d in t.get("depends_on", []))]
        if not ready:
            raise ParameterError("The job's tasks have a dependency cycle or depend on unknown tasks.")
        for task in ready:
            ordered.append(task)
            done.add(task["task_key"])
            pending.remove(task)
    return ordered


class LineageHooks(Protocol):
    """What job-run lineage needs from the runner (``lineage.JobLineage`` implements it). The runner makes
    each task's ``PlanRecorder`` from the first three, so lineage never imports the proxy that imports it."""

    columns_of: Callable[[str], list[str] | None]
    engine_defaults: Callable[[], tuple[str | None, str | None]]
    tables_at: Callable[[str], set[str]]

    def task_finished(self, run: dict[str, Any], task: dict[str, Any], found: Any) -> None: ...

    def run_event(self, event_type: str, run: dict[str, Any]) -> None: ...


class RunExecutor:
    """Starts pending runs as capacity allows and drives each through its tasks.

    ``notify(event_type, run)`` is called on start, success and failure (webhook notifications). With
    ``lineage``, each task reaches the engine through its own Spark Connect proxy (``connect_proxy.py``)
    whose recorded plans become the run's lineage; the job's code does nothing for it.
    """

    def __init__(
        self,
        jobs: Jobs,
        logs_dir: Path,
        task_env: dict[str, str],
        notify: Callable[[str, dict[str, Any]], None],
        lineage: LineageHooks | None = None,
        local_path: Callable[[str], str] = lambda path: path,
    ) -> None:
        self.jobs = jobs
        self.logs_dir = logs_dir
        self.task_env = task_env
        self._notify = notify
        self.lineage = lineage
        #: where a task finds a path it names: workspace files (``/Workspace/…``, as mounted on a cluster)
        #: are kept by ``workspace_files.py``; any other path is this machine's
        self.local_path = local_path
        self._stopping = threading.Event()
        self._started: set[int] = set()
        self._processes: dict[int, subprocess.Popen | WarmTask] = {}
        warm = os.environ.get("CLIMATELAKE_WORKSPACE_WARM_TASKS", "1") != "0"
        self._warm = WarmPython() if warm else None  # spark_python_task files fork from a warm Python
        self._run_threads: list[threading.Thread] = []
        #: the engine's default catalog and schema, asked once (two Spark Connect calls, ≈ 15 ms, were
        #: paid in every task's first plan check): a new Spark session starts with the engine's configured
        #: defaults, and the recorder does not follow a task's ``USE`` anyway (connect_proxy LIMITATIONS)
        self._engine_defaults: tuple[str | None, str | None] | None = None
        #: the run's principal for tokens and plan checks (``run_identity.py``); None: the configured
        #: ``task_env`` token and no checks (set by the workspace once its directory exists)
        self.identity: RunIdentity | None = None
        self._thread = threading.Thread(target=self._dispatch, name="run-dispatcher", daemon=True)
        self._prewarm_thread = threading.Thread(target=self._prewarm, name="runner-prewarm", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._prewarm_thread.start()

    def _prewarm(self) -> None:
        """Pay one-time start-up costs before the first run needs them: the warm Python's imports
        (≈ 0.4 s) and gRPC's initialisation for the lineage proxies (≈ 0.3 s)."""
        try:
            if self._warm is not None:
                self._warm.start_server()
            upstream = split_remote(self.task_env.get("SPARK_REMOTE", ""))
            if self.lineage is not None and upstream is not None:
                ConnectProxy(upstream[0]).start().stop(0)
        except Exception:  # the first task pays instead
            log.exception("pre-warming the task runner failed")

    def notify(self, event_type: str, run: dict[str, Any]) -> None:
        """Webhook notifications, then the run's lineage event (which never fails the run)."""
        self._notify(event_type, run)
        if self.lineage is not None:
            try:
                self.lineage.run_event(event_type, run)
            except Exception:
                log.exception("lineage event %s of run %s failed", event_type, run.get("run_id"))

    def stop(self) -> None:
        self._stopping.set()
        with self.jobs.changed:
            self.jobs.changed.notify_all()
        for process in list(self._processes.values()):
            process.kill()
        self._thread.join(timeout=5)
        for thread in [*self._run_threads, self._prewarm_thread]:
            if thread.is_alive():
                thread.join(timeout=5)
        if self._warm is not None:
            self._warm.stop()

    def _dispatch(self) -> None:
        """Start pending runs, oldest first, while their job is under ``max_concurrent_runs``.

        One pass reads the runs once (under the store's lock, which every API call needs too): counting a
        job's running runs again for each pending run made a pass quadratic, and with hundreds of runs
        queued (R4 load test, 2026-12-06: 450 queued behind ``max_concurrent_runs: 1``) each pass held the
        lock for seconds, the workspace answered ``run-now`` after Event Grid's 30 s delivery timeout and
        ran about one request every ten seconds. Oldest first: newest-first starved the earliest requests
        of a burst until the queue emptied (Databricks queues a run with MAX_CONCURRENT_RUNS_REACHED until
        an active run finishes, Jobs API 2.2 ``QueueDetails``; no document promises an order, a queue that
        serves its oldest entry first is what a caller can reason about)."""
        while not self._stopping.is_set():
            with self.jobs.changed:
                runs = self.jobs.list_runs()
                running = Counter(
                    r["job_id"] for r in runs if r["state"]["life_cycle_state"] in ("RUNNING", "TERMINATING")
                )
                waiting = [r for r in runs if r["state"]["life_cycle_state"] in ("PENDING", "QUEUED")]
                for run in sorted(waiting, key=lambda r: r["run_id"]):
                    if run["run_id"] in self._started:
                        continue
                    limit = int(run["job_settings"].get("max_concurrent_runs") or 1)
                    # one-time runs (runs/submit) have no job and are never queued behind others
                    if run["job_id"] is not None and running[run["job_id"]] >= limit:
                        if run["state"]["life_cycle_state"] != "QUEUED":
                            self.jobs.set_run_state(
                                run, "QUEUED", None, "Waiting for an active run to finish."
                            )
                        continue
                    self._started.add(run["run_id"])
                    running[run["job_id"]] += 1
                    self.jobs.set_run_state(run, "RUNNING", None, "")
                    thread = threading.Thread(
                        target=self._execute, args=(run,), daemon=True, name=f"run-{run['run_id']}"
                    )
                    self._run_threads = [t for t in self._run_threads if t.is_alive()] + [thread]
                    thread.start()
                self.jobs.changed.wait(timeout=1.0)

    def _execute(self, run: dict[str, Any]) -> None:
        self.notify("jobs.on_start", run)
        try:
            result, message, tasks = self._run_tasks(run)
            if self._stopping.is_set():
                return  # like a crash: the run stays RUNNING and is ended when the workspace restarts
        except Exception as exc:  # the stand-in's own failure, not the job's
            if self._stopping.is_set():
                return
            log.exception("run %s failed inside the workspace", run["run_id"])
            run = self.jobs.get_run(run["run_id"])
            self.jobs.set_run_state(run, "INTERNAL_ERROR", None, f"Workspace error: {exc}")
            self.notify("jobs.on_failure", run)
            return
        run = self.jobs.get_run(run["run_id"])
        run["tasks"] = tasks
        if result == "INTERNAL_ERROR":  # a worker process died: the run cannot have finished
            self.jobs.set_run_state(run, "INTERNAL_ERROR", None, message)
        else:
            self.jobs.set_run_state(run, "TERMINATED", result, message)
        self.notify("jobs.on_success" if result == "SUCCESS" else "jobs.on_failure", run)

    def _run_tasks(self, run: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
        """Run the tasks in dependency order; returns (result_state, message, the tasks' final states)."""
        settings = run["job_settings"]
        deadline = time.monotonic() + settings["timeout_seconds"] if settings.get("timeout_seconds") else None
        values = {f"job.parameters.{p['name']}": p["value"] for p in run["job_parameters"]}
        values.update(
            {
                "job.id": str(run["job_id"]),
                "job.run_id": str(run["run_id"]),
                "job.name": settings.get("name", ""),
            }
        )
        tasks_by_key = {t["task_key"]: t for t in run["tasks"]}
        try:
            ordered = task_order(settings["tasks"])
        except ParameterError as exc:
            return "FAILED", str(exc), run["tasks"]
        for spec in ordered:
            task = tasks_by_key[spec["task_key"]]
            task["start_time"] = int(time.time() * 1000)
            task["attempt_number"] = 0
            task["state"] = _state("RUNNING", None, "")
            task["status"] = _status("RUNNING", None, "")
            self.jobs.save_run({**self.jobs.get_run(run["run_id"]), "tasks": list(tasks_by_key.values())})
            result, message = self._run_task(
                run,
                spec,
                task,
                {**values, "task.name": spec["task_key"], "task.run_id": str(task["run_id"])},
                deadline,
            )
            task["end_time"] = int(time.time() * 1000)
            task["execution_duration"] = task["run_duration"] = task["end_time"] - task["start_time"]
            if result == "INTERNAL_ERROR":
                task["state"] = _state("INTERNAL_ERROR", None, message)
                task["status"] = _status("INTERNAL_ERROR", None, message)
            else:
                task["state"] = _state("TERMINATED", result, message)
                task["status"] = _status("TERMINATED", result, message)
            if result != "SUCCESS":
                for other in tasks_by_key.values():
                    if other["state"]["life_cycle_state"] == "PENDING":
                        skipped = f"Upstream task {spec['task_key']} failed."
                        other["state"] = _state("SKIPPED", "UPSTREAM_FAILED", skipped)
                        other["status"] = {
                            "state": "TERMINATED",
                            "termination_details": {
                                "code": "UPSTREAM_FAILED",
                                "message": skipped,
                                "type": "CLIENT_ERROR",
                            },
                        }
                failure = f"Task {spec['task_key']} failed: {message}" if result == "FAILED" else message
                return result, failure, list(tasks_by_key.values())
        return "SUCCESS", "", list(tasks_by_key.values())

    def _command(self, spec: dict[str, Any], values: dict[str, str]) -> tuple[list[str], str, list[str]]:
        """(command, working folder, extra sys.path entries) of a task; ParameterError if it cannot run."""
        if python_task := spec.get("spark_python_task"):
            path = self.local_path(resolve_references(python_task["python_file"], values))
            args = [
                self.local_path(resolve_references(str(a), values)) for a in python_task.get("parameters", [])
            ]
            if not Path(path).is_file():
                raise ParameterError(f"python_file {path} does not exist in the workspace.")
            return [sys.executable, path, *args], str(Path(path).parent), []
        if wheel_task := spec.get("python_wheel_task"):
            wheels = [
                self.local_path(resolve_references(str(lib["whl"]), values))
                for lib in spec.get("libraries") or []
                if "whl" in lib
            ]
            missing = [w for w in wheels if not Path(w).is_file()]
            if missing:
                raise ParameterError(f"Wheel {missing[0]} does not exist in the workspace.")
            args = [resolve_references(str(a), values) for a in wheel_task.get("parameters") or []]
            args += [
                f"--{k}={resolve_references(str(v), values)}"
                for k, v in (wheel_task.get("named_parameters") or {}).items()
            ]
            command = [
                sys.executable,
                "-c",
                _WHEEL_LAUNCHER,
                wheel_task["package_name"],
                wheel_task["entry_point"],
            ]
            return [*command, *args], str(self.logs_dir), wheels
        raise ParameterError("Only spark_python_task and python_wheel_task tasks run in the local workspace.")

    def _run_task(
        self,
        run: dict[str, Any],
        spec: dict[str, Any],
        task: dict[str, Any],
        values: dict[str, str],
        deadline: float | None,
    ) -> tuple[str, str]:
        try:
            command, cwd, python_path = self._command(spec, values)
        except ParameterError as exc:
            return "FAILED", str(exc)
        log_path = self.logs_dir / str(run["run_id"]) / f"{spec['task_key']}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "SAIL_"))}
        env.update(self.task_env)
        env["PYTHONUNBUFFERED"] = "1"
        if python_path:
            env["PYTHONPATH"] = os.pathsep.join([*python_path, *filter(None, [env.get("PYTHONPATH")])])
        token, plan_access = None, None
        clock = [time.perf_counter()]  # the task's pieces, logged at its end (bench/e2e_latency.py)

        def lap() -> float:
            clock.append(time.perf_counter())
            return (clock[-1] - clock[-2]) * 1000

        pieces: dict[str, float] = {}
        if self.identity is not None:  # the run's own identity, not the configured token (run_identity.py)
            principal = run.get("run_as_user_name") or run["creator_user_name"]
            try:
                token = self.identity.mint(principal, run, spec["task_key"])
            except ApiError as exc:
                return "FAILED", f"The run cannot act as {principal}: {exc.message}"
            env["DATABRICKS_TOKEN"] = token.value
            plan_access = self.identity.plan_access(principal, run, spec["task_key"])
        pieces["token"] = lap()
        try:
            proxy = self._start_proxy(env, plan_access)
        except Exception as exc:  # no unchecked Spark session for a run's principal
            if token is not None:
                self.identity.revoke(token)
            log.exception("Spark Connect proxy did not start")
            return "INTERNAL_ERROR", f"The task's Spark Connect channel did not start: {exc}"
        pieces["proxy_start"] = lap()
        try:
            warm = "spark_python_task" in spec and not python_path
            return self._run_process(run, spec, task, command, cwd, env, log_path, deadline, warm=warm)
        finally:
            pieces["process"] = lap()
            if token is not None:
                self.identity.revoke(token)
            pieces["revoke"] = lap()
            if proxy is not None:
                self._finish_proxy(proxy, run, spec, task, pieces)
            log.info(
                "task timings run %s task %s: %s",
                run["run_id"],
                spec["task_key"],
                " ".join(f"{k}={v:.1f}" for k, v in pieces.items()),
            )

    def _start_proxy(self, env: dict[str, str], plan_access: PlanAccess | None = None) -> ConnectProxy | None:
        """A Spark Connect proxy for one task run; the task's SPARK_REMOTE then points at it. It records
        lineage (``lineage``) and, with ``plan_access``, checks each plan for the run's principal — then a
        proxy that does not start fails the task (raises) rather than run it unchecked."""
        remote = env.get("SPARK_REMOTE", "")
        upstream = split_remote(remote)
        if upstream is None or (self.lineage is None and plan_access is None):
            return None
        lineage = self.lineage
        if lineage is not None:
            recorder = PlanRecorder(lineage.columns_of, self._defaults, lineage.tables_at)
        else:
            recorder = PlanRecorder()
        guard = None
        if plan_access is not None:  # metastore admins too: path access to a masked table (run_identity.py)

            def guard(request: Any):
                return plan_access.check(recorder.touched(request))

        try:
            proxy = ConnectProxy(upstream[0], recorder, guard=guard).start()
        except Exception:
            if guard is not None:
                raise
            log.exception("Spark Connect proxy did not start; the task runs without lineage")
            return None
        env["SPARK_REMOTE"] = proxied_remote(remote, proxy.port)
        return proxy

    def _defaults(self) -> tuple[str | None, str | None]:
        """The engine's default catalog and schema (lineage's hook), kept once both are known."""
        if self._engine_defaults is not None:
            return self._engine_defaults
        assert self.lineage is not None
        answer = self.lineage.engine_defaults()
        if all(answer):
            self._engine_defaults = answer
        return answer

    def _finish_proxy(
        self,
        proxy: ConnectProxy,
        run: dict[str, Any],
        spec: dict[str, Any],
        task: dict[str, Any],
        pieces: dict[str, float] | None = None,
    ) -> None:
        pieces = {} if pieces is None else pieces
        try:
            began = time.perf_counter()
            proxy.stop()
            pieces["proxy_stop"] = (time.perf_counter() - began) * 1000
            if self.lineage is None:
                return
            began = time.perf_counter()
            self.lineage.task_finished(run, {**task, "task_key": spec["task_key"]}, proxy.recorder.result())
            pieces["lineage"] = (time.perf_counter() - began) * 1000
        except Exception:
            log.exception("lineage of task %s of run %s failed", spec["task_key"], run["run_id"])

    def _run_process(
        self,
        run: dict[str, Any],
        spec: dict[str, Any],
        task: dict[str, Any],
        command: list[str],
        cwd: str,
        env: dict[str, str],
        log_path: Path,
        deadline: float | None,
        *,
        warm: bool = False,
    ) -> tuple[str, str]:
        with open(log_path, "wb") as log_file:
            process: subprocess.Popen | WarmTask | None
            process = None
            if warm and self._warm is not None:
                try:
                    process = self._warm.start(command[1], command[2:], cwd, env, log_path)
                except RuntimeError as exc:  # a plain process is slower, not wrong
                    log.warning("task %s starts as a plain process: %s", spec["task_key"], exc)
            if process is None and self._stopping.is_set():  # no new process nobody would stop
                return "INTERNAL_ERROR", "The workspace stopped before the task started."
            if process is None:
                process = subprocess.Popen(
                    command,
                    cwd=cwd,
                    env=env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            self._processes[task["run_id"]] = process
            try:
                while True:
                    try:
                        code = process.wait(timeout=0.2)
                        break
                    except subprocess.TimeoutExpired:
                        pass
                    if deadline and time.monotonic() > deadline:
                        process.kill()
                        process.wait()
                        return "TIMEDOUT", f"Run timed out after {run['job_settings']['timeout_seconds']} s."
                    if self.jobs.get_run(run["run_id"]).get("cancel_requested"):
                        process.kill()
                        process.wait()
                        return "CANCELED", "Run was cancelled."
            finally:
                self._processes.pop(task["run_id"], None)
        task["logs_path"] = str(log_path)
        if code == 0:
            return "SUCCESS", ""
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
        if code < 0:  # killed by a signal nobody here sent: the worker crashed
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            message = f"The worker process of task {spec['task_key']} died ({name})."
            task["error"] = message
            task["error_trace"] = "\n".join(tail)
            return "INTERNAL_ERROR", message
        error = next((line for line in reversed(tail) if line and not line.startswith(" ")), "")
        task["error"] = error
        task["error_trace"] = "\n".join(tail)
        return "FAILED", error or f"Process exited with code {code}."
