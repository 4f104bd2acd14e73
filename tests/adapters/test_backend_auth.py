"""Backend authentication of every HTTP adapter against real local servers: an OAuth2 token endpoint
(client_secret_basic, client_secret_post, private_key_jwt; expiry, refresh, revocation) and a
backend requiring mutual TLS — over HTTPS with a private CA. Prometheus answers for real, through
an authenticating proxy; Elasticsearch with its recorded answer (no server exists here)."""

from __future__ import annotations

import base64
import json
import secrets as token_bytes
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters._common import oauth2
from adapters.elasticsearch.plugin import ElasticsearchPlugin
from adapters.odata.plugin import ODataPassthroughPlugin
from adapters.prometheus.plugin import PrometheusPlugin
from adapters.rest.plugin import RestPlugin
from plugin_runtime import errors, interface, odata
from tests.adapters import pki, servers
from tests.adapters.conftest import QUERY_ID, config
from tests.adapters.test_odata_passthrough import upstream as odata_upstream

CTX = interface.SecurityCtx(subject="tester")
CLIENT_ID = "analytics plugin"  # a space: client_secret_basic must form-encode it (RFC 6749 §2.3.1)
CLIENT_SECRET = "s3cr3t:with/odd+chars\nand a newline"
RECORDED_SEARCH = json.loads((Path(__file__).parent / "recorded" / "es_search_logs.json").read_text())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = RSA_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
PUBLIC_PEM = (
    RSA_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


@pytest.fixture(scope="module")
def authority() -> pki.Authority:
    return pki.authority()


class IdentityProvider:
    """A token endpoint: checks the client the way `method` says, issues short random tokens."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.url = ""
        self.expires_in = 3600
        self.valid: set[str] = set()
        self.issued: list[str] = []
        self.scopes: list[str | None] = []
        self.lock = threading.Lock()

    def _client(self, request: servers.Request) -> str | None:
        form = request.form
        if self.method == "client_secret_basic":
            scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
            if scheme != "Basic" or "client_secret" in form:
                return None
            client, _, secret = base64.b64decode(encoded).decode().partition(":")
            return unquote_plus(client) if unquote_plus(secret) == CLIENT_SECRET else None
        if self.method == "client_secret_post":
            return form.get("client_id") if form.get("client_secret") == CLIENT_SECRET else None
        if form.get("client_assertion_type") != oauth2.ASSERTION_TYPE:
            return None
        try:
            claims = jwt.decode(form["client_assertion"], PUBLIC_PEM, algorithms=["RS256"], audience=self.url)
        except (KeyError, jwt.PyJWTError):
            return None
        return claims["iss"] if claims["iss"] == claims["sub"] == form.get("client_id") else None

    def __call__(self, request: servers.Request) -> servers.Reply:
        if request.form.get("grant_type") != "client_credentials":
            return servers.Reply(400, {"error": "unsupported_grant_type"})
        if self._client(request) != CLIENT_ID:
            return servers.Reply(401, {"error": "invalid_client", "error_description": "who are you?"})
        token = token_bytes.token_urlsafe(16)
        with self.lock:
            self.valid.add(token)
            self.issued.append(token)
            self.scopes.append(request.form.get("scope"))
        return servers.Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in})


def backend_handler(idp: IdentityProvider | None, prometheus_url: str) -> servers.Handler:
    """One backend speaking each adapter's API; with `idp`, only to holders of one of its tokens."""

    def handle(request: servers.Request) -> servers.Reply:
        if idp is not None:
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            if token not in idp.valid:
                return servers.Reply(401, {"message": "invalid token"})
        if request.path.startswith(("/api/v1/", "/-/")):
            forwarded = {"Content-Type": request.headers.get("content-type", "application/x-www-form-urlencoded")}
            answer = httpx.request(
                request.method,
                prometheus_url + request.path,
                params=httpx.QueryParams(list[tuple[str, str | int | float | bool | None]](request.query)),
                content=request.body,
                headers=forwarded,
                timeout=10,
            )
            return servers.Reply(answer.status_code, answer.content, {"Content-Type": "application/json"})
        if request.path.endswith("/_search") or request.path == "/_cluster/health":
            return servers.Reply(200, RECORDED_SEARCH if "_search" in request.path else {"status": "green"})
        if request.path.startswith("/odata/"):
            return odata_upstream(request)
        return servers.Reply(200, [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}])

    return handle


Adapter = tuple[Callable[[], interface.QueryPlugin], str, dict[str, Any], dict[str, str]]
ADAPTERS: dict[str, Adapter] = {
    "rest": (RestPlugin, "", {"url": "{base_url}/items"}, {}),
    "odata": (ODataPassthroughPlugin, "/odata", {"path": "Products"}, {"$top": "2"}),
    "elasticsearch": (ElasticsearchPlugin, "", {"index": "logs-*", "fields": {"service": "keyword"}}, {}),
    "prometheus": (
        PrometheusPlugin,
        "",
        {"metric": "queue_depth"},
        {"$filter": "timestamp eq 2023-11-14T22:23:20Z"},
    ),
}


