"""Container smoke test (issue 9): build the gateway image with podman and prove that it serves.

``make container-test`` (and CI, after ``make test``) runs this as root on a Debian bookworm machine with no
Docker engine and no image registry:

1. installs podman, runc and debootstrap with apt-get (skipped when they are there);
2. makes the base image locally, because nothing can be pulled: ``debootstrap --variant=minbase bookworm``
   from the mirror apt already uses, plus python3, venv, pip and the host's extra CA certificates, imported
   as ``python:3.11-slim`` (bookworm's python3 is 3.11); cached in podman's storage between runs;
3. configures podman through its own config files in a temporary folder (what this host needs: runc,
   cgroupfs, file events, ulimits it may grant);
4. builds ./Dockerfile with ``--format docker`` (the OCI format drops HEALTHCHECK), handing the host pip's
   index settings to the wheel stage as the ``pip.conf`` build secret;
5. starts the local stack (``emulators.stack.Stack``, without its own gateway), runs the image against it with
   ``--network=host`` on a free port, and checks: first 200 on /healthz (the cold start time), /readyz, the
   numeric non-root user, ``podman healthcheck run``, a real request through the container that ends in
   ``Climatelake.Request.Succeeded`` with its 48 rows served back, and a graceful stop on SIGTERM.

The container is removed and the stack stopped whatever happens (SIGTERM included). Any failure exits 1 with
a message saying what failed, and the container's log.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import requests

from emulators.common.event_sink import EventSink
from emulators.stack import Stack, StackError, free_port, port_is_free

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "climatelake-gateway:ci"
# The Dockerfile says `FROM python:3.11-slim`; with --pull=never podman resolves that short name against
# local storage under both of these names, so the local base image carries both.
BASE_TAGS = ("docker.io/library/python:3.11-slim", "localhost/python:3.11-slim")
PACKAGES = ("podman", "runc", "debootstrap")
# passwd: groupadd/useradd, which python:3.11-slim has and minbase lacks (the Dockerfile creates its user).
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates", "passwd")
SUITE = "bookworm"  # its python3 is 3.11, the version the real python:3.11-slim carries
# Host pip settings worth handing to the build: where packages come from and how patiently to fetch them.
PIP_KEYS = ("index-url", "extra-index-url", "trusted-host", "timeout", "retries")
PIP_URL_KEYS = ("index-url", "extra-index-url")
# What the smoke request asks for, and what must come back: 2 days x 24 hours for one city.
SAMPLE_CITIES, SAMPLE_START, SAMPLE_END = [1, 2], dt.date(2024, 1, 1), dt.date(2024, 1, 7)
REQUEST = {"city_ids": [1], "start_date": "2024-01-02", "end_date": "2024-01-03"}
EXPECTED_ROWS = 2 * 24
STACK_PARTS = ("azurite", "sail", "workspace", "eventgrid", "functions")  # not "gateway": the image is it


class SmokeFailure(Exception):
    """A check failed; the message says which and why, ``detail`` holds the evidence (end of a log)."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def say(message: str) -> None:
    print(f"container-smoke: {message}", flush=True)


def run(
    args: list[str], *, env: dict[str, str] | None = None, what: str, log: Path | None = None, **kwargs
) -> subprocess.CompletedProcess:
    """Run a command; on failure raise SmokeFailure naming ``what`` with the end of its output.

    Output goes to ``log`` when given (long outputs: apt, debootstrap, build), else it is captured."""
    if log is not None:
        with open(log, "w") as out:
            result = subprocess.run(
                args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs
            )
        output = log.read_text(errors="replace")
    else:
        result = subprocess.run(
            args, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kwargs
        )
        output = (result.stdout or "") + (result.stderr or "")
    if result.returncode != 0:
        tail = "\n".join(output.splitlines()[-80:])
        raise SmokeFailure(f"{what} failed (exit {result.returncode}): {' '.join(args[:4])} …", tail)
    return result


# Packages ---------------------------------------------------------------------------------------------------


