"""Every endpoint of the management API against every kind of caller: who gets 401, 403, or the answer.

Each case acts on its own plugin, so the allowed mutations (disable, delete...) really happen and
their success status is what is asserted. Management actions leave audit entries: success for the
allowed callers, denied for an authenticated caller lacking the role; anonymous or badly
authenticated attempts go to the `audit` log only.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable

import httpx
import pytest

from plugin_operator import api, db
from plugin_operator.security import Role

from . import http_stub
from .conftest import PluginFactory, PluginRef, Tokens, register_query, serve_health


@dataclasses.dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {id} and {query} are filled in per case
    role: Role
    success: int
    action: str | None = None
    body: dict[str, str] | None = None

    def url(self, ref: PluginRef) -> str:
        return self.path.format(id=ref.plugin_id, query=ref.query_id)


ENDPOINTS = [
    Endpoint("GET", "/plugins", Role.READ, 200),
    Endpoint("GET", "/plugins/{id}", Role.READ, 200),
    Endpoint("GET", "/plugins/{id}/health", Role.READ, 200),
    Endpoint("GET", "/plugins/{id}/health/history", Role.READ, 200),
    Endpoint("GET", "/plugins/{id}/translate?query_id={query}&$filter=host eq 'a'", Role.READ, 200),
    Endpoint("GET", "/gts", Role.READ, 200),
    Endpoint("GET", "/gts/{query}", Role.READ, 200),
    Endpoint("GET", "/queries", Role.READ, 200),
    Endpoint("GET", "/audit?target={id}", Role.ADMIN, 200),  # names actors and targets: admins only
    Endpoint("PUT", "/plugins/{id}/enable", Role.WRITE, 200, "enable"),
    Endpoint("PUT", "/plugins/{id}/disable", Role.WRITE, 200, "disable"),
    Endpoint("POST", "/plugins/{id}/reload", Role.WRITE, 202, "reload"),
    Endpoint("DELETE", "/plugins/{id}", Role.ADMIN, 202, "delete"),
    Endpoint("GET", "/plugins/{id}/keys", Role.WRITE, 200),
    Endpoint("PUT", "/plugins/{id}/keys/api_key", Role.ADMIN, 204, "store_key", body={"value": "matrix-value"}),
    Endpoint("DELETE", "/plugins/{id}/keys/api_key", Role.ADMIN, 204, "delete_key"),
]

#: Caller name → the Authorization header it sends (None: no header), built from the session's tokens.
CALLERS: dict[str, Callable[[Tokens], str | None]] = {
    "no-token": lambda t: None,
    "not-bearer": lambda t: "Basic YWRtaW46YWRtaW4=",
    "garbage": lambda t: "Bearer not-a-jwt",
    "bad-signature": lambda t: "Bearer " + t.mint(Role.ADMIN, secret=uuid.uuid4().hex * 2),
    "expired": lambda t: "Bearer " + t.mint(Role.ADMIN, ttl=-3600),
    "wrong-audience": lambda t: "Bearer " + t.mint(Role.ADMIN, audience="another-service"),
    "wrong-issuer": lambda t: "Bearer " + t.mint(Role.ADMIN, issuer="https://elsewhere.test"),
    "no-role": lambda t: "Bearer " + t.mint("analytics:queries:read"),
    "read": lambda t: "Bearer " + t.read,
    "write": lambda t: "Bearer " + t.write,
    "admin": lambda t: "Bearer " + t.admin,
}
GRANTED = {"read": Role.READ, "write": Role.WRITE, "admin": Role.ADMIN}
HIERARCHY = [Role.READ, Role.WRITE, Role.ADMIN]
SUBJECTS = {"no-role": "alice", "read": "reader", "write": "writer", "admin": "admin"}


def _expected(endpoint: Endpoint, caller: str) -> int:
    if caller not in SUBJECTS:
        return 401
    granted = GRANTED.get(caller)
    if granted is None or HIERARCHY.index(granted) < HIERARCHY.index(endpoint.role):
        return 403
    return endpoint.success


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path.split('?')[0]}")
def test_access(
    client: httpx.Client,
    tokens: Tokens,
    make_plugin: PluginFactory,
    runtime: http_stub.StubServer,
    database: db.Database,
    deps: api.ApiDeps,
    endpoint: Endpoint,
    caller: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ref = make_plugin(permissions=["read", "write", "execute", "admin"])  # admin: reload is in place
    assert deps.keystore is not None
    deps.keystore.store(ref.plugin_id, "api_key", "stored-before")
    serve_health(runtime, ref.plugin_id)
    translation = {"language": "promql", "query": 'cpu{host="a"}'}
    runtime.routes[f"/queries/{ref.query_id}/translate"] = lambda _: http_stub.Reply(200, translation)
    register_query(database, ref)
    authorization = CALLERS[caller](tokens)
    headers = {"Authorization": authorization} if authorization else {}

    with caplog.at_level(logging.INFO, logger="audit"):
        response = client.request(endpoint.method, endpoint.url(ref), headers=headers, json=endpoint.body)

    expected = _expected(endpoint, caller)
    assert response.status_code == expected, response.text
    if expected in (401, 403):
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == expected
    if expected == 401:
        assert response.headers["www-authenticate"].startswith("Bearer ")
        token = (authorization or "").removeprefix("Bearer ")
        assert not token or token not in response.text

    if endpoint.action is None:
        return
    audit, _ = database.list_audit(target=ref.plugin_id, action=endpoint.action)
    if expected == 401:
        assert audit == []
        (logged,) = [record for record in caplog.records if record.name == "audit" and record.outcome == "denied"]
        assert (logged.action, logged.target) == (endpoint.action, ref.plugin_id)
    else:
        outcome = "denied" if expected == 403 else "success"
        assert [(entry.actor, entry.outcome.value) for entry in audit] == [(SUBJECTS[caller], outcome)]
