"""Side virtual environments for outside clients whose pins clash with the project's (real Apache Spark for
the AES interop test, the delta-sharing recipient client): made once under ``.local/``, then reused.

Why not the project venv: pyspark 4.1 (the JVM engine) would shadow pyspark-client, and delta-sharing caps
pyarrow below the project's pin. A recipient or a Spark cluster is an outside party anyway.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def side_python(name: str, requirement: str, override_env: str) -> str:
    """The interpreter of ``.local/<name>`` with ``requirement`` installed, or the one ``override_env``
    names (e.g. on a machine where the environment was prepared elsewhere)."""
    configured = os.environ.get(override_env)
    if configured:
        return configured
    venv = ROOT / ".local" / name
    python = venv / "bin" / "python"
    marker = venv / f".{requirement}"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        subprocess.run([str(python), "-m", "pip", "install", "-q", requirement], check=True, timeout=600)
        marker.touch()
    return str(python)


def outside_env() -> dict[str, str]:
    """This process's environment without its Spark and Databricks settings, which an outside client must
    not inherit."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_", "DATABRICKS_"))}