def make(name: str, base_url: str, secrets: dict[str, str], **settings: Any) -> tuple[interface.QueryPlugin, Any]:
    plugin_class, prefix, options, request = ADAPTERS[name]
    plugin = plugin_class()
    plugin.init(config(base_url + prefix, options, secrets=secrets, retry_count=0, **settings))
    return plugin, request


@pytest.fixture
def oauth_backend(
    request: pytest.FixtureRequest, authority: pki.Authority, prometheus_url: str
) -> Iterator[tuple[IdentityProvider, servers.Server]]:
    idp = IdentityProvider(getattr(request, "param", "client_secret_basic"))
    tls = authority.server_context(require_client_cert=False)
    with (
        servers.serving(idp, tls=tls) as token_server,
        servers.serving(backend_handler(idp, prometheus_url), tls=tls) as api,
    ):
        idp.url = token_server.url + "/token"
        yield idp, api


def oauth_settings(idp: IdentityProvider, authority: pki.Authority, **extra: Any) -> dict[str, Any]:
    return {
        "ca_certificate": authority.ca.cert,
        "oauth2": {"endpoint": idp.url, "method": idp.method, "scopes": ["metrics.read"], **extra},
    }


def oauth_secrets(method: str) -> dict[str, str]:
    if method == "private_key_jwt":
        return {oauth2.CLIENT_ID: CLIENT_ID, oauth2.PRIVATE_KEY: PRIVATE_PEM}
    return {oauth2.CLIENT_ID: CLIENT_ID, oauth2.CLIENT_SECRET: CLIENT_SECRET}


@pytest.mark.parametrize("adapter", list(ADAPTERS))
@pytest.mark.parametrize(
    "oauth_backend", ["client_secret_basic", "client_secret_post", "private_key_jwt"], indirect=True
)
def test_every_adapter_queries_with_a_client_credentials_token(
    adapter: str, oauth_backend: tuple[IdentityProvider, servers.Server], authority: pki.Authority
) -> None:
    idp, api = oauth_backend
    plugin, request = make(adapter, api.url, oauth_secrets(idp.method), **oauth_settings(idp, authority))
    try:
        first = plugin.execute_query(CTX, QUERY_ID, odata.parse_params(request))
        second = plugin.execute_query(CTX, QUERY_ID, odata.parse_params(request))
        assert first.rows and first.rows == second.rows
        assert len(idp.issued) == 1 and idp.scopes == ["metrics.read"]  # one token serves both queries
        assert {r.headers["authorization"] for r in api.requests} == {f"Bearer {idp.issued[0]}"}
        assert plugin.health_check().status is interface.HealthState.HEALTHY
    finally:
        plugin.shutdown()


def test_a_token_is_refreshed_before_it_expires_and_once_after_a_401(
    oauth_backend: tuple[IdentityProvider, servers.Server], authority: pki.Authority
) -> None:
    idp, api = oauth_backend
    idp.expires_in = 20  # less than refresh_before (30 s): every call finds it due
    plugin, request = make("rest", api.url, oauth_secrets(idp.method), **oauth_settings(idp, authority))
    try:
        for _ in range(3):
            plugin.execute_query(CTX, QUERY_ID, odata.parse_params(request))
        assert len(idp.issued) == 3
        assert [r.headers["authorization"] for r in api.requests] == [f"Bearer {t}" for t in idp.issued]
        idp.expires_in = 3600
        plugin.execute_query(CTX, QUERY_ID, odata.parse_params(request))
        idp.valid.clear()  # the identity provider revokes every token early
        rows = plugin.execute_query(CTX, QUERY_ID, odata.parse_params(request)).rows
        assert len(rows) == 2 and len(idp.issued) == 5
        assert [r.headers["authorization"] for r in api.requests[-2:]] == [
            f"Bearer {idp.issued[3]}",
            f"Bearer {idp.issued[4]}",
        ]
    finally:
        plugin.shutdown()


@pytest.mark.parametrize("adapter", list(ADAPTERS))
def test_refused_client_credentials_are_an_auth_failure_not_a_backend_outage(
    adapter: str, oauth_backend: tuple[IdentityProvider, servers.Server], authority: pki.Authority
) -> None:
    idp, api = oauth_backend
    wrong = {oauth2.CLIENT_ID: CLIENT_ID, oauth2.CLIENT_SECRET: "wrong\nsecret"}
    plugin, request = make(adapter, api.url, wrong, **oauth_settings(idp, authority))
    try:
        with pytest.raises(errors.BackendAuthFailed) as caught:
            plugin.execute_query(CTX, QUERY_ID, odata.parse_params(request))
        assert (
            caught.value.status == 502
            and "refused the client credentials (HTTP 401: invalid_client)" in caught.value.detail
        )
        health = plugin.health_check()
        assert health.status is interface.HealthState.UNHEALTHY
        assert health.message is not None and health.message.startswith("authentication failed:")
        assert "wrong" not in caught.value.detail + health.message and not api.requests
    finally:
        plugin.shutdown()


