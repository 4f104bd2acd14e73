"""Absolute URLs in answers (`@odata.context`, `@odata.nextLink`, the service document) come from the
configured external URL — or, without one, the socket the connection reached — never from the
caller's `Host` header, which anyone can forge (`plugin_runtime.links`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Serve
from .support import GOOD_QUERY, plugin_entry

EXTERNAL = "https://analytics.example.com/plugins/good"
FORGED = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}


def _config(plugins_dir: Path, external_url: str | None) -> dict[str, Any]:
    entry = plugin_entry("good", settings={"page_size": 10})
    return {"plugins_dir": str(plugins_dir), "plugins": [entry], "external_url": external_url}


def _absolute_urls(runtime: Any, headers: dict[str, str]) -> list[str]:
    """Every absolute URL the runtime emits, on its query, endpoint and OData service paths."""
    found: list[str] = []
    for path in (f"/queries/{GOOD_QUERY}", "/tests/good-items", "/odata/good_items", "/plugins/good/odata/good_items"):
        body = runtime.get(path, headers=headers).json()
        found += [body["@odata.context"], body["@odata.nextLink"]]
    for path in ("/odata", "/plugins/good/odata"):
        found.append(runtime.get(path, headers=headers).json()["@odata.context"])
    return found


@pytest.mark.parametrize("forged", [{}, FORGED], ids=["honest", "forged-host"])
def test_links_are_built_on_the_configured_external_url(
    serve: Serve, plugins_dir: Path, forged: dict[str, str]
) -> None:
    with serve(_config(plugins_dir, EXTERNAL)) as runtime:
        urls = _absolute_urls(runtime, forged)
    assert len(urls) == 10
    for url in urls:
        assert url.startswith(EXTERNAL + "/"), url
        assert "evil" not in url and runtime.url not in url
    queries = [httpx.URL(u) for u in urls if "skiptoken" in u]
    assert {u.path for u in queries} == {
        f"/plugins/good/queries/{GOOD_QUERY}",
        "/plugins/good/tests/good-items",
        "/plugins/good/odata/good_items",
        "/plugins/good/plugins/good/odata/good_items",
    }


def test_without_an_external_url_links_name_the_socket_reached_not_the_host_header(
    serve: Serve, plugins_dir: Path
) -> None:
    with serve(_config(plugins_dir, None)) as runtime:
        honest = _absolute_urls(runtime, {})
        forged = _absolute_urls(runtime, FORGED)
        assert forged == honest  # the Host header changes nothing
        for url in forged:
            assert url.startswith(runtime.url + "/") and "evil" not in url, url
        # A forged next link is still followable: it is the runtime's own address.
        follow = runtime.client.get(forged[1])
        assert follow.status_code == 200 and len(follow.json()["value"]) == 10


def test_an_external_url_that_is_not_an_http_url_is_refused() -> None:
    from plugin_runtime import config

    for bad in ("evil.example", "javascript:alert(1)", "http://a b", "https://host/path?q=1"):
        with pytest.raises(ValueError):
            config.RuntimeConfig(external_url=bad)
    assert config.RuntimeConfig(external_url=EXTERNAL).external_url == EXTERNAL
