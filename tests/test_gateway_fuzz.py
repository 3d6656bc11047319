"""Property-based testing of the gateway with schemathesis, from its own /openapi.json: no 5xx, and no
response that breaks the schema it documents. Manifests go to a container nobody watches, so fuzzed
requests do not start job runs."""

from __future__ import annotations

import dataclasses

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import ignored_auth, positive_data_acceptance

from climatelake.keys import ApiKeyStore
from climatelake.storage import blob_service, ensure_containers
from flask_gateway import create_app
from tests.conftest import LocalStack

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def fuzz_app(local_stack: LocalStack):
    settings_ = dataclasses.replace(local_stack.stack.settings(), manifests_container="fuzz-manifests")
    ensure_containers(blob_service(settings_), "fuzz-manifests")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in local_stack.stack.env.items():
            patch.setenv(name, value)
        app = create_app(settings_, RATE_LIMIT_PER_MINUTE=100_000, RATE_LIMIT_BURST=100_000)
        app.config["fuzz_key"] = ApiKeyStore(local_stack.stack.connection_string).create("admin", "fuzz")[0]
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


def test_no_server_errors_and_responses_match_the_schema(api_schema, fuzz_app):
    """Every documented operation, fuzzed from its schema (hypothesis drives schemathesis' strategies;
    schemathesis' own pytest plugin does not support this pytest version)."""
    headers = {"Authorization": f"Bearer {fuzz_app.config['fuzz_key']}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            case.headers = {**(case.headers or {}), **headers}
            # Authentication is the role-matrix test's job (every call here carries a valid admin key), and
            # rules beyond the schema (e.g. the longest date range) may reject schema-valid data with 400.
            case.call_and_validate(excluded_checks=[ignored_auth, positive_data_acceptance])

        check()
