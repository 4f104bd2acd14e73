"""Kubernetes driver: each instance is a Deployment (per version) behind a per-version Service.

The plugin's stable Service selects the serving version; promotion re-renders it. Manifests come
from the pure `render` module; this driver only applies, reads and deletes them (through `kube`).
All children carry an owner reference to the Plugin, so the API server garbage-collects them.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import secrets as pysecrets
from typing import Any

from plugin_operator import render, runtime_config
from plugin_operator.drivers.base import Handle, Instance, RuntimeStartFailed
from plugin_operator.kube import Kube
from plugin_operator.models import PluginSpec
from plugin_operator.runtime_client import RuntimeClient
from plugin_operator.settings import OperatorSettings

_HASH_CHARS = 10


def _stored_keys_secret(cr_name: str, version: str) -> str:
    return f"{render.names(cr_name, version).deployment}-keys"


def _split_key(key: str) -> tuple[str, str]:
    namespace, _, name = key.partition(".")
    return namespace, name


def _split_instance(instance_id: str) -> tuple[str, str]:
    return instance_id[: -(_HASH_CHARS + 1)], instance_id[-_HASH_CHARS:]


class KubernetesDriver:
    def __init__(self, *, kube: Kube, client: RuntimeClient, settings: OperatorSettings, start_timeout: float = 300.0):
        self.kube, self.client, self.settings, self.start_timeout = kube, client, settings, start_timeout

    def _inputs(self, instance: Instance, spec: PluginSpec, replicas: int) -> render.RenderInputs:
        stored = any(ref.source == "keystore" for ref in spec.secret_refs)
        return render.RenderInputs(
            plugin_id=instance.plugin_id,
            cr_name=instance.cr_name,
            namespace=instance.namespace,
            uid=instance.uid,
            spec=spec,
            version=instance.version,
            image=self.settings.default_image,
            runtime_config=instance.runtime_config,
            config_hash=instance.config_hash,
            admin_secret_name=self._admin_secret(instance.cr_name),
            replicas=replicas,
            stored_keys_secret=self._stored_keys_secret(instance) if stored else None,
        )

    @staticmethod
    def _stored_keys_secret(instance: Instance) -> str:
        return _stored_keys_secret(instance.cr_name, instance.version)

    def _write_stored_keys(self, instance: Instance, spec: PluginSpec, owner: dict[str, Any]) -> None:
        """Decrypted key-store values for this version's pods: a Secret owned by the Plugin, written first."""
        refs = [ref.name for ref in spec.secret_refs if ref.source == "keystore"]
        if not refs:
            return
        data = {name: instance.secrets[runtime_config.secret_env_var(name)] for name in refs}
        self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {**copy.deepcopy(owner), "name": self._stored_keys_secret(instance)},
                "type": "Opaque",
                "stringData": data,
            }
        )

    @staticmethod
    def _admin_secret(cr_name: str) -> str:
        return f"{render.names(cr_name, 'admin').service}-runtime-admin"[:63]

    @staticmethod
    def _endpoint(namespace: str, deployment: str) -> str:
        return f"http://{deployment}.{namespace}.svc:{render.SERVICE_PORT}"

    def _spec_of(self, instance: Instance) -> PluginSpec:
        plugin = self.kube.get_plugin(instance.namespace, instance.cr_name)
        return PluginSpec.model_validate(plugin["spec"])

    def _admin_token(self, instance: Instance, owner: dict[str, Any]) -> str:
        name = self._admin_secret(instance.cr_name)
        existing = self.kube.get("v1", "Secret", instance.namespace, name)
        if existing is not None and (existing.get("data") or {}).get(render.ADMIN_TOKEN_SECRET_KEY):
            return base64.b64decode(existing["data"][render.ADMIN_TOKEN_SECRET_KEY]).decode()
        token = pysecrets.token_urlsafe(24)
        self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {**copy.deepcopy(owner), "name": name},
                "type": "Opaque",
                "stringData": {render.ADMIN_TOKEN_SECRET_KEY: token},
            }
        )
        return token

    def _per_version_service(self, inputs: render.RenderInputs) -> dict[str, Any]:
        service = render.service(inputs, inputs.version)
        service["metadata"]["name"] = render.names(inputs.cr_name, inputs.version).deployment
        return service

    async def start(self, instance: Instance) -> Handle:
        existing = await self.find(instance.key, instance.instance_id)
        if existing is not None:
            return existing
        spec = await asyncio.to_thread(self._spec_of, instance)
        inputs = self._inputs(instance, spec, instance.replicas or 1)
        deployment = render.deployment(inputs)
        token = await asyncio.to_thread(self._admin_token, instance, deployment["metadata"])
        await asyncio.to_thread(self._write_stored_keys, instance, spec, deployment["metadata"])
        objects = [render.network_policy(inputs), render.configmap(inputs), deployment, self._per_version_service(inputs)]
        stable_name = render.names(instance.cr_name, instance.version).service
        if await asyncio.to_thread(self.kube.get, "v1", "Service", instance.namespace, stable_name) is None:
            objects.append(render.service(inputs, instance.version))
        for obj in objects:
            await asyncio.to_thread(self.kube.apply, obj)
        name = deployment["metadata"]["name"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while loop.time() < deadline:
            current = await asyncio.to_thread(self.kube.get, "apps/v1", "Deployment", instance.namespace, name)
            if (current or {}).get("status", {}).get("availableReplicas", 0) >= 1:
                return Handle(instance.key, instance.instance_id, self._endpoint(instance.namespace, name), token)
            await asyncio.sleep(2)
        raise RuntimeStartFailed(f"Deployment {instance.namespace}/{name} has no available replica after {self.start_timeout:.0f}s")

    async def find(self, key: str, instance_id: str) -> Handle | None:
        namespace, cr_name = _split_key(key)
        version, short_hash = _split_instance(instance_id)
        name = render.names(cr_name, version).deployment
        current = await asyncio.to_thread(self.kube.get, "apps/v1", "Deployment", namespace, name)
        if current is None:
            return None
        template = current["spec"]["template"]["metadata"].get("annotations") or {}
        if not str(template.get(render.CONFIG_HASH_ANNOTATION, "")).startswith(short_hash):
            return None
        if current.get("status", {}).get("availableReplicas", 0) < 1:
            return None
        secret = await asyncio.to_thread(self.kube.get, "v1", "Secret", namespace, self._admin_secret(cr_name))
        if secret is None:
            return None
        token = base64.b64decode(secret["data"][render.ADMIN_TOKEN_SECRET_KEY]).decode()
        return Handle(key, instance_id, self._endpoint(namespace, name), token)

    async def promote(self, instance: Instance, handle: Handle) -> None:
        spec = await asyncio.to_thread(self._spec_of, instance)
        await asyncio.to_thread(self.kube.apply, render.service(self._inputs(instance, spec, instance.replicas), instance.version))

    async def stop(self, key: str, instance_id: str) -> None:
        namespace, cr_name = _split_key(key)
        version, _ = _split_instance(instance_id)
        names = render.names(cr_name, version)
        for api_version, kind, name in (
            ("apps/v1", "Deployment", names.deployment),
            ("v1", "Service", names.deployment),
            ("v1", "ConfigMap", names.configmap),
            ("v1", "Secret", _stored_keys_secret(cr_name, version)),
        ):
            await asyncio.to_thread(self.kube.delete, api_version, kind, namespace, name)

    async def stop_all(self, key: str) -> None:
        """Per-version objects are garbage-collected with the Plugin; delete the shared ones now."""
        namespace, cr_name = _split_key(key)
        names = render.names(cr_name, "any")
        for api_version, kind, name in (
            ("v1", "Service", names.service),
            ("networking.k8s.io/v1", "NetworkPolicy", names.network_policy),
            ("v1", "Secret", self._admin_secret(cr_name)),
        ):
            await asyncio.to_thread(self.kube.delete, api_version, kind, namespace, name)

    async def suspend(self, key: str, instance_id: str) -> None:
        """Scale the version's Deployment to zero; `start` scales it back when the plugin is enabled."""
        namespace, cr_name = _split_key(key)
        version, _ = _split_instance(instance_id)
        name = render.names(cr_name, version).deployment
        await asyncio.to_thread(self.kube.patch, "apps/v1", "Deployment", namespace, name, {"spec": {"replicas": 0}})