def test_a_backend_refusing_the_token_is_reported_as_auth_failure(
    oauth_backend: tuple[IdentityProvider, servers.Server], authority: pki.Authority, prometheus_url: str
) -> None:
    idp, _ = oauth_backend
    other_idp = IdentityProvider("client_secret_basic")  # the backend trusts another IdP's tokens only
    tls = authority.server_context(require_client_cert=False)
    with servers.serving(backend_handler(other_idp, prometheus_url), tls=tls) as api:
        plugin, request = make("rest", api.url, oauth_secrets(idp.method), **oauth_settings(idp, authority))
        try:
            with pytest.raises(errors.BackendAuthFailed):
                plugin.execute_query(CTX, QUERY_ID, odata.parse_params(request))
            assert len(api.requests) == 2 and len(idp.issued) == 2  # one retry, with a fresh token
            assert plugin.health_check().message == "authentication failed: REST API answered HTTP 401"
        finally:
            plugin.shutdown()


@pytest.fixture
def mtls_backend(authority: pki.Authority, prometheus_url: str) -> Iterator[servers.Server]:
    with servers.serving(
        backend_handler(None, prometheus_url), tls=authority.server_context(require_client_cert=True)
    ) as api:
        yield api


@pytest.mark.parametrize("adapter", list(ADAPTERS))
def test_every_adapter_presents_its_client_certificate(
    adapter: str, mtls_backend: servers.Server, authority: pki.Authority
) -> None:
    secrets = {"tls_client_cert": authority.client.cert, "tls_client_key": authority.client.key}
    plugin, request = make(adapter, mtls_backend.url, secrets, ca_certificate=authority.ca.cert)
    try:
        assert plugin.execute_query(CTX, QUERY_ID, odata.parse_params(request)).rows
        assert {r.peer for r in mtls_backend.requests} == {"plugin-runtime"}
        assert plugin.health_check().status is interface.HealthState.HEALTHY
    finally:
        plugin.shutdown()


@pytest.mark.parametrize("who", ["nobody", "stranger"])
def test_without_a_trusted_client_certificate_the_backend_is_unreachable(
    who: str, mtls_backend: servers.Server, authority: pki.Authority
) -> None:
    secrets = {}
    if who == "stranger":
        secrets = {"tls_client_cert": authority.stranger.cert, "tls_client_key": authority.stranger.key}
    plugin, request = make("rest", mtls_backend.url, secrets, ca_certificate=authority.ca.cert)
    try:
        with pytest.raises(errors.PluginError) as caught:
            plugin.execute_query(CTX, QUERY_ID, odata.parse_params(request))
        assert caught.value.status in (502, 503) and not mtls_backend.requests
        assert authority.stranger.key not in caught.value.detail
    finally:
        plugin.shutdown()


@pytest.mark.parametrize(
    ("secrets", "settings", "says"),
    [
        ({"tls_client_cert": "x"}, {}, "mutual TLS needs both tls_client_cert and tls_client_key"),
        ({"tls_client_cert": "not pem", "tls_client_key": "not pem"}, {}, "are not a PEM certificate"),
        ({}, {"ca_certificate": "not pem"}, "ca_certificate is not a PEM certificate"),
        ({oauth2.CLIENT_ID: "c"}, {"oauth2": {"endpoint": "https://idp.test/token"}}, "needs oauth_client_secret"),
        (
            {oauth2.CLIENT_ID: "c", oauth2.CLIENT_SECRET: "s", "bearer_token": "t"},
            {"oauth2": {"endpoint": "https://idp.test/token"}},
            "bearer_token and oauth2 both use the Authorization header",
        ),
        (
            {oauth2.CLIENT_ID: "c"},
            {"oauth2": {"endpoint": "https://idp.test/token", "method": "private_key_jwt"}},
            "needs oauth_private_key",
        ),
    ],
)
def test_incomplete_auth_configuration_fails_init(secrets: dict[str, str], settings: dict[str, Any], says: str) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        RestPlugin().init(config("https://api.test", {"url": "{base_url}/items"}, secrets=secrets, **settings))
    assert says in caught.value.detail


def test_tokens_and_secrets_never_reach_logs(
    oauth_backend: tuple[IdentityProvider, servers.Server], authority: pki.Authority, caplog: pytest.LogCaptureFixture
) -> None:
    idp, api = oauth_backend
    caplog.set_level("DEBUG")
    plugin, request = make("rest", api.url, oauth_secrets(idp.method), **oauth_settings(idp, authority))
    try:
        plugin.execute_query(CTX, QUERY_ID, odata.parse_params(request))
        idp.valid.clear()
        plugin.execute_query(CTX, QUERY_ID, odata.parse_params(request))
    finally:
        plugin.shutdown()
    logged = caplog.text
    for value in (
        *idp.issued,
        CLIENT_SECRET,
        *CLIENT_SECRET.split("\n"),
        base64.b64encode(CLIENT_SECRET.encode()).decode(),
    ):
        assert value not in logged
