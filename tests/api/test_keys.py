"""Stored API keys over HTTP: values go in encrypted and never come out; changes reach the operator.

The key store is the real one (Fernet over the session's PostgreSQL schema); the Plugin CRs live in
the dev cluster, where the annotation that makes the operator reconcile is checked.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid

import httpx
import pytest
import sqlalchemy as sa

from plugin_operator import api, db, kube
from plugin_operator.api import routes_keys

from .conftest import PluginFactory, Tokens, bearer, serving


def _value() -> str:
    return f"sk-{uuid.uuid4().hex}"


def _annotation(kube_client: kube.Kube, name: str) -> str | None:
    annotations = kube_client.get_plugin("default", name)["metadata"].get("annotations") or {}
    return annotations.get(routes_keys.KEYS_UPDATED_ANNOTATION)


def _ciphertexts(database: db.Database, plugin_id: str) -> list[str]:
    table = db.tables.api_keys
    query = sa.select(table.c.ciphertext).where(table.c.plugin_id == plugin_id)
    return database.run(lambda tx: list(tx.connection.execute(query).scalars()))


def test_store_list_delete_never_shows_the_value(
    client: httpx.Client,
    tokens: Tokens,
    make_plugin: PluginFactory,
    kube_client: kube.Kube,
    database: db.Database,
    deps: api.ApiDeps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ref = make_plugin(secret_refs=[{"name": "api_key", "source": "keystore"}])
    value = _value()
    admin, writer = bearer(tokens.admin), bearer(tokens.write)
    bodies: list[str] = []

    with caplog.at_level(logging.INFO):
        stored = client.put(f"/plugins/{ref.plugin_id}/keys/api_key", json={"value": value}, headers=admin)
        assert stored.status_code == 204, stored.text
        first_nudge = _annotation(kube_client, ref.name)
        listed = client.get(f"/plugins/{ref.plugin_id}/keys", headers=writer)
        viewed = client.get(f"/plugins/{ref.plugin_id}", headers=writer)
        deleted = client.delete(f"/plugins/{ref.plugin_id}/keys/api_key", headers=admin)
        again = client.delete(f"/plugins/{ref.plugin_id}/keys/api_key", headers=admin)
        after = client.get(f"/plugins/{ref.plugin_id}/keys", headers=writer)
        bodies += [r.text for r in (stored, listed, viewed, deleted, again, after)]

    assert stored.content == b""
    assert first_nudge is not None
    assert listed.status_code == 200
    (item,) = listed.json()["items"]
    assert listed.json()["plugin_id"] == ref.plugin_id
    assert set(item) == {"name", "created_at", "rotated_at", "last_used_at"}
    assert item["name"] == "api_key" and item["created_at"] and item["rotated_at"] is None
    assert viewed.json()["secret_refs"] == [{"name": "api_key", "source": "keystore", "secret_name": None, "key": None}]
    assert deleted.status_code == 204
    assert _annotation(kube_client, ref.name) not in (None, first_nudge)
    assert again.status_code == 404 and again.headers["content-type"] == "application/problem+json"
    assert "api_key" in again.json()["detail"]
    assert after.json()["items"] == []
    assert value not in "\n".join(bodies) and value not in caplog.text

    actions, _ = database.list_audit(target=ref.plugin_id)
    oldest_first = sorted(actions, key=lambda entry: entry.id)
    assert [(a.actor, a.action, a.outcome.value) for a in oldest_first if a.action.endswith("_key")] == [
        ("admin", "store_key", "success"),
        ("admin", "delete_key", "success"),
        ("admin", "delete_key", "failed"),
    ]
    changes, _ = database.list_audit(target=f"{ref.plugin_id}/api_key")
    assert {(c.actor, c.action) for c in changes} == {("admin", "api_key.store"), ("admin", "api_key.delete")}
    assert all(value not in str(entry.detail) for entry in actions + changes)


def test_the_value_is_stored_encrypted_and_replacing_it_counts_as_rotation(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, database: db.Database, deps: api.ApiDeps
) -> None:
    ref = make_plugin()
    first, second = _value(), _value()
    url = f"/plugins/{ref.plugin_id}/keys/bearer_token"

    assert client.put(url, json={"value": first}, headers=bearer(tokens.admin)).status_code == 204
    (ciphertext,) = _ciphertexts(database, ref.plugin_id)
    assert first not in ciphertext
    assert client.put(url, json={"value": second}, headers=bearer(tokens.admin)).status_code == 204

    assert deps.keystore is not None
    assert deps.keystore.reveal(ref.plugin_id, "bearer_token", "test") == second
    (item,) = client.get(f"/plugins/{ref.plugin_id}/keys", headers=bearer(tokens.write)).json()["items"]
    assert item["rotated_at"] is not None and item["last_used_at"] is not None


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/keys/API-Key", {"value": "x"}),  # not a secretRef name
        ("/keys/" + "k" * 64, {"value": "x"}),
        ("/keys/api_key", {}),
        ("/keys/api_key", {"value": ""}),
        ("/keys/api_key", {"value": 42}),
        ("/keys/api_key", {"value": "x", "extra": "y"}),
        ("/keys/api_key", None),
        ("/keys/api_key", {"value": "sk-trailing-newline\n"}),  # what a file read with its newline gives
        ("/keys/api_key", {"value": "sk-in\r\nside"}),
        ("/keys/api_key", {"value": "sk-\x00nul"}),
    ],
)
def test_bad_names_and_bodies_are_400_problems_that_echo_nothing(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory, path: str, body: dict | None
) -> None:
    ref = make_plugin()
    echoed = f"planted-{uuid.uuid4().hex}"
    if body and "extra" in body:
        body = {**body, "extra": echoed}

    response = client.put(f"/plugins/{ref.plugin_id}{path}", json=body, headers=bearer(tokens.admin))

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert echoed not in response.text
    if body and isinstance(body.get("value"), str) and len(body["value"]) > 4:
        assert body["value"].strip() not in response.text and "sk-" not in response.text
    assert client.get(f"/plugins/{ref.plugin_id}/keys", headers=bearer(tokens.write)).json()["items"] == []


def test_unknown_plugin_is_404_and_an_unrecorded_one_409(
    client: httpx.Client, tokens: Tokens, make_plugin: PluginFactory
) -> None:
    admin = bearer(tokens.admin)
    for method in ("PUT", "DELETE"):
        response = client.request(method, "/plugins/no-such-plugin/keys/api_key", json={"value": "x"}, headers=admin)
        assert response.status_code == 404, response.text
    assert client.get("/plugins/no-such-plugin/keys", headers=admin).status_code == 404

    pending = make_plugin(mirrored=False)  # the operator has not reconciled it yet: no row for keys to hang off
    response = client.put(f"/plugins/{pending.plugin_id}/keys/api_key", json={"value": "x"}, headers=admin)
    assert response.status_code == 409, response.text
    assert "not recorded by the operator yet" in response.json()["detail"]


def test_without_fernet_keys_the_key_api_is_unavailable(
    deps: api.ApiDeps, tokens: Tokens, make_plugin: PluginFactory
) -> None:
    ref = make_plugin()
    admin = bearer(tokens.admin)
    with serving(api.create_app(dataclasses.replace(deps, keystore=None))) as url:
        base = f"{url}{api.PREFIX}/plugins/{ref.plugin_id}/keys"
        responses = [
            httpx.put(f"{base}/api_key", json={"value": "x"}, headers=admin),
            httpx.get(base, headers=admin),
            httpx.delete(f"{base}/api_key", headers=admin),
        ]
    for response in responses:
        assert response.status_code == 503, response.text
        assert "PLUGIN_OPERATOR_FERNET_KEYS" in response.json()["detail"]


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_bodies_are_refused_before_authentication(client: httpx.Client, chunked: bool) -> None:
    from plugin_operator.api import body_limit

    payload = b'{"value": "' + b"x" * (body_limit.MAX_BODY_BYTES + 1) + b'"}'
    content = iter([payload[:1000], payload[1000:]]) if chunked else payload
    response = client.put("/plugins/anything/keys/api_key", content=content)  # no token at all
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413
