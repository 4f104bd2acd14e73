"""Property-based robustness: schemathesis drives every operation of the served OpenAPI document.

Generated paths, query strings and bodies (valid and deliberately invalid ones) must never produce
a 5xx, and every response — successes and RFC 7807 problems alike — must match what the document
promises (status code, media type, schema). Bounded to 25 examples per operation, mixing
positive cases, negative ones (values the document forbids) and the document's explicit examples.

(The `schemathesis.pytest` lazy-fixture integration does not work with pytest 9, hence the loop
with `as_strategy`, the documented way to use schemathesis from any test.)

The API runs against the session's real database and dev cluster. The plugin and query ids used as
examples in the document exist (a healthy plugin whose runtime stand-in answers), so the explicit
examples reach the success paths and not only 400/404.
"""

from __future__ import annotations

import fastapi
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode

from plugin_operator import api, db, kube
from plugin_operator.api import schemas

from . import http_stub
from .conftest import Tokens, create_plugin, register_query, serve_health


@pytest.fixture(scope="module")
def openapi_schema(
    app: fastapi.FastAPI, kube_client: kube.Kube, database: db.Database, runtime: http_stub.StubServer
) -> schemathesis.BaseSchema:
    ref = create_plugin(
        kube_client,
        database,
        runtime,
        plugin_id=schemas.EXAMPLE_PLUGIN_ID,
        namespace="team-b",
        query_id=schemas.EXAMPLE_QUERY_ID,
    )
    register_query(database, ref)
    serve_health(runtime, ref.plugin_id)
    runtime.routes[f"/queries/{ref.query_id}/translate"] = lambda _: http_stub.Reply(
        200, {"language": "promql", "query": "sum(rate(cpu[5m]))", "endpoint": "/api/v1/query"}
    )
    return schemathesis.openapi.from_asgi(f"{api.PREFIX}/openapi.json", app)


def _fuzz(operation: schemathesis.APIOperation, strategy: st.SearchStrategy, *, token: str) -> None:
    """Run one operation's cases; raises what schemathesis found."""
    # Translation: any string is a schema-valid $filter but not every string is OData (400 is right),
    # and undeclared options are forwarded to the adapter by design (x-forwards-other-query-options).
    translate = operation.path.endswith("/translate")
    excluded = [checks.positive_data_acceptance, checks.negative_data_rejection] if translate else []

    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def conforms(case: schemathesis.Case) -> None:
        # A case whose headers are negative on purpose (e.g. Authorization left out) is sent as generated.
        negative_headers = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
        headers = None if negative_headers else {"Authorization": f"Bearer {token}"}
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    conforms()


def test_every_operation_conforms(openapi_schema: schemathesis.BaseSchema, tokens: Tokens) -> None:
    # DELETE last, so the example plugin is still there for the other operations' examples.
    operations = sorted(
        (result.ok() for result in openapi_schema.get_all_operations()), key=lambda op: op.method.upper() == "DELETE"
    )
    assert len(operations) == 19
    failures: dict[str, BaseException] = {}
    for operation in operations:
        strategies = [operation.as_strategy(mode) for mode in GenerationMode]
        strategies += openapi_schema.get_strategies_from_examples(operation)
        try:
            _fuzz(operation, st.one_of(strategies), token=tokens.admin)
        except Exception as exc:  # collected so one run reports every failing operation
            failures[operation.label] = exc
    assert not failures, "\n\n".join(f"{label}:\n{exc}" for label, exc in failures.items())
