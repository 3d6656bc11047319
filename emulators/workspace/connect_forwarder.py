"""The gRPC half of a task's Spark Connect channel (split out of ``connect_proxy.py``, issue 16): a Spark
Connect server on a free local port that relays every call to the engine, byte for byte.

Forwarding: every method of ``SparkConnectService`` (and any unknown one, as unary) is relayed with generic
handlers (no serialisers), metadata, deadlines, trailing metadata and error details included, so streams
(ExecutePlan, ReattachExecute) and client streams (AddArtifacts) arrive intact. Only an
``ExecutePlanRequest`` (and an ``AnalyzePlanRequest`` of a plan) is parsed, with the proto classes of
``pyspark.sql.connect.proto``, and only to read: the ``guard`` decides it before it is forwarded (a refusal
ends the call as a Spark Connect server ends it for an ``AnalysisException``, :func:`_refuse`), and the
``recorder`` (``connect_proxy.PlanRecorder``: ``commit_for(parsed)``) records its lineage once its stream
ended without error, before the stream's last message is passed on. What a plan reads and writes is
``connect_proxy.py``'s; this module knows no tables.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any, Protocol

import grpc

from emulators.workspace.run_identity import Refused

log = logging.getLogger("workspace.connect_proxy")

_SERVICE = "spark.connect.SparkConnectService"
_EXECUTE_PLAN = f"/{_SERVICE}/ExecutePlan"
_ANALYZE_PLAN = f"/{_SERVICE}/AnalyzePlan"
#: AnalyzePlan kinds that ask about a plan of the session's tables (``df.schema``, ``explain``, …): checked
#: like the plan's reads — Databricks refuses resolving a table without SELECT at analysis already
_ANALYZED = ("schema", "explain", "tree_string", "is_local", "is_streaming", "input_files", "semantic_hash")
_UNLIMITED = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
_HOP_BY_HOP = ("user-agent", "te", "content-type")


class Recorder(Protocol):
    """What the forwarder asks of a plan recorder (``connect_proxy.PlanRecorder``)."""

    def commit_for(self, request: Any) -> Callable[[], None] | None: ...


def _method_kinds() -> dict[str, tuple[bool, bool]]:
    """``/service/Method`` → (client streaming, server streaming), from the proto's own descriptor."""
    from pyspark.sql.connect.proto import base_pb2

    service = base_pb2.DESCRIPTOR.services_by_name["SparkConnectService"]
    return {f"/{_SERVICE}/{m.name}": (m.client_streaming, m.server_streaming) for m in service.methods}



def parse_request(request_bytes: bytes) -> Any:
    """The ExecutePlanRequest of the bytes a client sent, or None (not ours to judge: the engine answers)."""
    from pyspark.sql.connect.proto import base_pb2

    try:
        return base_pb2.ExecutePlanRequest.FromString(request_bytes)
    except Exception:
        return None


def parse_analyze(request_bytes: bytes) -> Any:
    """The plan an AnalyzePlanRequest asks about, shaped as ``PlanRecorder.touched`` reads a request
    (``.plan``), or None (a kind with no plan of tables, or bytes that are not one)."""
    from types import SimpleNamespace

    from pyspark.sql.connect.proto import base_pb2

    try:
        request = base_pb2.AnalyzePlanRequest.FromString(request_bytes)
    except Exception:
        return None
    kind = request.WhichOneof("analyze")
    return SimpleNamespace(plan=getattr(request, kind).plan) if kind in _ANALYZED else None



def _forwarded_metadata(context: grpc.ServicerContext) -> list[tuple[str, Any]]:
    return [
        (key, value)
        for key, value in context.invocation_metadata()
        if not key.startswith((":", "grpc-")) and key not in _HOP_BY_HOP
    ]


