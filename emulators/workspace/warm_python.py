"""A warm Python for job tasks: one interpreter that has imported PySpark forks a fresh child per task.

Why: a task process spends ≈ 0.35 s importing PySpark (pandas, pyarrow, grpc) before its first line of
work; on Databricks the driver's Python is already up when a task starts. Forking from an interpreter that
imported them once keeps what matters about a process per task (own ``sys.modules`` for the job's code, own
environment, working folder, arguments and log file; a crash or ``kill`` takes only the child) and drops the
import. The server forks from its only Python thread before any Spark session or connection exists (the
preloaded libraries' native pools, e.g. OpenBLAS, hold no state a task depends on); numpy's random state is
reseeded per task. One difference from a fresh ``python``: modules the server preloaded (PySpark, pandas,
pyarrow, numpy, grpc and their imports) are already in ``sys.modules``, so a job file cannot shadow one of
them with a same-named module beside it.

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
import time
import traceback
from pathlib import Path
from typing import Any

START_TIMEOUT = 60.0  # seconds for the server's imports (≈ 0.4 s here)
#: how often the server checks that its parent is still there (a task's exit and a request wake it at once)
PARENT_CHECK_SECONDS = 0.05
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
    if "numpy" in sys.modules:  # forked children would all draw the same "random" numbers
        sys.modules["numpy"].random.seed()
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
        threading._shutdown()  # wait for non-daemon threads, as the interpreter does at exit
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


def serve(socket_path: str, parent_check: float = PARENT_CHECK_SECONDS) -> None:
    """Accept task requests until the parent process goes away; fork one child per request."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the tasks; the workspace stops the server
    for name in PRELOAD:
        __import__(name)
    parent, server = os.getppid(), os.getpid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(16)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    # A child's exit wakes the loop at once (SIGCHLD through the wakeup fd): waiting for the select's
    # timeout reported each task up to 50 ms late (the bimodal task hop of issue 18, target 4).
    exited, wakeup = socket.socketpair()
    exited.setblocking(False)
    wakeup.setblocking(False)
    signal.set_wakeup_fd(wakeup.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    selector.register(exited, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    print("ready", flush=True)
    while os.getppid() == parent:
        for key, _events in selector.select(timeout=parent_check):
            if key.fileobj is exited:
                with contextlib.suppress(BlockingIOError):
                    while exited.recv(4096):
                        pass
                continue
            connection, _ = listener.accept()
            try:
                _fork_task(connection, (listener, exited, wakeup), children, server)
            except Exception:  # noqa: BLE001 - one bad request must not end the server and its tasks
                connection.close()
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


def _fork_task(
    connection: socket.socket,
    own: tuple[socket.socket, ...],
    children: dict[int, socket.socket],
    server: int,
) -> None:
    """Read one request, fork its task, answer with the task's pid."""
    connection.settimeout(10)
    with connection.makefile("rb") as reader:
        request = json.loads(reader.readline())
    connection.settimeout(None)
    pid = os.fork()
    if pid == 0:  # the task: whatever happens here ends in os._exit, never back in the server's loop
        code = 1
        try:
            signal.set_wakeup_fd(-1)  # the task's signals are its own, as in a fresh ``python``
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for other in (*own, connection, *children.values()):
                other.close()
            _die_with_parent()
            if os.getppid() != server:  # the server died before the kernel could be told
                os._exit(1)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            code = _run_task(request) & 0xFF
        finally:
            os._exit(code)
    children[pid] = connection
    connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")


# --- the runner's side -----------------------------------------------------------------------------------


class WarmTask:
    """A task started by the warm server; waits and kills like ``subprocess.Popen``."""

    def __init__(self, connection: socket.socket, command: list[str]) -> None:
        self._connection = connection
        self._buffer = b""
        self.args = command
        line = self._line(30)
        if not line:
            raise RuntimeError("the warm Python closed the connection without starting the task")
        self.pid: int = json.loads(line)["pid"]
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
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.wait(0)  # already ended: its pid may be reused, so signal nothing
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class WarmPython:
    """Starts the warm server on first use and runs task files through it."""

    def __init__(self, python: str = sys.executable, parent_check: float | None = None) -> None:
        self._python = python
        self._parent_check = parent_check  # None: the server's default
        self._lock = threading.Lock()
        self._server: subprocess.Popen | None = None
        self._folder: str | None = None
        self._closed = False
        self._retry_after = 0.0

    @property
    def _socket(self) -> str:
        assert self._folder is not None
        return os.path.join(self._folder, "tasks.sock")

    def start_server(self) -> None:
        """Start the server now (it also starts on the first task); RuntimeError if it cannot."""
        self._ensure_server()

    def _ensure_server(self) -> str:
        """The running server's socket path, starting the server if needed; RuntimeError if it cannot
        (and, for a minute after a failed start, at once: tasks then run as plain processes)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the warm Python was stopped")
            if self._server is not None and self._server.poll() is None:
                return self._socket
            if time.monotonic() < self._retry_after:
                raise RuntimeError("the warm Python failed to start a moment ago")
            self._stop_server()
            self._folder = tempfile.mkdtemp(prefix="climatelake-warm-")
            errors = Path(self._folder, "server.err")
            with open(errors, "wb") as stderr:  # PySpark's import warnings; the reason if it cannot start
                command = [self._python, "-m", "emulators.workspace.warm_python", self._socket]
                if self._parent_check is not None:
                    command.append(str(self._parent_check))
                self._server = subprocess.Popen(
                    command,
                    cwd=str(Path(__file__).resolve().parents[2]),
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                )
            assert self._server.stdout is not None
            ready, _, _ = select.select([self._server.stdout], [], [], START_TIMEOUT)
            if not ready or self._server.stdout.readline().strip() != b"ready":
                tail = errors.read_text(errors="replace").strip().splitlines()[-5:]
                self._stop_server()
                self._retry_after = time.monotonic() + 60
                raise RuntimeError("the warm Python server did not start: " + " | ".join(tail))
            return self._socket

    def start(self, path: str, args: list[str], cwd: str, env: dict[str, str], log: Path) -> WarmTask:
        """Fork the task; RuntimeError if the server cannot take it (the runner then starts a process)."""
        socket_path = self._ensure_server()
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(socket_path)
            request = {"path": path, "args": args, "cwd": cwd, "env": env, "log": str(log)}
            connection.sendall(json.dumps(request).encode() + b"\n")
            return WarmTask(connection, [sys.executable, path, *args])
        except (OSError, ValueError, RuntimeError, subprocess.TimeoutExpired) as exc:
            connection.close()
            raise RuntimeError(f"the warm Python did not take the task: {exc}") from exc

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
    serve(sys.argv[1], *(float(a) for a in sys.argv[2:3]))
