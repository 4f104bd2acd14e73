"""`make run`'s listeners: stable ports (the Service proxy's too), a clear refusal when one is taken, and
the banner showing the address actually bound when a port is given as 0."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from plugin_devcluster import DevCluster, devkeys, local, ports
from plugin_devcluster.kubelet import KubeletConfig
from plugin_operator import cli, keystore
from plugin_operator.app import OperatorProcess, repo_root
from plugin_operator.settings import OperatorSettings
from tests.support import kube


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port another process listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_taken_port_is_refused_naming_its_flag_and_variable(held_port: int) -> None:
    with pytest.raises(ports.PortInUse) as refused:
        ports.check_free("127.0.0.1", local.listeners(0, 0, held_port, embedded=True))
    message = str(refused.value)
    assert f"port {held_port}" in message and "Service proxy" in message
    assert "--proxy-port" in message and "PLUGIN_OPERATOR_PROXY_PORT" in message
    ports.check_free("127.0.0.1", local.listeners(0, 0, 0, embedded=True))  # 0: any free port, never refused
    # Without the embedded cluster only the API listens here.
    ports.check_free("127.0.0.1", local.listeners(held_port, 0, held_port, embedded=False))


def test_make_run_refuses_a_taken_port_before_starting_anything(
    held_port: int, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert cli.main(["dev", "--api-port", str(held_port), "--state-dir", str(state)]) == 2
    assert not state.exists(), "nothing started"
    assert "--api-port or PLUGIN_OPERATOR_API_PORT" in capfd.readouterr().err  # the JSON log on stderr


def test_the_proxy_port_has_a_stable_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLUGIN_OPERATOR_PROXY_PORT", raising=False)
    parser = cli._parser()
    assert parser.parse_args(["dev"]).proxy_port == 6480
    monkeypatch.setenv("PLUGIN_OPERATOR_PROXY_PORT", "7000")
    assert cli._parser().parse_args(["dev"]).proxy_port == 7000
    assert cli._parser().parse_args(["dev", "--proxy-port", "0"]).proxy_port == 0


def test_the_service_proxy_listens_on_the_port_asked(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cluster = DevCluster.start_in_thread(kubelet=KubeletConfig(root=tmp_path / "pods"), proxy_port=port)
    try:
        assert cluster.proxy_url == f"http://127.0.0.1:{port}"
        answer = httpx.get("http://missing.default.svc/", proxy=cluster.proxy_url, trust_env=False, timeout=5)
        assert answer.status_code == 502 and "no Service default/missing" in answer.text
    finally:
        cluster.stop()


def test_ports_given_as_0_show_as_bound_in_the_banner(tmp_path: Path) -> None:
    auth = devkeys.dev_auth(tmp_path)
    with kube.dev_cluster(kubelet=KubeletConfig(root=tmp_path / "pods")) as cluster:
        cluster.kubectl_ok("apply", "-f", str(repo_root() / "crds" / "plugins.yaml"))
        settings = OperatorSettings(
            database_url=f"sqlite:///{tmp_path / 'plugins.db'}", state_dir=tmp_path, api_port=0, leader_election=False
        )
        process = OperatorProcess(
            settings,
            auth=auth.settings,
            kubeconfig=str(cluster.kubeconfig_path),
            fernet_keys=[keystore.generate_key()],
        )
        process.start()
        try:
            assert not process.api_url.endswith(":0")
            assert httpx.get(f"{process.api_url}/healthz", timeout=5, trust_env=False).status_code == 200
            assert cluster.cluster is not None
            addresses = (process.api_url, cluster.cluster.url, cluster.cluster.proxy_url)
            text = local.banner(
                kubeconfig=str(cluster.kubeconfig_path),
                kube_api=addresses[1],
                api=addresses[0],
                auth=auth,
                state=tmp_path,
                fernet="a test key",
                proxy=addresses[2],
            )
        finally:
            process.stop()
    assert ":0/" not in text and ":0 " not in text and ":0," not in text and ":0." not in text
    for address in addresses:
        assert f"{address}" in text and not address.endswith(":0")
    assert f"export http_proxy={addresses[2]} " in text
    assert auth.settings.secret is not None and auth.settings.secret not in text
    assert auth.executor_private_key.strip() not in text