def _timeout(context: grpc.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    return remaining if remaining is not None and remaining < 1e8 else None


def _relay_error(error: grpc.RpcError, context: grpc.ServicerContext) -> None:
    """Give the client the engine's error as it was: code, details and trailing metadata (error details)."""
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    if trailing:
        context.set_trailing_metadata(tuple(trailing))
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    context.abort(code, error.details() if hasattr(error, "details") else str(error))


def _refuse(context: grpc.ServicerContext, refused: Refused) -> None:
    """End the call as a Spark Connect server ends it for an ``AnalysisException``: status INTERNAL with a
    ``google.rpc.Status`` whose ``ErrorInfo`` carries ``classes``, ``errorClass`` and ``sqlState`` (what
    pyspark's ``convert_exception`` reads: the client raises ``pyspark.errors.AnalysisException``)."""
    from google.rpc import code_pb2, error_details_pb2, status_pb2
    from grpc_status import rpc_status

    info = error_details_pb2.ErrorInfo(
        reason="org.apache.spark.sql.AnalysisException",
        domain="org.apache.spark",
        metadata={
            "classes": json.dumps(["org.apache.spark.sql.AnalysisException"]),
            "errorClass": refused.error_class,
            "sqlState": refused.sql_state,
            "messageParameters": "{}",
        },
    )
    status = status_pb2.Status(code=code_pb2.INTERNAL, message=refused.message)
    status.details.add().Pack(info)
    context.abort_with_status(rpc_status.to_status(status))


#: decides a parsed ExecutePlanRequest before it is forwarded: raises ``Refused``, or returns what to do
#: once the engine has run the plan (None: nothing), e.g. give the tables it made their owner
Guard = Callable[[Any], Callable[[], None] | None]


class _Forwarder(grpc.GenericRpcHandler):
    """Relays every method to the engine's channel without (de)serialising messages (an ExecutePlanRequest
    is parsed to be read, and forwarded as the bytes that came)."""

    def __init__(self, channel: grpc.Channel, recorder: Recorder, guard: Guard | None = None) -> None:
        self.channel = channel
        self.recorder = recorder
        self.guard = guard
        self.kinds = _method_kinds()
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}
        self._lock = threading.Lock()

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        with self._lock:
            handler = self._handlers.get(method)
            if handler is None:
                handler = self._handlers[method] = self._make(method)
        return handler

    def _make(self, method: str) -> grpc.RpcMethodHandler:
        client_streaming, server_streaming = self.kinds.get(method, (False, False))
        if client_streaming and server_streaming:
            call = self.channel.stream_stream(method)
            return grpc.stream_stream_rpc_method_handler(
                lambda requests, ctx: self._stream(call, requests, ctx)
            )
        if client_streaming:
            call = self.channel.stream_unary(method)
            return grpc.stream_unary_rpc_method_handler(
                lambda requests, ctx: self._unary(call, requests, ctx)
            )
        if server_streaming:
            call = self.channel.unary_stream(method)
            inspect = method == _EXECUTE_PLAN
            return grpc.unary_stream_rpc_method_handler(
                lambda request, ctx: self._stream(call, request, ctx, inspect)
            )
        call = self.channel.unary_unary(method)
        analyze = method == _ANALYZE_PLAN
        return grpc.unary_unary_rpc_method_handler(
            lambda request, ctx: self._unary(call, request, ctx, analyze)
        )

    def _check(self, parsed: Any, context: grpc.ServicerContext) -> Callable[[], None] | None:
        """The guard's decision on a parsed request: what to do after it ran, or the call aborted."""
        if self.guard is None or parsed is None:
            return None
        try:
            return self.guard(parsed)
        except Refused as refused:
            _refuse(context, refused)
        except Exception as exc:  # fail closed: an unchecked plan never reaches the engine
            log.exception("the privilege check of a plan failed")
            context.abort(grpc.StatusCode.INTERNAL, f"The local workspace could not check the plan: {exc}")
        return None  # not reached: abort raises

    def _unary(
        self, multicallable: Any, request: Any, context: grpc.ServicerContext, analyze: bool = False
    ) -> bytes:
        if analyze:
            self._check(parse_analyze(request), context)  # reads only: nothing to do after it
        try:
            response, call = multicallable.with_call(
                request, metadata=_forwarded_metadata(context), timeout=_timeout(context)
            )
        except grpc.RpcError as error:
            _relay_error(error, context)
            raise  # not reached: abort raises
        context.send_initial_metadata(tuple(call.initial_metadata() or ()))
        context.set_trailing_metadata(tuple(call.trailing_metadata() or ()))
        return response

    def _stream(
        self, multicallable: Any, request: Any, context: grpc.ServicerContext, inspect: bool = False
    ) -> Iterator[bytes]:
        commit = after = None
        if inspect:
            parsed = parse_request(request)
            after = self._check(parsed, context)
            commit = self.recorder.commit_for(parsed)
        call = multicallable(request, metadata=_forwarded_metadata(context), timeout=_timeout(context))
        context.add_callback(call.cancel)
        try:
            context.send_initial_metadata(tuple(call.initial_metadata() or ()))
            held: bytes | None = None
            for message in call:  # one message held back: the lineage is recorded before the last one
                if held is not None:
                    yield held
                held = message
            if commit is not None:
                try:
                    commit()
                except Exception:  # lineage is a side effect: never the job's failure
                    log.exception("lineage capture failed for a plan")
            if after is not None:  # before the last message: the client's next call sees it done
                after()
            if held is not None:
                yield held
            context.set_trailing_metadata(tuple(call.trailing_metadata() or ()))
        except grpc.RpcError as error:
            if context.is_active():
                _relay_error(error, context)


class ConnectProxy:
    """A Spark Connect server on a free local port that relays to ``upstream`` (``host:port``)."""

    def __init__(
        self,
        upstream: str,
        recorder: Recorder,
        workers: int = 16,
        guard: Guard | None = None,
    ) -> None:
        self.upstream = upstream
        self.recorder = recorder
        self._channel = grpc.insecure_channel(upstream, options=_UNLIMITED)
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="connect-proxy"),
            handlers=[_Forwarder(self._channel, self.recorder, guard)],
            options=_UNLIMITED,
        )
        self.port = 0

    def start(self) -> ConnectProxy:
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return self

    def stop(self, grace: float = 1.0) -> None:
        self._server.stop(grace).wait(grace + 5)
        self._channel.close()

    def __enter__(self) -> ConnectProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def split_remote(remote: str) -> tuple[str, str] | None:
    """``sc://host:port/;params`` → (``host:port``, ``;params`` part); None when it cannot be proxied."""
    if not remote.startswith("sc://"):
        return None
    rest = remote[len("sc://") :]
    address, _, params = rest.partition("/")
    if "use_ssl=true" in params.lower():
        return None
    if ":" not in address:
        address += ":15002"
    return address, params


def proxied_remote(remote: str, port: int) -> str:
    """The ``SPARK_REMOTE`` that reaches the proxy on ``port`` with the original connection parameters."""
    parts = split_remote(remote)
    params = parts[1] if parts else ""
    return f"sc://127.0.0.1:{port}" + (f"/{params}" if params else "")
