"""The desired state of one Plugin version: every object applied for it, and its identity.

Pure. `instance(...)` turns a spec, the resolved secrets and the operator's settings into an
`Instance`: the runtime config, every Kubernetes object (through `render`), and the *identity*, a
hash of what is rendered (ConfigMap, pod template, Services, NetworkPolicy) plus the versions of
the Secrets the pods read. So any spec change that alters what runs (replicas, resources, image,
egress, config, queries, secrets) is a new instance that rolls out through the health gate beside
the serving one, and a change that alters nothing running (`description`, `displayName`,
`enabled`, `dependsOn`, `deletionPolicy`) is not.
The operator's settings that reach the pods (runtime image, runtime auth, probe timings) are
rendered the same way, so changing one rolls every runtime through the gate.

The NetworkPolicy is shared by the plugin's pods whatever their instance, so an egress change
re-applies it when the new instance starts; the new instance is then gated under the new policy.

A *shared* instance (`pooling`: a built-in adapter hosted in a runtime pool) is one member entry in
a pool of its class: its identity is a hash of that entry and the class, so a change of the entry
rolls out inside the pool (the runtime swaps the plugin, its neighbours untouched) and a change of
the class rolls out into another pool.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from plugin_operator import control_plane, models, naming, network_rules, pooling, render, runtime_config
from plugin_operator import settings as settings_module
from plugin_operator.runtime_probes import RuntimeProbes
from plugin_operator.runtime_spec import RuntimeMode
from plugin_operator.settings import OperatorSettings
from plugin_runtime import config, errors

__all__ = ["Instance", "Seat", "Target", "instance", "instance_id", "target"]

_INSTANCE_CHARS = 10


@dataclasses.dataclass(frozen=True)
class Target:
    """What the operator's settings contribute to every instance."""

    image: str
    auth: config.IncomingAuth = dataclasses.field(default_factory=config.IncomingAuth)
    #: The plugins directory as the runtime sees it (a host path locally, PLUGINS_DIR in a pod).
    plugins_dir: str | None = None
    #: The OCI image mounted as the plugins directory in Kubernetes (None: no `path:` plugins there).
    plugins_image: str | None = None
    kubernetes: bool = False
    #: Who may call runtimes (their NetworkPolicy's ingress).
    ingress: network_rules.IngressPeers = dataclasses.field(default_factory=network_rules.IngressPeers)
    #: The operator's template of the runtimes' external URL (`OperatorSettings.runtime_external_url`).
    external_url: str | None = None
    #: Where a shareable Plugin with no spec.runtime runs (Kubernetes only; locally all are dedicated).
    default_runtime: RuntimeMode = RuntimeMode.DEDICATED
    #: The runtime pods' liveness/readiness timings (Kubernetes only: the local target renders no pods).
    probes: RuntimeProbes = dataclasses.field(default_factory=RuntimeProbes)


def runtime_auth(settings: OperatorSettings) -> config.IncomingAuth:
    """The operator's runtime auth settings plus the control plane's public key (when auth is on)."""
    auth = settings.runtime_auth
    if auth.mode == "none" or settings.control_plane_key is None:
        return auth
    return auth.model_copy(update={"control_plane_public_key": control_plane.public_pem(settings.control_plane_key)})


def target(settings: OperatorSettings) -> Target:
    auth = runtime_auth(settings)
    if settings.driver == "kubernetes":
        image = settings.plugins_image
        return Target(
            image=settings.default_image,
            auth=auth,
            ingress=network_rules.IngressPeers(
                operator_namespace=settings.operator_namespace,
                executor_namespaces=settings.executor_namespaces,
                executor_labels=dict(settings.executor_pod_labels),
            ),
            plugins_dir=render.PLUGINS_DIR if image else None,
            plugins_image=image,
            kubernetes=True,
            external_url=settings.runtime_external_url,
            default_runtime=RuntimeMode(settings.default_runtime),
            probes=settings.runtime_probes,
        )
    plugins_dir = str(settings.plugins_dir) if settings.plugins_dir is not None else None
    return Target(
        image=settings.default_image, auth=auth, plugins_dir=plugins_dir, external_url=settings.runtime_external_url
    )


