"""OpenLineage run events for job runs and lineage-bearing SQL statements, through ``openlineage-python``.

Why: lineage tools (Marquez, DataHub, …) consume OpenLineage, and Databricks users wire them to their
workspace; the stand-in emits the same kind of events from what it already captures (``lineage.py`` for
statements, the per-task Spark Connect proxy for job runs), so such a tool can be tried locally.

Configured by ``WorkspaceConfig.openlineage``: the client's transport config as a dict, e.g.
``{"type": "http", "url": "http://127.0.0.1:5000"}`` or ``{"type": "file", "log_file_path": "…"}``; absent,
nothing is emitted. Emission never slows or breaks a statement or a run: events go into a bounded queue that
one background thread sends (a full queue drops the event, with a warning); a receiver that is down costs
only that thread's time (HTTP: 2 s timeout and 2 retries unless configured).

Names: datasets and jobs in the namespace ``databricks://<workspace host>`` (as the Databricks integration
names them), datasets by ``catalog.schema.table``. A job run's OpenLineage run id is a UUID derived from the
job run id (START and COMPLETE/FAIL share it); a statement's from its statement id.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

from emulators.workspace.lineage import Extracted

log = logging.getLogger("workspace.openlineage")

PRODUCER = "https://github.com/climatelake/climatelake/tree/main/emulators/workspace"
_HTTP_DEFAULTS = {"timeout": 2.0, "retry": {"total": 2, "backoff_factor": 0.2}}
_STOP = object()


def namespace_of(host_url: str) -> str:
    """``http://127.0.0.1:8080`` → ``databricks://127.0.0.1:8080``."""
    return f"databricks://{urlparse(host_url).netloc or host_url}"


def _iso(epoch_ms: int | None) -> str:
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC) if epoch_ms else dt.datetime.now(dt.UTC)
    return moment.isoformat(timespec="milliseconds")


class OpenLineageEmitter:
    """Builds run events and sends them from one background thread through an ``OpenLineageClient``."""

    def __init__(self, transport: dict[str, Any], host_url: str, max_queued: int = 1000) -> None:
        from openlineage.client import OpenLineageClient

        config = dict(transport)
        if config.get("type") == "http":
            config = {**_HTTP_DEFAULTS, **config}
        self.client = OpenLineageClient(config={"transport": config})
        self.namespace = namespace_of(host_url)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queued)
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._send_loop, name="openlineage", daemon=True)
        self._thread.start()

    @classmethod
    def from_config(cls, transport: dict[str, Any] | None, host_url: str) -> OpenLineageEmitter | None:
        if not transport:
            return None
        try:
            return cls(transport, host_url)
        except Exception:  # a bad transport config must not keep the workspace from starting
            log.exception("OpenLineage emission disabled: the transport config was refused")
            return None

    # events -------------------------------------------------------------------------------------
    def statement(self, record: dict[str, Any], extracted: Extracted) -> None:
        """START and COMPLETE of a statement that wrote ``extracted.target`` from its sources."""
        from openlineage.client.event_v2 import RunState
        from openlineage.client.facet_v2 import sql_job

        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.namespace}/statements/{record['statement_id']}"))
        job_facets = {"sql": sql_job.SQLJobFacet(query=record["statement"]), **self._job_type("QUERY")}
        name = f"sql_statement.{record['statement_id']}"
        inputs = sorted(extracted.sources)
        outputs = [extracted]
        started = record.get("created_at")
        times = (int(started * 1000) if started else None, None)  # COMPLETE: now, as it just succeeded
        for state, at_ms in ((RunState.START, times[0]), (RunState.COMPLETE, times[1])):
            self._enqueue(state, run_id, name, job_facets, inputs, outputs, at_ms, {})

    def job_run(
        self,
        state: str,
        run: dict[str, Any],
        inputs: Iterable[str],
        outputs: Iterable[Extracted],
        message: str | None = None,
    ) -> None:
        """One event of a job run: ``state`` is START, COMPLETE, FAIL or ABORT (cancelled)."""
        from openlineage.client.event_v2 import RunState
        from openlineage.client.facet_v2 import error_message_run

        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.namespace}/runs/{run['run_id']}"))
        name = run["job_settings"].get("name") or f"run_{run['run_id']}"
        run_facets: dict[str, Any] = {}
        if state == "FAIL":
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=message or "The run failed.", programmingLanguage="python"
            )
        at_ms = run.get("start_time") if state == "START" else run.get("end_time")
        facets = self._job_type("JOB")
        self._enqueue(RunState[state], run_id, name, facets, sorted(inputs), list(outputs), at_ms, run_facets)

    def _job_type(self, job_type: str) -> dict[str, Any]:
        from openlineage.client.facet_v2 import job_type_job

        return {
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="DATABRICKS", jobType=job_type
            )
        }

    def _enqueue(
        self,
        state: Any,
        run_id: str,
        name: str,
        job_facets: dict[str, Any],
        inputs: list[str],
        outputs: list[Extracted],
        at_ms: int | None,
        run_facets: dict[str, Any],
    ) -> None:
        from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent

        event = RunEvent(
            eventType=state,
            eventTime=_iso(at_ms),
            run=Run(runId=run_id, facets=run_facets),
            job=Job(namespace=self.namespace, name=name, facets=job_facets),
            producer=PRODUCER,
            inputs=[InputDataset(namespace=self.namespace, name=table) for table in inputs],
            outputs=[
                OutputDataset(namespace=self.namespace, name=o.target, facets=self._column_facet(o))
                for o in outputs
            ],
        )
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()
            log.warning("OpenLineage queue full: dropped the %s event of %s", state, name)

    def _column_facet(self, extracted: Extracted) -> dict[str, Any]:
        if not extracted.columns:
            return {}
        from openlineage.client.facet_v2 import column_lineage_dataset as cl

        fields = {
            column: cl.Fields(
                inputFields=[
                    cl.InputField(namespace=self.namespace, name=table, field=source)
                    for table, source in sorted(sources)
                ]
            )
            for column, sources in sorted(extracted.columns.items())
        }
        return {"columnLineage": cl.ColumnLineageDatasetFacet(fields=fields)}

    # sending --------------------------------------------------------------------------------------
    def _send_loop(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                return
            try:
                self.client.emit(event)
            except Exception as exc:  # the receiver's trouble, never the workspace's
                log.warning("OpenLineage event not delivered: %s", exc)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event was sent (or given up); True if the queue drained in time."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            pass
        self._thread.join(timeout)
        try:
            self.client.close(timeout)
        except Exception:
            log.debug("OpenLineage client close failed", exc_info=True)
