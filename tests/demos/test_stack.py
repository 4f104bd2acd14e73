"""The demo stack's lifecycle and banner: what runs, what does not and why, and nothing left after stop."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest

from plugin_devcluster.demos.stack import DemoStack

from .conftest import backend, start_stack


def _refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.ConnectError:
        return True
    return False


def test_banner_lists_what_runs_and_what_does_not(stack: DemoStack) -> None:
    lines = stack.banner().splitlines()
    assert lines[0].startswith("Demo backends")
    for example, url in (
        ("prometheus-adapter", backend(stack, "prometheus-adapter").url),
        ("rest-items", backend(stack, "rest-items").url),
        ("graphql-fleet", backend(stack, "graphql-fleet").url),
    ):
        [line] = [line for line in lines if example in line]
        assert url in line and "running:" in line and "NOT RUNNING" not in line
    [es] = [line for line in lines if "elasticsearch-logs" in line]
    assert "NOT RUNNING: no Elasticsearch server on this machine" in es
    assert httpx.get(backend(stack, "rest-items").url + "/health").status_code == 200
    assert httpx.get(backend(stack, "prometheus-adapter").url + "/-/ready").status_code == 200


def test_stop_ends_every_backend_and_removes_its_data(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    urls = [b.url for b in stack.backends if b.running]
    assert len(urls) == 3 and (tmp_path / "demos" / "prometheus").is_dir()
    pid_of_prometheus = stack._prometheus.pid if stack._prometheus else None
    stack.stop()
    assert all(_refused(url) for url in urls)
    assert not (tmp_path / "demos").exists()
    assert pid_of_prometheus is not None and not os.path.exists(f"/proc/{pid_of_prometheus}")


def test_a_taken_port_is_reported_in_the_banner_and_the_rest_still_runs(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stack = start_stack(tmp_path, rest_port=port, prometheus_port=port)
        try:
            rest, prometheus = backend(stack, "rest-items"), backend(stack, "prometheus-adapter")
            assert not rest.running and rest.detail.startswith(f"port {port} is already in use")
            assert not prometheus.running and "already in use" in prometheus.detail
            assert backend(stack, "graphql-fleet").running
            [line] = [line for line in stack.banner().splitlines() if "rest-items" in line]
            assert f"NOT RUNNING: port {port} is already in use" in line
        finally:
            stack.stop()


def test_without_prometheus_installed_the_banner_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # the binaries are looked up on PATH
    stack = start_stack(tmp_path)
    try:
        prometheus = backend(stack, "prometheus-adapter")
        assert not prometheus.running
        assert prometheus.detail == (
            "prometheus is not installed: install Debian's prometheus package (apt-get install prometheus)"
        )
        assert backend(stack, "rest-items").running and backend(stack, "graphql-fleet").running
    finally:
        stack.stop()