def instance_id(version: str, identity: str) -> str:
    """How status, drivers and logs name an instance: its version and the identity's first characters."""
    return f"{version}-{identity[:_INSTANCE_CHARS]}"


@dataclasses.dataclass(frozen=True)
class Seat:
    """A shared instance's place: its pool class (which pool is the driver's choice, see `pooling.place`)."""

    adapter: str
    class_id: str


@dataclasses.dataclass(frozen=True)
class Instance:
    """One runtime instance to run: its config, its objects, and the secret values its pods need.

    `secrets` maps environment variable names to values (the local driver's process environment;
    the stored-keys Secret's data). Never logged: `repr` leaves it out.
    """

    key: str
    plugin_id: str
    identity: str
    inputs: render.RenderInputs
    secrets: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    #: Set when the instance is a member of a shared runtime pool rather than a runtime of its own.
    seat: Seat | None = None

    def member_entry(self) -> dict[str, Any]:
        """The plugin's entry in its runtime's config (a pool member's line in the pool's config)."""
        return dict(self.runtime_config.plugins[0].model_dump(mode="json"))

    @property
    def namespace(self) -> str:
        return self.inputs.namespace

    @property
    def cr_name(self) -> str:
        return self.inputs.cr_name

    @property
    def uid(self) -> str:
        return self.inputs.uid

    @property
    def version(self) -> str:
        return self.inputs.version

    @property
    def replicas(self) -> int:
        return self.inputs.replicas

    @property
    def runtime_config(self) -> config.RuntimeConfig:
        return self.inputs.runtime_config

    @property
    def instance_id(self) -> str:
        return instance_id(self.version, self.identity)

    @property
    def names(self) -> naming.Names:
        return self.inputs.names

    def shared_objects(self) -> list[dict[str, Any]]:
        """Objects shared by the plugin's instances, applied before any pod so none runs unconfined."""
        return [render.network_policy(self.inputs)]

    def instance_objects(self) -> list[dict[str, Any]]:
        """This instance's own objects, in apply order (what its pods mount comes first)."""
        stored = [ref.name for ref in self.inputs.spec.secret_refs if ref.source == "keystore"]
        keys = [render.stored_keys_secret(self.inputs, self._stored_values(stored))] if stored else []
        return [
            *keys,
            render.configmap(self.inputs),
            render.deployment(self.inputs),
            render.instance_service(self.inputs),
        ]

    def objects(self, *, admin_token: str) -> list[dict[str, Any]]:
        """Every object of this instance except the routing Service, in apply order."""
        return [*self.shared_objects(), render.admin_secret(self.inputs, admin_token), *self.instance_objects()]

    def stable_service(self) -> dict[str, Any]:
        """The plugin's stable Service routed to this instance (applied on promotion)."""
        return render.service(self.inputs)

    def suspended(self) -> dict[str, Any]:
        """This instance's Deployment with no pods (a disabled plugin after its drain)."""
        return render.scaled_to_zero(render.deployment(self.inputs))

    def _stored_values(self, names: list[str]) -> dict[str, str]:
        return {name: self.secrets[runtime_config.secret_env_var(name)] for name in names}


