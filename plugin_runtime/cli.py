"""`plugin-runtime`: serve the plugins a RuntimeConfig names, or check that they load (`--validate`).

    plugin-runtime --config runtime.yaml [--host 127.0.0.1] [--port 8080] [--plugins-dir DIR]
                   [--log-level info]
    plugin-runtime --validate --config runtime.yaml
    plugin-runtime new NAME [--dir DIR] [--vendor VENDOR]     scaffold a plugin folder (see scaffold.py)

Signals: SIGTERM/SIGINT stop accepting requests, let in-flight ones finish (up to drain_seconds)
and shut every plugin down; SIGHUP re-reads the config file (like `POST /admin/reload`).
Exit codes: 0 ok, 1 a plugin failed to load (--validate), 2 unusable config or arguments,
3 the server could not start (e.g. an auth key's environment variable is unset; see the log).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import uvicorn
import yaml

from plugin_runtime import config, errors, host, logs, scaffold, server

__all__ = ["main"]

EXIT_LOAD_FAILED = 1
EXIT_BAD_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plugin-runtime",
        description="Host analytics query plugins over HTTP.",
        epilog="`plugin-runtime new NAME` scaffolds a plugin folder (see `plugin-runtime new --help`).",
    )
    parser.add_argument("--config", required=True, type=Path, help="RuntimeConfig YAML file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--plugins-dir", type=Path, help="overrides the config's plugins_dir")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--validate", action="store_true", help="load and init every plugin, report, exit")
    return parser


async def _validate(plugin_host: host.PluginHost) -> int:
    try:
        await plugin_host.start()
    except errors.PluginError as exc:
        print(f"config: {exc.detail}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    report = plugin_host.describe()
    failed = report["errors"]
    for plugin in report["plugins"]:
        if plugin["last_reload_error"] is None:
            print(f"ok      {plugin['id']} {plugin['version']} ({plugin['source']}, {len(plugin['queries'])} queries)")
    for error in failed:
        print(f"FAILED  {error['plugin_id']} [{error['stage']}] {error['message']}")
    await plugin_host.close()
    return EXIT_LOAD_FAILED if failed else 0


def _freeze_heap() -> None:
    """Keep what loading the plugins created out of the garbage collector's full passes.

    A full collection walks every tracked object: with FastAPI, pydantic and an adapter's libraries
    (SQLAlchemy) loaded it took ~50 ms, and under load it ran every few hundred requests, stalling
    all of them — the runtime's p99. Frozen objects are never collected, so every applied change
    first unfreezes and collects what the previous plugin versions left behind.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


#: Allocations between two young-generation collections (CPython's default: 700). A 10k-row answer
#: allocates ~60k objects that all survive until it is written: at 700, the collector ran ~85 times
#: per such request and promoted every row into older generations it then walked again (about a
#: third of the request's CPU, measured). Cycles are still found, a few thousand allocations later.
YOUNG_GENERATION_THRESHOLD = 50_000


def _tune_collector() -> None:
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)


def _terminate(signum: int, _frame: object) -> NoReturn:
    # Before uvicorn takes over the signal this stops the process; after its graceful shutdown
    # uvicorn re-raises the signal here, which makes a drained stop exit with status 0.
    raise SystemExit(0)


async def _serve(plugin_host: host.PluginHost, *, bind_host: str, port: int, drain_seconds: float) -> None:
    uvicorn_server = uvicorn.Server(
        uvicorn.Config(
            server.create_app(plugin_host),
            host=bind_host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
            # No proxy in front of a runtime is trusted with the caller's address or scheme (the local
            # stable address forwards TCP from loopback, a Service is L4): X-Forwarded-* are ignored.
            proxy_headers=False,
            # httptools (C) parses requests in a fraction of h11's time; uvloop, the other half of
            # uvicorn[standard], is left out: with it, handlers that never wait (/health, /metadata)
            # starved some connections (p99 x4, worst request 0.5 s at 100 clients, measured).
            http="httptools",
            timeout_graceful_shutdown=math.ceil(drain_seconds),
        )
    )
    reloads: set[asyncio.Task[object]] = set()

    def reload() -> None:
        task = asyncio.create_task(plugin_host.reload())
        reloads.add(task)
        task.add_done_callback(_finished_reload)

    def _finished_reload(task: asyncio.Task[object]) -> None:
        reloads.discard(task)
        if not task.cancelled():
            task.exception()  # already logged by the host; retrieved so asyncio does not warn

    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
    await uvicorn_server.serve()


def _new(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="plugin-runtime new", description="Scaffold a plugin folder.")
    parser.add_argument("name", help="the plugin id, e.g. sales-orders (also its folder and module name)")
    parser.add_argument("--dir", type=Path, default=Path("."), help="where to create the folder (default: here)")
    parser.add_argument("--vendor", default="example", help="the GTS vendor of its ids (default: example)")
    args = parser.parse_args(argv)
    try:
        folder = scaffold.create(args.name, args.dir, vendor=args.vendor)
    except (scaffold.InvalidName, FileExistsError) as exc:
        print(f"plugin-runtime new: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    print(f"created {folder}: test it with `python -m pytest {folder / 'tests'}`, see {folder / 'README.md'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["new"]:
        return _new(argv[1:])
    args = _parser().parse_args(argv)
    logs.configure(args.log_level)
    try:
        runtime_config = config.load(args.config)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"config {args.config}: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    plugins_dir = args.plugins_dir.resolve() if args.plugins_dir else None
    if args.validate:
        return asyncio.run(_validate(host.PluginHost(config_path=args.config.resolve(), plugins_dir=plugins_dir)))
    _tune_collector()
    plugin_host = host.PluginHost(config_path=args.config.resolve(), plugins_dir=plugins_dir, on_applied=_freeze_heap)
    signal.signal(signal.SIGTERM, _terminate)
    asyncio.run(_serve(plugin_host, bind_host=args.host, port=args.port, drain_seconds=runtime_config.drain_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
