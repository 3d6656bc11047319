"""One invocation: an id, the arguments (trigger value, ``Out`` per output binding, ``context``), the
``functionTimeout`` from host.json, and the output bindings written only after success."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from emulators.functions_host.app_index import IndexedFunction
from emulators.functions_host.host_config import HostConfig
from emulators.functions_host.outputs import Out, write_outputs

log = logging.getLogger("functions_host")

#: the running invocation's id, for log records (see ``InvocationIdFilter``)
current_invocation: contextvars.ContextVar[str] = contextvars.ContextVar("invocation_id", default="")


class InvocationFailed(RuntimeError):
    """The function raised, timed out, or an output binding could not be written."""


class FunctionTimeout(InvocationFailed):
    pass


class InvocationIdFilter(logging.Filter):
    """Adds ``invocation_id`` to every record (empty outside an invocation), as the host's logs carry it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.invocation_id = current_invocation.get()
        return True


@dataclass(frozen=True)
class Context(func.Context):
    _invocation_id: str
    _function_name: str
    _function_directory: str

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def thread_local_storage(self):
        return threading.local()

    @property
    def trace_context(self):
        return None

    @property
    def retry_context(self):
        return None


def _timespan(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class Invoker:
    def __init__(self, config: HostConfig, settings: Mapping[str, str], app_dir: str) -> None:
        self.config = config
        self.settings = settings
        self.app_dir = app_dir

    def invoke(
        self,
        function: IndexedFunction,
        argument: Any,
        data: Mapping[str, Any] | None = None,
        reason: str = "",
    ) -> Any:
        """Run the function; return its return value. Raises ``InvocationFailed`` (the cause chained)."""
        invocation_id = str(uuid.uuid4())
        token = current_invocation.set(invocation_id)
        try:
            return self._invoke(function, argument, dict(data or {}), reason, invocation_id)
        finally:
            current_invocation.reset(token)

    def _invoke(self, function, argument, data, reason, invocation_id) -> Any:
        started = time.monotonic()
        log.info(
            "Executing 'Functions.%s' (Reason='%s', Id=%s)", function.name, reason or "Invoked", invocation_id
        )
        outs = {b["name"]: Out() for b in function.outputs if b["name"] != "$return"}
        kwargs: dict[str, Any] = {function.arg_name: argument, **outs}
        if function.wants_context:
            kwargs["context"] = Context(invocation_id, function.name, self.app_dir)
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["value"] = function.user_function(**kwargs)
            except BaseException as error:  # noqa: BLE001 - reported to the caller
                outcome["error"] = error

        context = contextvars.copy_context()
        worker = threading.Thread(
            target=context.run, args=(run,), name=f"invocation-{invocation_id[:8]}", daemon=True
        )
        worker.start()
        worker.join(self.config.function_timeout)

        def failed(message: str, cause: BaseException | None, kind=InvocationFailed) -> InvocationFailed:
            duration = (time.monotonic() - started) * 1000
            log.error(
                "Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms): %s",
                function.name,
                invocation_id,
                duration,
                message,
                exc_info=cause if cause is not None and not isinstance(cause, InvocationFailed) else None,
            )
            error = kind(message)
            error.__cause__ = cause
            return error

        if worker.is_alive():
            raise failed(
                f"Timeout value of {_timespan(self.config.function_timeout or 0)} exceeded by function "
                f"'Functions.{function.name}' (Id: '{invocation_id}'). Initiating cancellation.",
                None,
                FunctionTimeout,
            )
        if "error" in outcome:
            error = outcome["error"]
            raise failed(f"{type(error).__name__}: {error}", error)
        value = outcome.get("value")
        values = {name: out.get() for name, out in outs.items()}
        values["$return"] = value
        try:
            write_outputs(function.outputs, values, data, self.settings, self.config.message_encoding)
        except Exception as error:
            raise failed(f"output binding failed: {type(error).__name__}: {error}", error) from error
        log.info(
            "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
            function.name,
            invocation_id,
            (time.monotonic() - started) * 1000,
        )
        return value
