"""Kubernetes objects of a shared runtime pool (see `pooling`), as pure functions.

A pool's pods are rendered by `render` itself (the same container, sandbox, probes and limits as a
dedicated runtime) from the joining member's spec — members of one pool agree on everything the
process is given — and then relabelled: a pool belongs to no single Plugin, so its objects carry the
pool's labels and no owner reference (the driver deletes the pool when its last member leaves), and
the pod template never changes with membership (members come and go through the runtime's admin API
and the ConfigMap, which a restarted pod reads; no neighbour restarts).

    ConfigMap     <pool>-config         runtime.yaml (every member's entry) + members.json (`pooling.Members`)
    Secret        <pool>-admin          the pool runtime's admin token
    Deployment    <pool>                the pool's runtime pods, labelled pool=<pool>
    Service       <pool>                the pool's own address (what the operator's admin calls and gate use)
    NetworkPolicy <pool>                the class's egress; ingress as for every runtime
    Service       <plugin>              each member's stable address, owned by its Plugin, selecting the pool
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from plugin_operator import models, naming, render
from plugin_operator.pooling import Member
from plugin_runtime import config

__all__ = [
    "CLASS_LABEL",
    "MEMBERS_FILE",
    "POOLED_SELECTOR",
    "POOL_LABEL",
    "admin_secret",
    "configmap",
    "deployment",
    "member_service",
    "members_of",
    "names",
    "network_policy",
    "runtime_settings",
    "selector",
    "service",
    "settings_of",
]

POOL_LABEL = f"{models.GROUP}/runtime-pool"
CLASS_LABEL = f"{models.GROUP}/runtime-pool-class"
#: Labels of every pool object (and of no dedicated runtime's), to list the pools of a namespace.
POOLED_SELECTOR = {"app.kubernetes.io/name": naming.RUNTIME_NAME, f"{models.GROUP}/pooled": "true"}
MEMBERS_FILE = "members.json"


def names(pool: str) -> dict[str, str]:
    return {"deployment": pool, "service": pool, "configmap": f"{pool}-config", "admin_secret": f"{pool}-admin"}


def selector(pool: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": naming.RUNTIME_NAME, POOL_LABEL: pool}


def _labels(pool: str, class_id: str) -> dict[str, str]:
    return {
        **selector(pool),
        **POOLED_SELECTOR,
        CLASS_LABEL: class_id,
        "app.kubernetes.io/component": naming.RUNTIME_NAME,
        "app.kubernetes.io/part-of": "hyperspot-analytics",
        "app.kubernetes.io/managed-by": "plugin-operator",
    }


def _metadata(namespace: str, name: str, pool: str, class_id: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": _labels(pool, class_id)}


def _inputs(member: render.RenderInputs, pool: str, runtime_config: config.RuntimeConfig) -> render.RenderInputs:
    """The member's inputs with the pool in its place: the pool's config and names, no identity."""
    return render.RenderInputs(
        plugin_id=pool,
        cr_name=pool,
        namespace=member.namespace,
        uid="",
        spec=member.spec,
        version="pool",
        image=member.image,
        runtime_config=runtime_config,
        replicas=member.replicas,
        ingress=member.ingress,
        probes=member.probes,
    )


def runtime_settings(member: render.RenderInputs) -> dict[str, Any]:
    """What the pool's runtime config says besides its plugins: the member's (the operator's settings).
    No external URL: links in answers take the address the connection reached (one per runtime; see
    README "Shared runtimes")."""
    document = member.runtime_config.model_dump(mode="json", exclude={"plugins"})
    document["external_url"] = None
    return document


def configmap(
    namespace: str, pool: str, class_id: str, settings: Mapping[str, Any], members: Mapping[str, Member]
) -> dict[str, Any]:
    """The member table and the runtime config it makes (`settings` plus every member's entry), written
    as JSON (which the runtime reads as the YAML it is): a pool's table is rewritten whenever a member
    changes, so it must be cheap to render."""
    document = {**settings, "plugins": [dict(members[key].plugin) for key in sorted(members)]}
    table = {key: members[key].to_json() for key in sorted(members)}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(namespace, names(pool)["configmap"], pool, class_id),
        "data": {
            render.CONFIG_FILE: json.dumps(document, sort_keys=True, separators=(",", ":")),
            MEMBERS_FILE: json.dumps(table, sort_keys=True, separators=(",", ":")),
        },
    }


def members_of(configmap_obj: Mapping[str, Any]) -> dict[str, Member]:
    data = configmap_obj.get("data") or {}
    table = json.loads(data.get(MEMBERS_FILE) or "{}")
    return {key: Member.from_json(entry) for key, entry in table.items()}


def settings_of(configmap_obj: Mapping[str, Any]) -> dict[str, Any]:
    """The runtime settings a pool's ConfigMap holds (its config without the plugins)."""
    document = json.loads((configmap_obj.get("data") or {}).get(render.CONFIG_FILE) or "{}")
    return {key: value for key, value in document.items() if key != "plugins"}


def deployment(member: render.RenderInputs, pool: str, class_id: str) -> dict[str, Any]:
    inputs = _inputs(member, pool, member.runtime_config)
    obj = render.deployment(inputs)
    obj["metadata"] = _metadata(member.namespace, pool, pool, class_id)
    spec = obj["spec"]
    spec["selector"] = {"matchLabels": selector(pool)}
    spec["template"]["metadata"] = {"labels": _labels(pool, class_id)}
    pod = spec["template"]["spec"]
    pod["volumes"][0]["configMap"]["name"] = names(pool)["configmap"]
    [container] = pod["containers"]
    for variable in container["env"]:
        variable["valueFrom"]["secretKeyRef"]["name"] = names(pool)["admin_secret"]
    return obj


def admin_secret(member: render.RenderInputs, pool: str, class_id: str, token: str) -> dict[str, Any]:
    obj = render.admin_secret(_inputs(member, pool, member.runtime_config), token)
    obj["metadata"] = _metadata(member.namespace, names(pool)["admin_secret"], pool, class_id)
    return obj


def service(member: render.RenderInputs, pool: str, class_id: str) -> dict[str, Any]:
    obj = render.instance_service(_inputs(member, pool, member.runtime_config))
    obj["metadata"] = _metadata(member.namespace, pool, pool, class_id)
    obj["spec"]["selector"] = selector(pool)
    return obj


def network_policy(member: render.RenderInputs, pool: str, class_id: str) -> dict[str, Any]:
    obj = render.network_policy(_inputs(member, pool, member.runtime_config))
    obj["metadata"] = _metadata(member.namespace, pool, pool, class_id)
    obj["spec"]["podSelector"] = {"matchLabels": selector(pool)}
    return obj


def member_service(member: render.RenderInputs, pool: str) -> dict[str, Any]:
    """The member's stable Service (owned by its Plugin, like a dedicated one) routed to its pool."""
    obj = render.service(member)
    obj["spec"]["selector"] = selector(pool)
    return obj
