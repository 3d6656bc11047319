"""Interop with the real thing: Apache Spark's own aes_decrypt/aes_encrypt and climatelake's cipher.

Apache Spark (the `pyspark` package) cannot share a virtual environment with `pyspark-client` (both are the
`pyspark` module), so the test keeps one of its own under .local/ (made once, ≈ 30 s; reused after) — or
uses the interpreter named by CLIMATELAKE_SPARK_PYTHON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from climatelake import pii
from tests.helpers.side_venv import outside_env, side_python

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parent.parent
PYSPARK = "pyspark==4.1.0"


@pytest.fixture(scope="module")
def spark_python() -> str:
    return side_python("venv-spark", PYSPARK, "CLIMATELAKE_SPARK_PYTHON")


def test_spark_decrypts_ours_and_we_decrypt_sparks(spark_python: str):
    key = pii.new_key()
    emails = ["ada@example.com", "grace.hopper@navy.example", "łukasz@example.pl"]
    request = {
        "key": pii.encode_key(key),
        "ciphertexts": [pii.encrypt(e, key) for e in emails],
        "plaintexts": ["+1-555-0100", "98500.00"],
    }
    done = subprocess.run(
        [spark_python, str(ROOT / "tests" / "helpers" / "spark_aes.py")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=300,
        # Apache Spark must not inherit this process's Spark settings (SPARK_HOME, connect mode and the
        # like, which the pyspark-client side of the suite may have set): it failed that way in the suite.
        env=outside_env(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["decrypted"] == emails
    assert [pii.decrypt(c, key) for c in answer["encrypted"]] == request["plaintexts"]
