"""Errors as RFC 7807 problems whatever their origin, the OpenAPI document, probes and metrics."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import httpx
import pytest

from plugin_operator import api, db, registry
from plugin_runtime import errors

from . import http_stub
from .conftest import Tokens, bearer, serving


def _is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(problem)
    assert problem["status"] == status and problem["type"].startswith(errors.PROBLEM_BASE)
    return dict(problem)


def test_unknown_route_and_wrong_method_are_problems(api_url: str) -> None:
    assert (
        _is_problem(httpx.get(f"{api_url}/api/analytics/v1/dashboards"), 404)["instance"]
        == "/api/analytics/v1/dashboards"
    )
    wrong = httpx.post(f"{api_url}/api/analytics/v1/plugins", headers=bearer("x"))
    _is_problem(wrong, 405)
    assert wrong.headers["allow"] == "GET"


def test_validation_errors_list_every_field(client: httpx.Client, tokens: Tokens) -> None:
    response = client.get("/plugins", params={"limit": "many", "offset": "-1"}, headers=bearer(tokens.read))
    problem = _is_problem(response, 400)
    assert problem["title"] == "Invalid Input"
    assert sorted(error["location"] for error in problem["errors"]) == ["query.limit", "query.offset"]
    assert "many" not in response.text, "the caller's input is not reflected"


def test_malformed_plugin_ids_are_400(client: httpx.Client, tokens: Tokens) -> None:
    for bad in ("Upper", "-dash", "x" * 254, "under_score"):
        _is_problem(client.get(f"/plugins/{bad}", headers=bearer(tokens.read)), 400)


@dataclasses.dataclass
class _BrokenKube:
    """Fails the way a bug would: an exception outside the plugin error tree, carrying internals."""

    def _fail(self, *args: object, **kwargs: object) -> Any:
        raise RuntimeError("internal detail: password=hunter2 at 10.0.0.7")

    get_plugin = list_plugins = patch_plugin = delete_plugin = _fail


def test_unexpected_failures_are_500_problems_that_reveal_nothing(
    deps: api.ApiDeps, tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    app = api.create_app(dataclasses.replace(deps, kube=_BrokenKube()))
    with serving(app) as url, caplog.at_level(logging.ERROR):
        response = httpx.get(f"{url}/api/analytics/v1/plugins", headers=bearer(tokens.read))
    problem = _is_problem(response, 500)
    assert "hunter2" not in response.text and "10.0.0.7" not in response.text
    assert problem["detail"] == "internal error; see the operator log"
    assert any(record.exc_info and "hunter2" in str(record.exc_info[1]) for record in caplog.records)


@pytest.fixture(scope="module")
def database_down(deps: api.ApiDeps) -> api.ApiDeps:
    unreachable = db.connect(f"postgresql+psycopg://postgres@{http_stub.refused_url().removeprefix('http://')}/test")
    return dataclasses.replace(deps, database=unreachable, registry=registry.Registry(unreachable))


def test_database_down_makes_readyz_and_reads_503(database_down: api.ApiDeps, tokens: Tokens) -> None:
    with serving(api.create_app(database_down)) as url:
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        problem = _is_problem(httpx.get(f"{url}/readyz"), 503)
        assert problem["title"] == "Database Unavailable"
        # Anyone may call /readyz: it names neither the database's address nor the driver's message.
        assert problem["detail"] == "the database is unavailable"
        assert int(httpx.get(f"{url}/readyz").headers["retry-after"]) > 0
        _is_problem(httpx.get(f"{url}/api/analytics/v1/gts", headers=bearer(tokens.read)), 503)


def test_probes_when_everything_is_up(api_url: str) -> None:
    assert httpx.get(f"{api_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{api_url}/readyz").json() == {"status": "ready"}


def test_metrics_count_requests_by_route_template(api_url: str, client: httpx.Client, tokens: Tokens) -> None:
    def count() -> float:
        text = httpx.get(f"{api_url}/metrics").text
        route = "/api/analytics/v1/plugins/{plugin_id}"
        prefix = f'plugin_operator_api_requests_total{{method="GET",route="{route}",status="404"}}'
        return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix)), 0.0)

    before = count()
    for name in ("nope-1", "nope-2"):
        client.get(f"/plugins/{name}", headers=bearer(tokens.read))
    assert count() == before + 2
    response = httpx.get(f"{api_url}/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert "plugin_operator_api_request_duration_seconds_bucket" in response.text


def test_openapi_documents_problems_and_is_served_with_docs(api_url: str) -> None:
    document = httpx.get(f"{api_url}/api/analytics/v1/openapi.json").json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len(operations) == 19
    for operation in operations:
        for status, response in operation["responses"].items():
            assert status != "422"
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"]
                assert response["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
    secured = [op for op in operations if op.get("security")]
    assert len(secured) == 16 and all(set(op["responses"]) >= {"401", "403"} for op in secured)
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    docs = httpx.get(f"{api_url}/api/analytics/v1/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
