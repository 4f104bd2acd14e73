"""Helpers of the runtime suite: the real server on loopback, config entries, polling.

`serving` starts the real app under uvicorn in a thread, on a socket bound to a free loopback port
before the server starts (no port race), and stops it (lifespan shutdown: drain and plugin
shutdown) when the block ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from plugin_runtime import host, server
from tests.support import waiting

TEST_PLUGINS = Path(__file__).parent / "plugins"
_QUERY = "gts.hypernetix.hyperspot.ax.query.v1~hyperspot.tests._.{}.v1"
GOOD_QUERY = _QUERY.format("good_items")


def query_id(name: str) -> str:
    """The id of a test plugin's query by its short name (boom, hang, fine, ...)."""
    return _QUERY.format(name)


@dataclasses.dataclass
class Runtime:
    url: str
    host: host.PluginHost
    config_path: Path
    client: httpx.Client

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(self.url + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.post(self.url + path, **kwargs)

    def rewrite_config(self, config: Mapping[str, Any]) -> None:
        self.config_path.write_text(yaml.safe_dump(dict(config)))


def write_config(directory: Path, config: Mapping[str, Any]) -> Path:
    path = directory / "runtime.yaml"
    path.write_text(yaml.safe_dump(dict(config)))
    return path


@contextlib.contextmanager
def serving(directory: Path, config: Mapping[str, Any], environ: Mapping[str, str]) -> Iterator[Runtime]:
    config_path = write_config(directory, config)
    plugin_host = host.PluginHost(config_path=config_path, environ=dict(environ))
    uvicorn_server = uvicorn.Server(
        uvicorn.Config(
            server.create_app(plugin_host), log_config=None, access_log=False, lifespan="on", proxy_headers=False
        )
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uvicorn_server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the plugin runtime did not start; see the captured log")
        time.sleep(0.02)
    client = httpx.Client(timeout=10)
    try:
        yield Runtime(f"http://127.0.0.1:{port}", plugin_host, config_path, client)
    finally:
        client.close()
        uvicorn_server.should_exit = True
        thread.join(30)
        sock.close()


def plugin_entry(plugin_id: str, *, path: str | None = None, **fields: Any) -> dict[str, Any]:
    """A RuntimeConfig plugin entry for a test plugin folder (version taken from its manifest)."""
    folder = path or plugin_id
    manifest = yaml.safe_load((TEST_PLUGINS / folder / "plugin.yaml").read_text())
    return {"id": plugin_id, "version": manifest["version"], "path": folder, **fields}


def wait_for(condition: Callable[[], bool], *, timeout: float = 10.0, what: str) -> None:
    """The shared poll (`tests.support.waiting`), at a runtime test's finer interval."""
    waiting.wait_for(condition, timeout=timeout, what=what, interval=0.05)
