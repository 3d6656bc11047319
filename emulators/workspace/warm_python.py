"""A warm Python for job tasks: one interpreter that has imported PySpark forks a fresh child per task.

Why: a task process spends ≈ 0.35 s importing PySpark (pandas, pyarrow, grpc) before its first line of
work; on Databricks the driver's Python is already up when a task starts. Forking from an interpreter that
imported them once keeps what matters about a process per task (own ``sys.modules`` for the job's code, own
environment, working folder, arguments and log file; a crash or ``kill`` takes only the child) and drops the
import. Nothing is imported that starts threads or opens connections, so forking is safe: the server is
single-threaded and forks before any Spark session exists.

Protocol (a Unix socket, one connection per task): the runner sends one JSON line ``{"path", "args",
"cwd", "env", "log"}``; the server forks and answers ``{"pid": n}``, later ``{"returncode": n}`` (negative:
killed by that signal, like ``subprocess``). The server exits when its parent (the workspace) goes away.

Run by the workspace itself (``python -m emulators.workspace.warm_python <socket>``); ``WarmPython`` is
the runner's side. ``CLIMATELAKE_WORKSPACE_WARM_TASKS=0`` makes the runner start plain processes instead.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import runpy
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

PRELOAD = ("pyspark.sql", "pyspark.sql.functions", "pyspark.sql.connect.session", "pyspark.sql.window")


# --- the server (its own process) ---------------------------------------------------------------------------


def _run_task(request: dict[str, Any]) -> int:
    """In the forked child: become the task's process and run its file as ``__main__``."""
    fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [request["path"], *request["args"]]
    sys.path[0] = str(Path(request["path"]).parent)  # as ``python <file>`` has it (not the server's folder)
    code = 0
    try:
        runpy.run_path(request["path"], run_name="__main__")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: BLE001 - the task's own failure: print it as Python would, exit 1
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code


def _die_with_parent() -> None:
    """Linux: the kernel kills the task if the server dies, so a task never outlives what reports it."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def serve(socket_path: str) -> None:
    """Accept task requests until the parent process goes away; fork one child per request."""
    for name in PRELOAD:
        __import__(name)
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(16)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    print("ready", flush=True)
    while os.getppid() == parent:
        for _key, _events in selector.select(timeout=0.05):
            connection, _ = listener.accept()
            with connection.makefile("rb") as reader:
                request = json.loads(reader.readline())
            pid = os.fork()
            if pid == 0:  # the task
                for other in (listener, connection, *children.values()):
                    other.close()
                _die_with_parent()
                os._exit(_run_task(request))
            children[pid] = connection
            connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            connection = children.pop(pid, None)
            if connection is not None:
                answer = {"returncode": os.waitstatus_to_exitcode(status)}
                with contextlib.suppress(OSError):  # the runner stopped waiting
                    connection.sendall(json.dumps(answer).encode() + b"\n")
                connection.close()
    for pid in children:
        os.kill(pid, signal.SIGKILL)


# --- the runner's side -----------------------------------------------------------------------------------


class WarmTask:
    """A task started by the warm server; waits and kills like ``subprocess.Popen``."""

    def __init__(self, connection: socket.socket, command: list[str]) -> None:
        self._connection = connection
        self._buffer = b""
        self.args = command
        self.pid: int = json.loads(self._line(None))["pid"]
        self.returncode: int | None = None

    def _line(self, timeout: float | None) -> bytes:
        """The server's next answer line (b"" if it went away); TimeoutExpired after ``timeout`` s."""
        while b"\n" not in self._buffer:
            readable, _, _ = select.select([self._connection], [], [], timeout)
            if not readable:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            chunk = self._connection.recv(4096)
            if not chunk:
                return b""
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            line = self._line(timeout)
            self.returncode = json.loads(line)["returncode"] if line else -signal.SIGKILL
            self._connection.close()
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class WarmPython:
    """Starts the warm server on first use and runs task files through it."""

    def __init__(self, python: str = sys.executable) -> None:
        self._python = python
        self._lock = threading.Lock()
        self._server: subprocess.Popen | None = None
        self._folder: str | None = None
        self._closed = False

    @property
    def _socket(self) -> str:
        assert self._folder is not None
        return os.path.join(self._folder, "tasks.sock")

    def start_server(self) -> None:
        """Start the server now (it also starts on the first task); RuntimeError if it cannot."""
        self._ensure_server()

    def _ensure_server(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the warm Python was stopped")
            if self._server is not None and self._server.poll() is None:
                return
            self._stop_server()
            self._folder = tempfile.mkdtemp(prefix="climatelake-warm-")
            errors = Path(self._folder, "server.err")
            with open(errors, "wb") as stderr:  # PySpark's import warnings; the reason if it cannot start
                self._server = subprocess.Popen(
                    [self._python, "-m", "emulators.workspace.warm_python", self._socket],
                    cwd=str(Path(__file__).resolve().parents[2]),
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                )
            assert self._server.stdout is not None
            if self._server.stdout.readline().strip() != b"ready":
                tail = errors.read_text(errors="replace").strip().splitlines()[-5:]
                self._stop_server()
                raise RuntimeError("the warm Python server did not start: " + " | ".join(tail))

    def start(self, path: str, args: list[str], cwd: str, env: dict[str, str], log: Path) -> WarmTask:
        """Fork the task; RuntimeError if the server cannot start (the runner then starts a process)."""
        self._ensure_server()
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(self._socket)
        request = {"path": path, "args": args, "cwd": cwd, "env": env, "log": str(log)}
        connection.sendall(json.dumps(request).encode() + b"\n")
        return WarmTask(connection, [sys.executable, path, *args])

    def stop(self) -> None:
        """Stop the server for good: later starts raise RuntimeError (never a server nobody stops)."""
        with self._lock:
            self._closed = True
            self._stop_server()

    def _stop_server(self) -> None:
        if self._server is not None:
            self._server.kill()
            self._server.wait()
            if self._server.stdout is not None:
                self._server.stdout.close()
            self._server = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


if __name__ == "__main__":
    serve(sys.argv[1])
