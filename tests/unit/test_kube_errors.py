"""Kubernetes API failures reach callers as plugin errors (→ 503/404/409), never as client exceptions."""

import socket
from pathlib import Path

import pytest

from plugin_devcluster import write_kubeconfig
from plugin_operator.kube import Kube, SecretMissing
from plugin_runtime import errors
from tests.support.kube import dev_cluster


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_api_server_is_plugin_unavailable(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(f"http://127.0.0.1:{_closed_port()}", tmp_path / "kubeconfig")
    kube = Kube.from_config(str(kubeconfig))
    kube.api_client.configuration.retries = 0
    with pytest.raises(errors.PluginUnavailable, match="Kubernetes API unreachable"):
        kube.list_plugins()


def test_missing_objects_and_secrets() -> None:
    with dev_cluster() as cluster:
        kube = Kube.from_config(str(cluster.kubeconfig_path))
        with pytest.raises(errors.NotFound, match="Plugin default/nope not found"):
            kube.get_plugin("default", "nope")
        assert kube.get("v1", "ConfigMap", "default", "nope") is None
        assert kube.delete("v1", "ConfigMap", "default", "nope") is False
        with pytest.raises(SecretMissing, match="not found"):
            kube.read_secret_key("default", "nope", "token")
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s", "namespace": "default"},
            "stringData": {"a": "1"},
        }
        kube.apply(secret)
        assert kube.read_secret_key("default", "s", "a").value == "1"
        with pytest.raises(SecretMissing, match="has no key 'b'"):
            kube.read_secret_key("default", "s", "b")
        kube.apply({**secret, "stringData": {"a": "2"}})  # exists → merge patch
        assert kube.read_secret_key("default", "s", "a").value == "2"
        assert kube.delete("v1", "Secret", "default", "s") is True
        kube.close()