def instance(
    *,
    namespace: str,
    cr_name: str,
    uid: str,
    plugin_id: str,
    spec: models.PluginSpec,
    target: Target,
    secrets: Mapping[str, str] | None = None,
    secret_versions: Mapping[str, str] | None = None,
) -> Instance:
    """The instance a spec asks for. Raises `errors.InvalidInput` for a spec this target cannot run."""
    if spec.path is not None and target.kubernetes and target.plugins_image is None:
        raise errors.InvalidInput(
            f"spec.path {spec.path!r} needs a plugins image in Kubernetes: set PLUGIN_OPERATOR_PLUGINS_IMAGE "
            "(an OCI image holding the plugin folders), or package the plugin as an adapter image"
        )
    built = runtime_config.build(plugin_id=plugin_id, spec=spec, enabled=True, auth=target.auth)
    # The base of the links in its answers: the operator's template, else the plugin's stable Service
    # (the local driver fills in its stable loopback address when it writes the config: it is
    # allocated there, see drivers.local).
    external_url = None
    if target.external_url:
        external_url = settings_module.external_url(
            target.external_url, name=cr_name, namespace=namespace, plugin_id=plugin_id
        )
    elif target.kubernetes:
        external_url = naming.service_url(cr_name, namespace)
    built = built.model_copy(
        update={"plugins_dir": target.plugins_dir, "watch_interval_seconds": None, "external_url": external_url}
    )
    inputs = render.RenderInputs(
        plugin_id=plugin_id,
        cr_name=cr_name,
        namespace=namespace,
        uid=uid,
        spec=spec,
        version=spec.version,
        image=target.image,
        runtime_config=built,
        replicas=spec.replicas,
        plugins_image=target.plugins_image if spec.path is not None else None,
        ingress=target.ingress,
        probes=target.probes,
    )
    seat = None
    if target.kubernetes and pooling.mode(spec, target.default_runtime) is RuntimeMode.SHARED:
        assert spec.adapter is not None  # shareable: a built-in adapter (the model checks an explicit choice)
        process = {"image": target.image, "runtime": built.model_dump(mode="json", exclude={"plugins", "external_url"})}
        if target.probes != RuntimeProbes():
            # Probes the pool's pod template cannot take while it runs: other probes, another pool. Left
            # out at their defaults so an operator upgrade that brings this setting moves no pool.
            process["probes"] = dataclasses.asdict(target.probes)
        seat = Seat(adapter=spec.adapter, class_id=pooling.class_of(spec, process))
        size = pooling.entry_bytes(built.plugins[0].model_dump(mode="json"))
        if size > pooling.MAX_TABLE_BYTES // 4:  # a pool holds several: its runtime of its own, then
            if spec.runtime is RuntimeMode.SHARED:
                raise errors.InvalidInput(
                    f"the plugin's config and queries take {size} bytes, too many to share a runtime "
                    f"(at most {pooling.MAX_TABLE_BYTES // 4}): use runtime: dedicated"
                )
            seat = None
    identity = _member_identity(inputs, seat) if seat is not None else _identity(inputs, secret_versions or {})
    return Instance(
        key=f"{namespace}.{cr_name}",
        plugin_id=plugin_id,
        identity=identity,
        inputs=dataclasses.replace(inputs, identity=identity),
        secrets=dict(secrets or {}),
        seat=seat,
    )


def _member_identity(inputs: render.RenderInputs, seat: Seat) -> str:
    """sha256 over a pool member's entry and class: what it runs (it has no secrets, no objects of its own
    but its stable Service, whose selector is the pool's)."""
    canonical = json.dumps(
        {"member": inputs.runtime_config.plugins[0].model_dump(mode="json"), "class": seat.class_id},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _identity(inputs: render.RenderInputs, secret_versions: Mapping[str, str]) -> str:
    """sha256 over what the instance runs: its rendered objects (names and the identity itself left
    out, as they derive from it) and the resourceVersions of the Secrets its pods read — so a
    rotation rolls the runtime without the identity ever depending on secret material."""
    canonical = json.dumps(
        {
            "configmap": render.configmap(inputs)["data"],
            "deployment": render.deployment(inputs)["spec"],
            "service": render.instance_service(inputs)["spec"],
            "networkPolicy": render.network_policy(inputs)["spec"],
            "secretVersions": dict(secret_versions),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
