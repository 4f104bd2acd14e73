"""Secret values planted everywhere a plugin can carry them never come out of the API (or its logs)."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest

from plugin_operator import db, kube

from . import http_stub
from .conftest import PluginFactory, Tokens, bearer, register_query, serve_health


def test_no_response_or_log_line_contains_a_secret(
    api_url: str,
    client: httpx.Client,
    tokens: Tokens,
    make_plugin: PluginFactory,
    kube_client: kube.Kube,
    runtime: http_stub.StubServer,
    database: db.Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    in_secret, in_config, nested = (f"planted-{uuid.uuid4().hex}" for _ in range(3))
    secret_name = f"creds-{uuid.uuid4().hex[:8]}"
    kube_client.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret_name, "namespace": "default"},
            "stringData": {"token": in_secret},
        }
    )
    ref = make_plugin(
        config={"base_url": "http://prometheus:9090", "api_token": in_config, "auth": {"password": nested}},
        secret_refs=[{"name": "bearer_token", "secretName": secret_name, "key": "token"}],
    )
    # The planted values really are where the API reads from (so the assertions below can fail).
    assert kube_client.get_plugin("default", ref.name)["spec"]["config"]["api_token"] == in_config
    assert kube_client.read_secret_key("default", secret_name, "token").value == in_secret
    serve_health(runtime, ref.plugin_id)
    runtime.routes[f"/queries/{ref.query_id}/translate"] = lambda _: http_stub.Reply(
        200, {"language": "promql", "query": "up"}
    )
    register_query(database, ref)
    admin_token = tokens.admin
    admin = bearer(admin_token)
    calls = [
        ("GET", "/plugins?limit=500"),
        ("GET", f"/plugins/{ref.plugin_id}"),
        ("GET", f"/plugins/{ref.plugin_id}/health"),
        ("GET", f"/plugins/{ref.plugin_id}/translate?query_id={ref.query_id}"),
        ("GET", f"/plugins/{ref.plugin_id}/translate?query_id={ref.query_id}&$filter=bad eq"),
        ("GET", f"/gts?owner={ref.plugin_id}"),
        ("GET", f"/gts/{ref.query_id}"),
        ("GET", f"/queries?owner={ref.plugin_id}"),
        ("PUT", f"/plugins/{ref.plugin_id}/disable"),
        ("PUT", f"/plugins/{ref.plugin_id}/enable"),
        ("POST", f"/plugins/{ref.plugin_id}/reload"),
        ("GET", f"/plugins/{ref.plugin_id}/health/history"),
        ("GET", f"/audit?target={ref.plugin_id}"),
        ("GET", "/openapi.json"),
        ("DELETE", f"/plugins/{ref.plugin_id}"),
        ("GET", f"/plugins/{ref.plugin_id}"),
    ]
    bodies: list[str] = []
    # INFO, the operator's production level: at DEBUG the kubernetes client logs whole response bodies.
    with caplog.at_level(logging.INFO):
        for method, path in calls:
            response = client.request(method, path, headers=admin)
            assert response.status_code < 500, (path, response.text)
            bodies.append(response.text)
        for path in ("/metrics", "/healthz", "/readyz"):
            bodies.append(httpx.get(f"{api_url}{path}").text)

    everything = "\n".join(bodies)
    for planted in (in_secret, in_config, nested):
        assert planted not in everything
        assert planted not in caplog.text
    for credential in (admin_token, tokens.settings.secret or ""):
        assert credential and credential not in everything and credential not in caplog.text

    plugin = httpx.Response(200, content=bodies[1]).json()
    assert plugin["secret_refs"] == [
        {"name": "bearer_token", "source": "secret", "secret_name": secret_name, "key": "token"}
    ]
    assert plugin["config"] == {
        "base_url": "http://prometheus:9090",
        "api_token": "********",
        "auth": {"password": "********"},
    }
