"""A kubeconfig for the dev cluster, readable by kubectl, kopf and the official `kubernetes` client.

The server is plain HTTP on loopback; the token only picks an identity the cluster restricts (its
`rbac.Authorizer`), any other token is an admin. It grants nothing anywhere else.
"""

from __future__ import annotations

from pathlib import Path

import yaml

CONTEXT = "devcluster"


def write_kubeconfig(url: str, path: Path | str, *, namespace: str = "default", token: str = "devcluster") -> Path:
    """Write a kubeconfig whose current context points at `url`; returns the path.

    `token` picks the identity (an identity of the cluster's `rbac.Authorizer`, else an admin)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}],
        "current-context": CONTEXT,
        "preferences": {},
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return target
