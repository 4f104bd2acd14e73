"""The only module that calls the Kubernetes API (official `kubernetes` client, synchronous).

The operator and the REST API call it through `asyncio.to_thread` / FastAPI's threadpool. Errors
are translated into the plugin error tree here, so callers never see `ApiException`.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from typing import Any

from kubernetes import client, config as kube_config
from kubernetes.client.exceptions import ApiException

from plugin_operator import models
from plugin_runtime import errors

log = logging.getLogger(__name__)


class SecretMissing(errors.InvalidInput):
    """A secretRef names a Secret or key that does not exist (reason InvalidSpec on the Plugin)."""


@dataclasses.dataclass(frozen=True)
class SecretValue:
    value: str = dataclasses.field(repr=False)
    resource_version: str


#: (api_version, kind) → (group, version, plural) for the children the Kubernetes driver manages.
_RESOURCES = {
    ("v1", "ConfigMap"): ("", "v1", "configmaps"),
    ("v1", "Service"): ("", "v1", "services"),
    ("v1", "Secret"): ("", "v1", "secrets"),
    ("apps/v1", "Deployment"): ("apps", "apps/v1", "deployments"),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networking.k8s.io", "networking.k8s.io/v1", "networkpolicies"),
}


def _translate(exc: ApiException, what: str) -> errors.PluginError:
    if exc.status == 404:
        return errors.NotFound(f"{what} not found")
    if exc.status == 409:
        return errors.Conflict(f"{what}: conflict ({exc.reason})")
    if exc.status in (400, 422):
        return errors.InvalidInput(f"{what}: rejected by the Kubernetes API: {_message(exc)}")
    if exc.status in (401, 403):
        return errors.PluginUnavailable(f"{what}: the operator is not allowed to do this ({exc.status})")
    return errors.PluginUnavailable(f"{what}: Kubernetes API error {exc.status} {exc.reason}")


def _message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.reason)


class Kube:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    @classmethod
    def from_config(cls, kubeconfig: str | None = None) -> Kube:
        """Kubeconfig file when given (or $KUBECONFIG / ~/.kube/config), else in-cluster config."""
        configuration = client.Configuration()
        try:
            kube_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        except (kube_config.ConfigException, FileNotFoundError, TypeError):
            kube_config.load_incluster_config(client_configuration=configuration)
        return cls(client.ApiClient(configuration))

    # Plugins -------------------------------------------------------------------------------------

    def get_plugin(self, namespace: str, name: str) -> dict[str, Any]:
        try:
            return self.custom.get_namespaced_custom_object(
                models.GROUP, models.VERSION, namespace, models.PLURAL, name
            )
        except ApiException as exc:
            raise _translate(exc, f"Plugin {namespace}/{name}") from None

    def list_plugins(self, namespace: str | None = None) -> list[dict[str, Any]]:
        try:
            if namespace:
                result = self.custom.list_namespaced_custom_object(
                    models.GROUP, models.VERSION, namespace, models.PLURAL
                )
            else:
                result = self.custom.list_cluster_custom_object(models.GROUP, models.VERSION, models.PLURAL)
        except ApiException as exc:
            raise _translate(exc, "Plugins") from None
        return list(result.get("items", []))

    def patch_plugin(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """JSON merge patch of the Plugin (spec and/or metadata); returns the updated object."""
        path = f"/apis/{models.GROUP}/{models.VERSION}/namespaces/{namespace}/{models.PLURAL}/{name}"
        try:
            return self._call("PATCH", path, patch, "application/merge-patch+json")
        except ApiException as exc:
            raise _translate(exc, f"Plugin {namespace}/{name}") from None

    def patch_plugin_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch the status subresource (lists such as conditions are replaced whole)."""
        path = f"/apis/{models.GROUP}/{models.VERSION}/namespaces/{namespace}/{models.PLURAL}/{name}/status"
        try:
            return self._call("PATCH", path, {"status": status}, "application/merge-patch+json")
        except ApiException as exc:
            raise _translate(exc, f"Plugin {namespace}/{name} status") from None

    def delete_plugin(self, namespace: str, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(models.GROUP, models.VERSION, namespace, models.PLURAL, name)
        except ApiException as exc:
            raise _translate(exc, f"Plugin {namespace}/{name}") from None

    # Secrets -------------------------------------------------------------------------------------

    def read_secret_key(self, namespace: str, secret_name: str, key: str) -> SecretValue:
        try:
            secret = self.core.read_namespaced_secret(secret_name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise SecretMissing(f"Secret {namespace}/{secret_name} not found") from None
            raise _translate(exc, f"Secret {namespace}/{secret_name}") from None
        data = secret.data or {}
        string_data = getattr(secret, "string_data", None) or {}
        if key in data:
            value = base64.b64decode(data[key]).decode("utf-8")
        elif key in string_data:
            value = string_data[key]
        else:
            raise SecretMissing(f"Secret {namespace}/{secret_name} has no key {key!r}")
        return SecretValue(value=value, resource_version=str(secret.metadata.resource_version or ""))

    # Children of the Kubernetes driver -----------------------------------------------------------

    def _path(self, obj_or_kind: dict[str, Any] | tuple[str, str], namespace: str, name: str | None = None) -> str:
        api_version, kind = (
            (obj_or_kind["apiVersion"], obj_or_kind["kind"]) if isinstance(obj_or_kind, dict) else obj_or_kind
        )
        group, version, plural = _RESOURCES[(api_version, kind)]
        prefix = "/api/v1" if not group else f"/apis/{version}"
        path = f"{prefix}/namespaces/{namespace}/{plural}"
        return f"{path}/{name}" if name else path

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        return self.api_client.call_api(
            path,
            method,
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            response_type="object",
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create the object, or merge-patch it when it exists (idempotent: safe to repeat after a crash)."""
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        what = f"{obj['kind']} {namespace}/{name}"
        try:
            return self._call("POST", self._path(obj, namespace), obj)
        except ApiException as exc:
            if exc.status != 409:
                raise _translate(exc, what) from None
        try:
            return self._call("PATCH", self._path(obj, namespace, name), obj, "application/merge-patch+json")
        except ApiException as exc:
            raise _translate(exc, what) from None

    def patch(self, api_version: str, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._call("PATCH", self._path((api_version, kind), namespace, name), patch, "application/merge-patch+json")
        except ApiException as exc:
            raise _translate(exc, f"{kind} {namespace}/{name}") from None

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", self._path((api_version, kind), namespace, name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _translate(exc, f"{kind} {namespace}/{name}") from None

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete if present; returns whether something was deleted."""
        try:
            self._call("DELETE", self._path((api_version, kind), namespace, name))
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise _translate(exc, f"{kind} {namespace}/{name}") from None

    def close(self) -> None:
        self.api_client.close()
