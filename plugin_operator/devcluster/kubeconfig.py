"""A kubeconfig for the dev cluster, readable by kubectl, kopf and the official `kubernetes` client.

The server is plain HTTP on loopback and does not check credentials, but clients insist on some
user entry, so a fixed token is written (it grants nothing anywhere else).
"""

from __future__ import annotations

from pathlib import Path

import yaml

CONTEXT = "devcluster"


def write_kubeconfig(url: str, path: Path | str, *, namespace: str = "default") -> Path:
    """Write a kubeconfig whose current context points at `url`; returns the path."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {"token": "devcluster"}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}],
        "current-context": CONTEXT,
        "preferences": {},
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return target
