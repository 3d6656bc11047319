"""Starting a job by name with its id cached, as a long-lived Function worker would.

Why a cache: the jobs API starts runs by id, and resolving the name lists the workspace's jobs
(``jobs/list?name=…``, 3–4 ms against the stand-in, a round trip to the workspace on Azure) on every
manifest, though a job's id changes only when the job is deleted and created again (a re-deploy that
replaces it). So the id is kept per worker and name, and dropped when the workspace says the job is gone:
``jobs/run-now`` with a deleted job's id answers 400 ``INVALID_PARAMETER_VALUE`` "Job <id> does not exist."
(databricks-sdk ``InvalidParameterValue``; its ``ResourceDoesNotExist`` mapping of that answer is for
``jobs/get`` only — errors/overrides.py — so both are taken). Then the name is resolved again and, if it
now names another job, the run is started there; an answer that is not about the id (a wrong parameter,
the same id again) is raised as it came. Retrying with the same ``idempotency_token`` is safe: the refused
call made no run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, ResourceDoesNotExist

from climatelake.bundle import job_id_by_name

T = TypeVar("T")

_ids: dict[tuple[str, str], int] = {}
_lock = threading.Lock()


def _key(w: WorkspaceClient, name: str) -> tuple[str, str]:
    return (w.config.host or "", name)


def cached_job_id(w: WorkspaceClient, name: str) -> int:
    """The job's id, listed once per worker and name (until :func:`forget` drops it)."""
    key = _key(w, name)
    with _lock:
        known = _ids.get(key)
    if known is not None:
        return known
    job_id = job_id_by_name(w, name)
    with _lock:
        _ids[key] = job_id
    return job_id


def forget(w: WorkspaceClient, name: str) -> None:
    with _lock:
        _ids.pop(_key(w, name), None)


def with_job_id(w: WorkspaceClient, name: str, call: Callable[[int], T]) -> tuple[T, int]:
    """``call(job_id)`` with the cached id; once more with the re-resolved id if the job is gone.

    Returns (the call's answer, the job id it used)."""
    job_id = cached_job_id(w, name)
    try:
        return call(job_id), job_id
    except (ResourceDoesNotExist, InvalidParameterValue):
        forget(w, name)
        fresh = cached_job_id(w, name)  # LookupError when no job has the name any more
        if fresh == job_id:
            raise  # the job is there: the answer was about something else
    return call(fresh), fresh
