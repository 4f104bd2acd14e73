"""`plugin-operator`: run the operator against a cluster (`run`), or a complete local instance (`dev`).

plugin-operator dev                  # make run: embedded Kubernetes API and pods, SQLite
plugin-operator run --kubernetes     # against the kubeconfig / in-cluster config
plugin-operator migrate              # apply database migrations and exit
plugin-operator rotate-keys          # re-encrypt stored API keys under the first Fernet key
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from plugin_operator import db, keystore
from plugin_operator.app import OperatorProcess, repo_root
from plugin_operator.security import AuthSettings, ConfigurationError
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
    run.add_argument("--database-url", help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db")
    run.add_argument("--api-host")
    run.add_argument("--api-port", type=int)

    dev = sub.add_parser("dev", help="a complete local instance: embedded Kubernetes API and pods, SQLite")
    dev.add_argument("--kube-port", type=int, default=int(os.environ.get("PLUGIN_OPERATOR_KUBE_PORT", "6443")))
    dev.add_argument("--api-port", type=int, default=int(os.environ.get("PLUGIN_OPERATOR_API_PORT", "8000")))
    dev.add_argument(
        "--proxy-port",
        type=int,
        default=int(os.environ.get("PLUGIN_OPERATOR_PROXY_PORT", "6480")),
        help="the Service proxy the banner's http_proxy names (0: any free port)",
    )
    dev.add_argument("--state-dir", type=Path, default=Path(".run"))
    dev.add_argument("--examples", type=Path, default=repo_root() / "examples" / "manifests")
    dev.add_argument("--kubernetes", action="store_true", help="use the real cluster of the kubeconfig instead")

    sub.add_parser("migrate", help="apply database migrations (PLUGIN_OPERATOR_DATABASE_URL) and exit")
    sub.add_parser(
        "rotate-keys",
        help=f"re-encrypt every stored API key under the first key of {keystore.ENV_VAR} (the others still decrypt)",
    )
    return parser


def serve(process: OperatorProcess) -> int:
    """Run until SIGINT/SIGTERM (exit 0) or until the process must end (exit 1: kopf died or leadership
    was lost, so Kubernetes restarts the pod as a fresh standby). `run` here, `dev` in plugin_devcluster.local."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: process.request_stop())
    try:
        process.wait()
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        auth = AuthSettings.from_env()
    except ConfigurationError as exc:
        log.error("refusing to start: %s", exc)
        return 2
    try:
        settings = OperatorSettings.from_env(
            namespaces=tuple(args.namespaces) if args.namespaces else None,
            database_url=args.database_url,
            api_host=args.api_host,
            api_port=args.api_port,
        )
    except ValueError as exc:  # a PLUGIN_OPERATOR_* variable the operator cannot use; the message names it
        log.error("refusing to start: %s", exc)
        return 2
    if settings.runtime_auth.mode == "none":
        log.warning(
            "RUNTIME AUTHENTICATION IS OFF (PLUGIN_OPERATOR_RUNTIME_AUTH=none): plugin runtimes answer anyone "
            "who can reach them, and every backend they serve with them; unset it outside local experiments"
        )
    elif not settings.runtime_auth.has_executor_keys:
        log.warning(
            "no query executor identity provider: set PLUGIN_OPERATOR_RUNTIME_JWKS_URL or "
            "PLUGIN_OPERATOR_RUNTIME_JWT_PUBLIC_KEY; until then only the operator's own tokens are accepted by runtimes"
        )
    process = OperatorProcess(settings, auth=auth, kubeconfig=args.kubeconfig if args.kubernetes else None)
    try:
        process.start()
    except keystore.KeystoreMisconfigured as exc:
        log.error("refusing to start: %s", exc.detail)
        process.stop()
        return 2
    log.info(
        "operator running",
        extra={"api": process.api_url, "driver": settings.driver, "role": process.role(), "identity": process.identity},
    )
    try:
        return serve(process)
    finally:
        process.stop()


def _dev(args: argparse.Namespace) -> int:
    """`plugin-operator dev` is development tooling: it lives in `plugin_devcluster`, outside the images."""
    try:
        from plugin_devcluster import local
    except ModuleNotFoundError as exc:
        log.error(
            "`plugin-operator dev` needs the development tools (%s): pip install 'hyperspot-analytics-plugins[dev]'",
            exc.name,
        )
        return 2
    return local.run(
        kube_port=args.kube_port,
        api_port=args.api_port,
        proxy_port=args.proxy_port,
        state_dir=args.state_dir,
        examples=args.examples,
        use_kubeconfig=args.kubernetes,
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