def ensure_packages(work: Path) -> None:
    def installed(package: str) -> bool:
        query = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
        )
        return query.stdout.strip() == "install ok installed"

    missing = [p for p in PACKAGES if not installed(p)]
    if not missing:
        say(f"packages: {', '.join(PACKAGES)} already installed")
        return
    say(f"packages: installing {', '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Lock timeout: wait for another apt run (e.g. unattended upgrades) instead of failing at once.
    apt = ["apt-get", "-qq", "-o", "DPkg::Lock::Timeout=300", "-o", "Dpkg::Use-Pty=0"]
    run([*apt, "update"], env=env, what="apt-get update", log=work / "apt.log")
    # runc named explicitly: podman depends on `crun | runc` and crun rejects this host's cgroup layout.
    # No recommends: rootful podman with host networking on ext4 needs no slirp4netns, uidmap, fuse-overlayfs.
    run(
        [*apt, "install", "-y", "--no-install-recommends", *PACKAGES],
        env=env,
        what="apt-get install",
        log=work / "apt.log",
    )


# podman's configuration -------------------------------------------------------------------------------------


def podman_env(work: Path) -> dict[str, str]:
    """Environment pointing podman at config files written into ``work``; the host's /etc stays untouched."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 1048576 if hard == resource.RLIM_INFINITY else hard
    (work / "containers.conf").write_text(
        "[containers]\n"
        # podman's defaults raise nofile above this host's hard limit (not permitted here): stay at it.
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc=32768:32768"]\n'
        # `podman logs` must work without journald.
        'log_driver = "k8s-file"\n'
        "[engine]\n"
        'runtime = "runc"\n'  # crun refuses this host's cgroup layout
        'cgroup_manager = "cgroupfs"\n'  # no systemd here
        'events_logger = "file"\n'  # no journald either
    )
    # Storage in podman's usual place, so the base image survives between runs (podman insists on a driver).
    (work / "storage.conf").write_text(
        '[storage]\ndriver = "overlay"\n'
        'graphroot = "/var/lib/containers/storage"\nrunroot = "/run/containers/storage"\n'
    )
    return {
        **os.environ,
        "CONTAINERS_CONF": str(work / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(work / "storage.conf"),
    }


def image_exists(name: str, env: dict[str, str]) -> bool:
    return subprocess.run(["podman", "image", "exists", name], env=env, check=False).returncode == 0


def image_size(name: str, env: dict[str, str]) -> int:
    result = run(["podman", "image", "inspect", "--format", "{{.Size}}", name], env=env, what="image inspect")
    return int(result.stdout.strip())


# The base image ---------------------------------------------------------------------------------------------


def apt_mirror() -> tuple[str, str | None]:
    """(URI, keyring or None) of the first enabled `deb` source for bookworm in apt's own configuration."""
    override = os.environ.get("CLIMATELAKE_DEBIAN_MIRROR")
    if override:
        return override, None
    sources = Path("/etc/apt/sources.list.d")
    files = [
        Path("/etc/apt/sources.list"),
        *sorted(sources.glob("*.list")),
        *sorted(sources.glob("*.sources")),
    ]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":  # deb822 stanzas separated by blank lines
            for stanza in re.split(r"\n\s*\n", text):
                fields = {}
                for line in stanza.splitlines():
                    if line.strip() and not line.startswith(("#", " ", "\t")) and ":" in line:
                        key, _, value = line.partition(":")
                        fields[key.strip().lower()] = value.strip()
                if (
                    "deb" in fields.get("types", "").split()
                    and SUITE in fields.get("suites", "").split()
                    and fields.get("enabled", "yes").lower() != "no"
                    and fields.get("uris")
                ):
                    keyring = fields.get("signed-by")
                    return fields["uris"].split()[0], keyring if keyring and keyring.startswith("/") else None
        else:  # one-line format: deb [options] uri suite components
            for line in text.splitlines():
                match = re.match(r"^\s*deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line)
                if match and match.group(3) == SUITE:
                    keyring = re.search(r"signed-by=(\S+)", match.group(1) or "")
                    return match.group(2), keyring.group(1) if keyring else None
    raise SmokeFailure(
        f"no enabled `deb` source for {SUITE} in /etc/apt/sources.list(.d); "
        "set CLIMATELAKE_DEBIAN_MIRROR to a Debian mirror URL"
    )


def _unmount_below(path: Path) -> None:
    """debootstrap mounts /proc and /sys inside the target; never rm -rf across a mount left behind."""
    prefix = str(path.resolve()) + "/"
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


def build_base_image(work: Path, env: dict[str, str], rebuild: bool) -> str:
    if not rebuild and all(image_exists(tag, env) for tag in BASE_TAGS):
        return "cached"
    if not rebuild and any(image_exists(tag, env) for tag in BASE_TAGS):
        present = next(tag for tag in BASE_TAGS if image_exists(tag, env))
        for tag in BASE_TAGS:
            run(["podman", "tag", present, tag], env=env, what="podman tag")
        return "cached (re-tagged)"
    previous = _image_id(BASE_TAGS[0], env)
    mirror, keyring = apt_mirror()
    say(f"base image: debootstrap {SUITE} minbase from apt's configured mirror (≈ 1 minute)")
    rootfs = Path(tempfile.mkdtemp(prefix="climatelake-base-", dir="/var/tmp")) / "rootfs"
    try:
        args = ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}"]
        if keyring:
            args.append(f"--keyring={keyring}")
        try:
            run([*args, SUITE, str(rootfs), mirror], what="debootstrap", log=work / "debootstrap.log")
        except SmokeFailure as failure:
            inner = rootfs / "debootstrap" / "debootstrap.log"
            detail = "\n".join(inner.read_text(errors="replace").splitlines()[-30:]) if inner.exists() else ""
            raise SmokeFailure(str(failure), f"{failure.detail}\n{detail}") from None
        _finish_rootfs(rootfs)
        # The real python:3.11-slim's settings that matter here: PATH, a UTF-8 locale, python3 as command.
        changes = [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            'CMD ["python3"]',
            f"LABEL org.opencontainers.image.description=python:3.11-slim stand-in, debootstrap {SUITE}",
        ]
        tar = subprocess.Popen(
            ["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE
        )
        imported = subprocess.run(
            [
                "podman",
                "import",
                "--quiet",
                *[a for c in changes for a in ("--change", c)],
                "-",
                BASE_TAGS[0],
            ],
            stdin=tar.stdout,
            env=env,
            capture_output=True,
            text=True,
        )
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise SmokeFailure("podman import of the base image failed", imported.stderr)
        run(["podman", "tag", BASE_TAGS[0], BASE_TAGS[1]], env=env, what="podman tag")
        if previous and previous != _image_id(BASE_TAGS[0], env):  # --rebuild-base: drop the old one
            subprocess.run(["podman", "rmi", previous], env=env, capture_output=True, check=False)
        return "built"
    finally:
        _unmount_below(rootfs.parent)
        shutil.rmtree(rootfs.parent, ignore_errors=True)


def _finish_rootfs(rootfs: Path) -> None:
    """Make the debootstrapped tree behave like python:3.11-slim for this Dockerfile, and trim it."""
    # The host's extra CA certificates (e.g. a TLS-inspecting egress proxy): pip in the build needs them to
    # reach the index the host reaches. Debian's pip uses the system bundle that update-ca-certificates makes.
    extra = Path("/usr/local/share/ca-certificates")
    if extra.is_dir():
        shutil.copytree(extra, rootfs / extra.relative_to("/"), dirs_exist_ok=True)
    run(["chroot", str(rootfs), "update-ca-certificates"], what="update-ca-certificates in the base image")
    # PEP 668: Debian forbids `pip install` into the system Python; python:3.11-slim's Python allows it.
    for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    # python:3.11-slim has `python` and `pip`; the Dockerfile and its HEALTHCHECK call them by those names.
    for name, target in (("python", "python3"), ("pip", "pip3")):
        link = rootfs / "usr/bin" / name
        if not link.exists():
            link.symlink_to(target)
    # Slim images carry no apt caches, documentation or translations: ≈ 300 MB → ≈ 150 MB. The host's
    # resolv.conf and hostname copied by debootstrap do not belong in an image (the engine provides them).
    patterns = [
        "var/cache/apt/*.bin",
        "var/cache/apt/archives/*.deb",
        "var/lib/apt/lists/*",
        "usr/share/man/*",
        "usr/share/info/*",
        "usr/share/locale/*",
        "var/log/*.log",
        "etc/resolv.conf",
        "etc/hostname",
    ]
    paths = [path for pattern in patterns for path in rootfs.glob(pattern)]
    # Documentation goes too, except each package's copyright file (the licences). Symlinked package folders
    # are skipped: they point at another package's folder, which is handled on its own.
    docs = [d for d in (rootfs / "usr/share/doc").iterdir() if d.is_dir() and not d.is_symlink()]
    paths += [p for d in docs for p in d.iterdir() if p.name != "copyright"]
    inside = rootfs.resolve()
    for path in paths:
        # Never through a symlink that leads out of the tree (an absolute link would point into the host).
        if not path.parent.resolve().is_relative_to(inside):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


# The build --------------------------------------------------------------------------------------------------


def host_pip_conf(work: Path) -> Path | None:
    """A pip.conf holding the host pip's network index settings (read now, never stored in the repository).

    Host-local indexes (file:// URLs, paths) are left out: they do not exist inside the build."""
    listing = run([sys.executable, "-m", "pip", "config", "list"], what="pip config list").stdout
    found: dict[tuple[str, str], str] = {}
    for line in listing.splitlines():
        key, sep, value = line.partition("=")
        section, _, name = key.partition(".")
        if sep and name in PIP_KEYS:
            found[(section, name)] = str(ast.literal_eval(value))
    settings: dict[str, str] = {}
    for section in ("global", "wheel", ":env:"):  # pip's precedence, lowest first (environment wins)
        for (where, name), value in found.items():
            if where == section:
                settings[name] = value
    for name in PIP_URL_KEYS:
        if name in settings:
            urls = settings[name].split()
            network = [u for u in urls if urlparse(u).scheme in ("http", "https")]
            if len(network) < len(urls):
                left_out = len(urls) - len(network)
                say(f"pip: left out {left_out} host-local {name} value(s): no such path in the build")
            settings[name] = " ".join(network)
    settings = {name: value for name, value in settings.items() if value}
    if not any(name in settings for name in PIP_URL_KEYS):
        say("pip: no network index settings on the host; the build uses pip's default index")
        return None
    path = work / "pip.conf"
    path.write_text("[global]\n" + "".join(f"{name} = {value}\n" for name, value in settings.items()))
    path.chmod(0o600)
    say(f"pip: the build gets the host's {', '.join(sorted(settings))} settings (as a build secret)")
    return path


def build_image(work: Path, env: dict[str, str]) -> None:
    previous = _image_id(IMAGE, env)
    # --layers=false: podman 4.3's layer cache does not look at what `RUN --mount=type=bind,from=build`
    # mounts, so a cached build would keep installing the *previous* wheels after a code or dependency change
    # (seen here: a changed flask_gateway file did not reach the image). Building every layer afresh costs
    # ≈ 30 s and leaves no intermediate images behind.
    args = ["podman", "build", "--layers=false", "--pull=never", "--format=docker", "--network=host"]
    args += ["--tag", IMAGE]
    pip_conf = host_pip_conf(work)
    if pip_conf is not None:
        args += ["--secret", f"id=pip.conf,src={pip_conf}"]
    run(
        [*args, "--file", str(ROOT / "Dockerfile"), str(ROOT)],
        env=env,
        what="podman build",
        log=work / "build.log",
    )
    # Each changed build leaves the previous image untagged; drop it so a reused machine does not fill up.
    if previous and previous != _image_id(IMAGE, env):
        subprocess.run(["podman", "rmi", previous], env=env, capture_output=True, check=False)


def _image_id(name: str, env: dict[str, str]) -> str | None:
    result = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", name], env=env, capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else None


# The image against the local stack --------------------------------------------------------------------------


def podman_out(args: list[str], env: dict[str, str], what: str) -> str:
    return run(["podman", *args], env=env, what=what).stdout.strip()


def expected_user(env: dict[str, str]) -> int:
    user = podman_out(["image", "inspect", "--format", "{{.Config.User}}", IMAGE], env, "image inspect")
    match = re.fullmatch(r"(\d+)(?::\d+)?", user)
    if not match or int(match.group(1)) == 0:
        raise SmokeFailure(f"the image's USER is {user!r}: a numeric non-root user is required")
    return int(match.group(1))


def process_uids(pid: int) -> dict[int, list[int]]:
    """Real/effective/saved/fs uids of ``pid`` and of its children, read on the host from /proc."""

    def uids(p: int) -> list[int]:
        status = Path(f"/proc/{p}/status").read_text()
        return [int(u) for u in re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()]

    found = {pid: uids(pid)}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if re.search(r"^PPid:\s+(\d+)$", status.read_text(), re.M).group(1) == str(pid):
                found[int(status.parent.name)] = uids(int(status.parent.name))
        except (OSError, AttributeError):
            pass  # a process that ended meanwhile
    return found


def smoke(env: dict[str, str], figures: dict[str, str]) -> None:
    http = requests.Session()
    http.trust_env = False  # straight to 127.0.0.1, never through a proxy from the environment
    sink = EventSink()
    state = tempfile.TemporaryDirectory(prefix="climatelake-smoke-")
    stack = Stack(Path(state.name), in_memory=True, subscribers=[sink.url])
    name = f"climatelake-smoke-{os.getpid()}"
    container_started = False
    try:
        say("stack: starting Azurite, Sail and the stand-ins, loading sample data")
        started = time.monotonic()
        stack.start(only=STACK_PARTS)
        stack.bootstrap(SAMPLE_CITIES, SAMPLE_START, SAMPLE_END)
        say(f"stack: ready in {time.monotonic() - started:.1f} s")

        port = stack.ports["gateway"] if port_is_free(stack.ports["gateway"]) else free_port()
        base = f"http://127.0.0.1:{port}"
        # Values reach podman through its environment and `-e NAME`, so no key shows in `ps` output.
        gateway_env = {**stack.env, **stack.gateway_env, "PORT": str(port)}  # what the launcher gives it
        run_env = {**env, **gateway_env}
        passed = [a for n in gateway_env for a in ("-e", n)]
        started = time.monotonic()
        container_started = True
        # podman logs errors about health-check timers here (they need systemd, absent): harmless, so its
        # output is shown only if the run fails; `podman healthcheck run` checks health on demand below.
        run(
            ["podman", "run", "-d", "--name", name, "--network=host", *passed, IMAGE],
            env=run_env,
            what="podman run",
        )
        wait_for_healthz(http, base, name, env, started)
        cold_start = time.monotonic() - started
        figures["cold start (podman run → first 200 on /healthz)"] = f"{cold_start:.2f} s"
        say(f"check: /healthz 200 after {cold_start:.2f} s")

        ready = http.get(f"{base}/readyz", timeout=30)
        if ready.status_code != 200:
            raise SmokeFailure(f"/readyz answered {ready.status_code}: {ready.text[:500]}")
        say("check: /readyz 200 (the container reaches storage, workspace and catalog)")

        uid = expected_user(env)
        exec_uid = podman_out(["exec", name, "id", "-u"], env, "podman exec id -u")
        pid = int(podman_out(["inspect", "--format", "{{.State.Pid}}", name], env, "podman inspect"))
        processes = process_uids(pid)
        wrong = {p: u for p, u in processes.items() if set(u) != {uid}}
        if exec_uid != str(uid) or wrong or len(processes) < 2:
            raise SmokeFailure(
                f"expected gunicorn and its workers to run as uid {uid}; `id -u` says {exec_uid}, "
                f"processes (pid: uids) {processes}"
            )
        say(f"check: gunicorn and {len(processes) - 1} workers run as uid {uid} (non-root)")

        health = subprocess.run(
            ["podman", "healthcheck", "run", name], env=env, capture_output=True, text=True
        )
        status = podman_out(["inspect", "--format", "{{.State.Health.Status}}", name], env, "podman inspect")
        if health.returncode != 0 or status != "healthy":
            raise SmokeFailure(
                f"podman healthcheck run: exit {health.returncode}, status {status!r}\n{health.stdout}"
            )
        say("check: podman healthcheck run → healthy")

        request_through_container(http, base, stack, sink, figures)

        started = time.monotonic()
        run(["podman", "stop", "--time", "10", name], env=env, what="podman stop")
        code = podman_out(["inspect", "--format", "{{.State.ExitCode}}", name], env, "podman inspect")
        if code != "0":
            raise SmokeFailure(f"gunicorn did not stop cleanly on SIGTERM (exit code {code}; 137 = killed)")
        say(f"check: stops cleanly on SIGTERM in {time.monotonic() - started:.1f} s")
    except Exception as error:  # whatever failed, show the container's side of the story
        if container_started:
            logs = subprocess.run(
                ["podman", "logs", "--tail", "150", name], env=env, capture_output=True, text=True
            )
            print(f"----- container log ({name}) -----\n{logs.stdout}{logs.stderr}-----", file=sys.stderr)
        if isinstance(error, SmokeFailure | StackError):
            raise SmokeFailure(str(error), getattr(error, "detail", "")) from None
        raise SmokeFailure(f"{error.__class__.__name__}: {error}") from error
    finally:
        if container_started:
            subprocess.run(["podman", "rm", "--force", "--time", "2", name], env=env, capture_output=True)
        stack.stop()
        sink.close()
        state.cleanup()


def wait_for_healthz(
    http: requests.Session, base: str, name: str, env: dict[str, str], started: float
) -> None:
    """Poll /healthz until 200; fail at once if the container exits, or after 60 s."""
    last_state_check = 0.0
    while time.monotonic() - started < 60:
        try:
            # A request that connects waits in gunicorn's backlog until a worker has booted, so its answer
            # marks the first moment the container serves; a loaded machine may take longer than the timeout.
            if http.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        if time.monotonic() - last_state_check > 1:
            last_state_check = time.monotonic()
            state = podman_out(["inspect", "--format", "{{.State.Status}}", name], env, "podman inspect")
            if state not in ("created", "running"):
                raise SmokeFailure(f"the container is {state} before answering /healthz")
        time.sleep(0.05)
    raise SmokeFailure("no 200 from /healthz within 60 s")


def request_through_container(
    http: requests.Session, base: str, stack: Stack, sink: EventSink, figures: dict[str, str]
) -> None:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    started = time.monotonic()
    answer = http.post(f"{base}/v1/requests", json=REQUEST, headers=headers, timeout=30)
    if answer.status_code != 202:
        raise SmokeFailure(f"POST /v1/requests answered {answer.status_code}: {answer.text[:500]}")
    request_id = answer.json()["request_id"]
    event = sink.wait_for(lambda e: e.get("data", {}).get("request_id") == request_id, timeout=180)
    if event.get("eventType") != "Climatelake.Request.Succeeded":
        raise SmokeFailure(f"request {request_id} ended with {event.get('eventType')}: {event.get('data')}")
    figures["request → Succeeded event"] = f"{time.monotonic() - started:.1f} s"
    status = http.get(f"{base}/v1/requests/{request_id}", headers=headers, timeout=30).json()
    results = http.get(f"{base}/v1/requests/{request_id}/results", headers=headers, timeout=60)
    body = results.json() if results.status_code == 200 else {}
    rows = body.get("rows", [])
    if (
        status.get("status") != "succeeded"
        or body.get("row_count") != EXPECTED_ROWS
        or len(rows) != EXPECTED_ROWS
    ):
        raise SmokeFailure(
            f"request {request_id}: status {status.get('status')!r}, results answered {results.status_code} "
            f"with row_count {body.get('row_count')} and {len(rows)} rows; {EXPECTED_ROWS} expected"
        )
    say(f"check: POST /v1/requests → Succeeded event → {len(rows)} rows back through the container")


# Main -------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild-base", action="store_true", help="rebuild the local base image")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        say("FAILED: needs root (apt-get, debootstrap, rootful podman); CI runs it as root")
        return 1

    # CI's timeout sends SIGTERM: turn it into an exception so every `finally` still cleans up.
    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)  # the stand-in has no host metadata

    figures: dict[str, str] = {}
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="climatelake-podman-"))
    try:
        step = time.monotonic()
        ensure_packages(work)
        figures["packages"] = f"{time.monotonic() - step:.1f} s"
        env = podman_env(work)
        step = time.monotonic()
        base = build_base_image(work, env, args.rebuild_base)
        size = image_size(BASE_TAGS[0], env)
        figures["base image"] = f"{base} in {time.monotonic() - step:.1f} s, {size / 1e6:.0f} MB"
        say(f"base image {BASE_TAGS[0]}: {figures['base image']}")

        step = time.monotonic()
        say(f"build: podman build --pull=never --format docker --network=host -t {IMAGE}")
        build_image(work, env)
        figures["build"] = f"{time.monotonic() - step:.1f} s"
        size = image_size(IMAGE, env)
        figures["image size"] = f"{size / 1e6:.0f} MB ({size} bytes)"
        say(f"build: {IMAGE} in {figures['build']}, {figures['image size']}")

        step = time.monotonic()
        smoke(env, figures)
        figures["stack + run + checks"] = f"{time.monotonic() - step:.1f} s"
    except SmokeFailure as failure:
        if failure.detail:
            print(failure.detail, file=sys.stderr, flush=True)
        say(f"FAILED: {failure}")  # last, so it is what a CI log ends with
        return 1
    except KeyboardInterrupt:
        say("interrupted; cleaned up")
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures["total"] = f"{time.monotonic() - started:.1f} s"
    say("PASSED")
    for key, value in figures.items():
        print(f"  {key:<50} {value}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
