"""Jobs 2.2 state and behaviour (no HTTP here): jobs, runs and their life cycle.

A run moves PENDING → (QUEUED while the job is at ``max_concurrent_runs``) → RUNNING → TERMINATED with a
``result_state`` (SUCCESS, FAILED, TIMEDOUT, CANCELED), or INTERNAL_ERROR when the stand-in itself could
not run it (for example it restarted mid-run). Execution is delegated to a :class:`runner.RunExecutor`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.errors import ApiError, invalid

ACTIVE = ("PENDING", "QUEUED", "RUNNING", "TERMINATING")
_ARRAY_KEYS = {"tasks": "task_key", "job_clusters": "job_cluster_key"}
#: a task's settings copied into its run task, as runs/get shows them
_TASK_FIELDS = (
    "description",
    "spark_python_task",
    "python_wheel_task",
    "notebook_task",
    "existing_cluster_id",
    "job_cluster_key",
    "libraries",
    "timeout_seconds",
    "environment_key",
)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _state(life_cycle: str, result: str | None = None, message: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {
        "life_cycle_state": life_cycle,
        "state_message": message,
        "user_cancelled_or_timedout": result in ("CANCELED", "TIMEDOUT"),
    }
    if result:
        state["result_state"] = result
    return state


def _status(life_cycle: str, result: str | None, message: str) -> dict[str, Any]:
    """The newer ``status`` object that accompanies ``state`` in Jobs 2.2 answers."""
    status: dict[str, Any] = {
        "state": "TERMINATED" if life_cycle in ("TERMINATED", "INTERNAL_ERROR") else life_cycle
    }
    if result or life_cycle == "INTERNAL_ERROR":
        code = {
            "SUCCESS": "SUCCESS",
            "FAILED": "RUN_EXECUTION_ERROR",
            "TIMEDOUT": "TIMED_OUT",
            "CANCELED": "CANCELED",
        }.get(result or "", "INTERNAL_ERROR")
        status["termination_details"] = {
            "code": code,
            "message": message,
            "type": "SUCCESS"
            if result == "SUCCESS"
            else ("CLIENT_ERROR" if result == "FAILED" else "INTERNAL_ERROR"),
        }
    return status


class Jobs:
    def __init__(self, store: RecordStore, host_url: str = "") -> None:
        self.store = store
        self.host_url = host_url
        self.changed = threading.Condition(store.lock)
        #: ``(settings, caller) → principal`` a job runs as: its ``run_as``, checked, else the caller
        #: (``run_identity.resolve_run_as``, set by the workspace); the default takes the caller
        self.run_as: Callable[[dict[str, Any], str], str] = lambda settings, caller: caller
        self._recover_lost_runs()

    # jobs ---------------------------------------------------------------------------------------
    def create(self, settings: dict[str, Any], principal: str) -> int:
        if not settings.get("tasks"):
            raise invalid("A job needs at least one task.")
        run_as = self.run_as(settings, principal)
        job_id = self.store.next_id("job", start=1001)
        self.store.put(
            "job",
            f"{job_id:012d}",
            {
                "job_id": job_id,
                "creator_user_name": principal,
                "run_as_user_name": run_as,
                "created_time": _now_ms(),
                "settings": settings,
            },
        )
        return job_id

    def get(self, job_id: Any) -> dict[str, Any]:
        try:
            key = f"{int(job_id):012d}"
        except (TypeError, ValueError):
            raise invalid(f"Invalid job_id '{job_id}'.") from None
        record = self.store.get("job", key)
        if record is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Job {job_id} does not exist.")
        return record

    def list(self, name: str | None = None) -> list[dict[str, Any]]:
        jobs = [body for _, body in self.store.scan("job")]
        if name:
            jobs = [j for j in jobs if j["settings"].get("name") == name]
        return jobs

    def reset(self, job_id: Any, settings: dict[str, Any], principal: str = "") -> None:
        """Replace the settings; a ``run_as`` left out runs the job as its creator again."""
        if not settings.get("tasks"):
            raise invalid("A job needs at least one task.")
        with self.store.lock:
            record = self.get(job_id)
            if settings.get("run_as"):
                record["run_as_user_name"] = self.run_as(settings, principal or record["creator_user_name"])
            else:
                record["run_as_user_name"] = record["creator_user_name"]
            record["settings"] = settings
            self.store.put("job", f"{record['job_id']:012d}", record)

    def update(
        self,
        job_id: Any,
        new_settings: dict[str, Any] | None,
        fields_to_remove: list[str] | None,
        principal: str = "",
    ) -> None:
        """Partial update: top-level fields replaced, ``tasks``/``job_clusters`` merged by their keys; a
        changed or removed ``run_as`` changes ``run_as_user_name`` (removed: the creator)."""
        with self.store.lock:
            record = self.get(job_id)
            settings = dict(record["settings"])
            for field, value in (new_settings or {}).items():
                key = _ARRAY_KEYS.get(field)
                if key and isinstance(value, list):
                    merged = {item[key]: item for item in settings.get(field) or []}
                    merged.update({item[key]: item for item in value})
                    settings[field] = list(merged.values())
                else:
                    settings[field] = value
            for path in fields_to_remove or []:
                field, _, item_key = str(path).partition("/")
                if item_key and field in _ARRAY_KEYS:
                    settings[field] = [
                        i for i in settings.get(field) or [] if i[_ARRAY_KEYS[field]] != item_key
                    ]
                else:
                    settings.pop(field, None)
            if not settings.get("tasks"):
                raise invalid("A job needs at least one task.")
            if "run_as" in (new_settings or {}) or "run_as" in (fields_to_remove or []):
                record["run_as_user_name"] = (
                    self.run_as(settings, principal or record["creator_user_name"])
                    if settings.get("run_as")
                    else record["creator_user_name"]
                )
            record["settings"] = settings
            self.store.put("job", f"{record['job_id']:012d}", record)

    def delete(self, job_id: Any) -> None:
        record = self.get(job_id)
        self.store.delete("job", f"{record['job_id']:012d}")

    # runs ---------------------------------------------------------------------------------------
    def run_now(
        self,
        job_id: Any,
        job_parameters: dict[str, str] | None,
        idempotency_token: str | None,
        principal: str,
    ) -> tuple[int, int, bool]:
        """Create a run; with an ``idempotency_token`` already used, return that run instead.

        Returns (run_id, number_in_job, created).
        """
        job = self.get(job_id)
        with self.store.lock:
            if idempotency_token:
                existing = self.store.get("idempotency", idempotency_token)
                if existing:
                    return existing["run_id"], existing["number_in_job"], False
            declared = {p["name"]: str(p.get("default", "")) for p in job["settings"].get("parameters") or []}
            unknown = set(job_parameters or {}) - set(declared)
            if unknown:
                raise invalid(f"Job parameters {sorted(unknown)} are not defined in job {job['job_id']}.")
            values = {**declared, **{k: str(v) for k, v in (job_parameters or {}).items()}}
            run = self._new_run(job["job_id"], job["settings"], principal, "JOB_RUN")
            run["run_as_user_name"] = job.get("run_as_user_name") or job["creator_user_name"]
            run["job_parameters"] = [
                {"name": k, "default": declared[k], "value": values[k]} for k in declared
            ]
            self.store.put("run", f"{run['run_id']:012d}", run)
            run_id, number = run["run_id"], run["number_in_job"]
            if idempotency_token:
                self.store.put("idempotency", idempotency_token, {"run_id": run_id, "number_in_job": number})
            self.changed.notify_all()
        return run_id, number, True

    def submit(self, body: dict[str, Any], principal: str) -> int:
        """A one-time run (runs/submit): no job; the same token returns the same run."""
        if not body.get("tasks"):
            raise invalid("A run needs at least one task.")
        token = body.get("idempotency_token")
        with self.store.lock:
            if token:
                existing = self.store.get("idempotency", f"submit:{token}")
                if existing:
                    return existing["run_id"]
            settings = {k: v for k, v in body.items() if k not in ("idempotency_token", "run_name")}
            settings["name"] = body.get("run_name") or "Untitled"
            run = self._new_run(None, settings, principal, "SUBMIT_RUN")
            run["run_as_user_name"] = self.run_as(settings, principal)
            run["job_parameters"] = []
            self.store.put("run", f"{run['run_id']:012d}", run)
            if token:
                self.store.put("idempotency", f"submit:{token}", {"run_id": run["run_id"]})
            self.changed.notify_all()
        return run["run_id"]

    def _new_run(self, job_id: int | None, settings: dict[str, Any], principal: str, run_type: str) -> dict:
        run_id = self.store.next_id("run", start=5001)
        number = self.store.next_id(f"run-number-{job_id}") if job_id is not None else 1
        page = f"{self.host_url}/jobs/{job_id}/runs/{run_id}" if job_id else f"{self.host_url}/runs/{run_id}"
        return {
            "job_id": job_id,
            "run_id": run_id,
            "number_in_job": number,
            "original_attempt_run_id": run_id,
            "run_name": settings.get("name", ""),
            "creator_user_name": principal,
            "run_type": run_type,
            "trigger": "ONE_TIME",
            "format": "MULTI_TASK",
            "start_time": _now_ms(),
            "end_time": 0,
            "setup_duration": 0,
            "execution_duration": 0,
            "cleanup_duration": 0,
            "run_duration": 0,
            "state": _state("PENDING"),
            "status": _status("PENDING", None, ""),
            "run_page_url": page,
            "tasks": [
                {
                    "task_key": t["task_key"],
                    "run_id": run_id * 1000 + i,
                    "depends_on": t.get("depends_on", []),
                    **{k: t[k] for k in _TASK_FIELDS if k in t},
                    "state": _state("PENDING"),
                    "status": _status("PENDING", None, ""),
                    "start_time": 0,
                    "end_time": 0,
                    "setup_duration": 0,
                    "execution_duration": 0,
                    "cleanup_duration": 0,
                    "run_duration": 0,
                    "attempt_number": 0,
                    "run_page_url": f"{page}/tasks/{t['task_key']}",
                }
                for i, t in enumerate(settings["tasks"], start=1)
            ],
            "job_settings": settings,
        }

    def get_run(self, run_id: Any) -> dict[str, Any]:
        try:
            key = f"{int(run_id):012d}"
        except (TypeError, ValueError):
            raise invalid(f"Invalid run_id '{run_id}'.") from None
        record = self.store.get("run", key)
        if record is None:
            # Databricks answers a missing run with 400 INVALID_PARAMETER_VALUE "Run <id> does not exist."
            # (databricks-sdk's generated errors/overrides.py maps exactly that to ResourceDoesNotExist)
            raise invalid(f"Run {run_id} does not exist.")
        return record

    def get_task_run(self, run_id: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The (run, task) a task run id names: every task of a run has its own run id (``run_id * 1000 +
        n``), as on Databricks, where runs/get-output takes a task's run id."""
        try:
            task_run_id = int(run_id)
        except (TypeError, ValueError):
            raise invalid(f"Invalid run_id '{run_id}'.") from None
        parent = self.store.get("run", f"{task_run_id // 1000:012d}") if task_run_id >= 1000 else None
        for task in (parent or {}).get("tasks", []):
            if task["run_id"] == task_run_id:
                return parent, task
        raise invalid(f"Run {run_id} does not exist.")

    def delete_run(self, run_id: Any) -> None:
        """Delete a run that is no longer active. Databricks' reference (jobs/deleterun): "Deletes a
        non-active run. Returns an error if the run is active." — its code is not documented; INVALID_STATE
        (400, databricks-sdk's InvalidState, a BadRequest) is this stand-in's choice."""
        run = self.get_run(run_id)
        if run["state"]["life_cycle_state"] in ACTIVE:
            raise ApiError(400, "INVALID_STATE", f"Run {run_id} is still active and cannot be deleted.")
        self.store.delete("run", f"{int(run_id):012d}")

    def list_runs(
        self, job_id: Any = None, active_only: bool = False, completed_only: bool = False
    ) -> list[dict[str, Any]]:
        runs = [body for _, body in self.store.scan("run")]
        if job_id is not None:
            runs = [r for r in runs if r["job_id"] == int(job_id)]
        if active_only:
            runs = [r for r in runs if r["state"]["life_cycle_state"] in ACTIVE]
        if completed_only:
            runs = [r for r in runs if r["state"]["life_cycle_state"] not in ACTIVE]
        return sorted(runs, key=lambda r: r["run_id"], reverse=True)

    def save_run(self, run: dict[str, Any]) -> None:
        with self.store.lock:
            self.store.put("run", f"{run['run_id']:012d}", run)
            self.changed.notify_all()

    def set_run_state(
        self, run: dict[str, Any], life_cycle: str, result: str | None = None, message: str = ""
    ) -> None:
        run["state"] = _state(life_cycle, result, message)
        run["status"] = _status(life_cycle, result, message)
        if life_cycle in ("TERMINATED", "INTERNAL_ERROR", "SKIPPED"):
            run["end_time"] = _now_ms()
            run["run_duration"] = run["end_time"] - run["start_time"]
            run["execution_duration"] = run["run_duration"]
        self.save_run(run)

    def request_cancel(self, run_id: Any) -> dict[str, Any]:
        run = self.get_run(run_id)
        if run["state"]["life_cycle_state"] in ACTIVE:
            run["cancel_requested"] = True
            self.save_run(run)
        return run

    def pending_runs(self) -> list[dict[str, Any]]:
        return [r for r in self.list_runs() if r["state"]["life_cycle_state"] in ("PENDING", "QUEUED")]

    def running_count(self, job_id: int) -> int:
        return sum(
            1 for r in self.list_runs(job_id) if r["state"]["life_cycle_state"] in ("RUNNING", "TERMINATING")
        )

    def _recover_lost_runs(self) -> None:
        """Runs active when the stand-in stopped cannot resume: end them, never leave them RUNNING.

        They are kept in ``lost_runs`` for their ``on_failure`` notifications: Databricks counts a run that
        ends INTERNAL_ERROR as failed ("A run is considered to have completed unsuccessfully if it ends
        with an INTERNAL_ERROR life_cycle_state or a FAILED, or TIMED_OUT result_state": Jobs API 2.2
        ``JobEmailNotifications.on_failure``, as in databricks-sdk's service/jobs.py; webhook notifications'
        ``on_failure`` is "when the run fails", the same runs)."""
        self.lost_runs: list[dict[str, Any]] = []
        for run in self.list_runs(active_only=True):
            if run["state"]["life_cycle_state"] in ("PENDING", "QUEUED"):
                continue  # not started yet: the executor picks them up again
            self.set_run_state(run, "INTERNAL_ERROR", None, "The run was lost when the workspace restarted.")
            self.lost_runs.append(run)
