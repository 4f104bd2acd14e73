"""The only module that calls the Kubernetes API (official `kubernetes` client, synchronous).

The operator and the REST API call it through `asyncio.to_thread` / FastAPI's threadpool. Every
request goes through `_request`, which turns API errors and transport failures (API server down,
connection refused) into the plugin error tree, so callers never see `ApiException` or urllib3.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import urllib.parse
from typing import Any

from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as TransportError

from plugin_operator import models
from plugin_runtime import errors

log = logging.getLogger(__name__)

_MERGE_PATCH = "application/merge-patch+json"
_APPLY_PATCH = "application/apply-patch+yaml"
#: The field manager of every object the operator applies.
FIELD_MANAGER = "plugin-operator"
_PLUGINS = f"/apis/{models.GROUP}/{models.VERSION}"


class SecretMissing(errors.InvalidInput):
    """A secretRef names a Secret or key that does not exist (reason InvalidSpec on the Plugin)."""


@dataclasses.dataclass(frozen=True)
class SecretValue:
    value: str = dataclasses.field(repr=False)
    resource_version: str


#: (api_version, kind) → (path prefix, plural) for the objects the operator reads and writes.
_RESOURCES = {
    ("v1", "ConfigMap"): ("/api/v1", "configmaps"),
    ("v1", "Service"): ("/api/v1", "services"),
    ("v1", "Secret"): ("/api/v1", "secrets"),
    ("v1", "Pod"): ("/api/v1", "pods"),
    ("v1", "Event"): ("/api/v1", "events"),
    ("apps/v1", "ReplicaSet"): ("/apis/apps/v1", "replicasets"),
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments"),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("/apis/networking.k8s.io/v1", "networkpolicies"),
    ("coordination.k8s.io/v1", "Lease"): ("/apis/coordination.k8s.io/v1", "leases"),
    (models.API_VERSION, models.KIND): (_PLUGINS, models.PLURAL),
}


class _NotFound(Exception):
    """Internal: a 404 the caller asked to handle itself."""


def _message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.reason)


def _translate(exc: ApiException, what: str) -> errors.PluginError:
    if exc.status == 404:
        return errors.NotFound(f"{what} not found")
    if exc.status == 409:
        return errors.Conflict(f"{what}: conflict ({_message(exc)})")
    if exc.status in (400, 422):
        return errors.InvalidInput(f"{what}: rejected by the Kubernetes API: {_message(exc)}")
    if exc.status in (401, 403):
        return errors.PluginUnavailable(f"{what}: the operator is not allowed to do this ({exc.status})")
    return errors.PluginUnavailable(f"{what}: Kubernetes API error {exc.status} {exc.reason}")


def _path(api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
    prefix, plural = _RESOURCES[(api_version, kind)]
    path = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
    return f"{path}/{name}" if name else path


@dataclasses.dataclass(frozen=True)
class Connection:
    """Where and how this process reaches the API server, for clients other than this module's (kopf)."""

    server: str
    ca_path: str | None
    certificate_path: str | None
    private_key_path: str | None
    token: str | None = dataclasses.field(repr=False)
    insecure: bool


class Kube:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client

    @classmethod
    def from_config(cls, kubeconfig: str | None = None) -> Kube:
        """Kubeconfig file when given (or $KUBECONFIG / ~/.kube/config), else in-cluster config."""
        configuration = client.Configuration()
        try:
            kube_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        except (kube_config.ConfigException, FileNotFoundError, TypeError):
            kube_config.load_incluster_config(client_configuration=configuration)
        return cls(client.ApiClient(configuration))

    def connection(self) -> Connection:
        """The configuration this Kube was built from (kubeconfig given on the command line, or
        in-cluster), so kopf logs in to the same cluster as the operator's own calls."""
        configuration = self.api_client.configuration
        authorization = (configuration.api_key or {}).get("authorization") or (configuration.api_key or {}).get(
            "BearerToken"
        )
        token = authorization.split(" ", 1)[-1].strip() if authorization else None
        return Connection(
            server=configuration.host,
            ca_path=configuration.ssl_ca_cert,
            certificate_path=configuration.cert_file,
            private_key_path=configuration.key_file,
            token=token or None,
            insecure=not configuration.verify_ssl,
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        body: Any = None,
        content_type: str = "application/json",
        missing_ok: bool = False,
    ) -> Any:
        try:
            return self.api_client.call_api(
                path,
                method,
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body,
                response_type="object",
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
            )
        except ApiException as exc:
            if exc.status == 404 and missing_ok:
                raise _NotFound from None
            raise _translate(exc, what) from None
        except TransportError as exc:
            raise errors.PluginUnavailable(f"{what}: Kubernetes API unreachable ({type(exc).__name__})") from None

    # Plugins -------------------------------------------------------------------------------------

    def get_plugin(self, namespace: str, name: str) -> dict[str, Any]:
        path = _path(models.API_VERSION, models.KIND, namespace, name)
        return dict(self._request("GET", path, what=f"Plugin {namespace}/{name}"))

    def list_plugins(self, namespace: str | None = None) -> list[dict[str, Any]]:
        result = self._request("GET", _path(models.API_VERSION, models.KIND, namespace), what="Plugins")
        return list(result.get("items", []))

    def patch_plugin(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """JSON merge patch of the Plugin (spec and/or metadata); returns the updated object."""
        path = _path(models.API_VERSION, models.KIND, namespace, name)
        return dict(
            self._request("PATCH", path, what=f"Plugin {namespace}/{name}", body=patch, content_type=_MERGE_PATCH)
        )

    def patch_plugin_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch the status subresource (lists such as conditions are replaced whole)."""
        path = _path(models.API_VERSION, models.KIND, namespace, name) + "/status"
        return dict(
            self._request(
                "PATCH",
                path,
                what=f"Plugin {namespace}/{name} status",
                body={"status": status},
                content_type=_MERGE_PATCH,
            )
        )

    def delete_plugin(self, namespace: str, name: str) -> None:
        self._request(
            "DELETE", _path(models.API_VERSION, models.KIND, namespace, name), what=f"Plugin {namespace}/{name}"
        )

    # Secrets -------------------------------------------------------------------------------------

    def read_secret_key(self, namespace: str, secret_name: str, key: str) -> SecretValue:
        what = f"Secret {namespace}/{secret_name}"
        try:
            secret = self._request("GET", _path("v1", "Secret", namespace, secret_name), what=what, missing_ok=True)
        except _NotFound:
            raise SecretMissing(f"{what} not found") from None
        if key in (secret.get("data") or {}):
            value = base64.b64decode(secret["data"][key]).decode("utf-8")
        elif key in (secret.get("stringData") or {}):
            value = secret["stringData"][key]
        else:
            raise SecretMissing(f"{what} has no key {key!r}")
        return SecretValue(value=value, resource_version=str(secret["metadata"].get("resourceVersion") or ""))

    # Children of the Kubernetes driver -----------------------------------------------------------

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply as the operator's one field manager: creates the object or makes the
        fields this manager owns exactly `obj` (fields it applied before and left out are removed),
        forcing past other managers' claims. Idempotent: safe to repeat after a crash."""
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        path = _path(obj["apiVersion"], obj["kind"], namespace, name) + f"?fieldManager={FIELD_MANAGER}&force=true"
        return dict(
            self._request("PATCH", path, what=f"{obj['kind']} {namespace}/{name}", body=obj, content_type=_APPLY_PATCH)
        )

    def patch(self, api_version: str, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        path = _path(api_version, kind, namespace, name)
        return dict(
            self._request("PATCH", path, what=f"{kind} {namespace}/{name}", body=patch, content_type=_MERGE_PATCH)
        )

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            path = _path(api_version, kind, namespace, name)
            return dict(self._request("GET", path, what=f"{kind} {namespace}/{name}", missing_ok=True))
        except _NotFound:
            return None

    def list(self, api_version: str, kind: str, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        """Objects of one kind in a namespace whose labels include `labels`."""
        selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        path = _path(api_version, kind, namespace) + f"?labelSelector={urllib.parse.quote(selector)}"
        return list(self._request("GET", path, what=f"{kind} list in {namespace}").get("items", []))

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete if present; returns whether something was deleted."""
        try:
            path = _path(api_version, kind, namespace, name)
            self._request("DELETE", path, what=f"{kind} {namespace}/{name}", missing_ok=True)
        except _NotFound:
            return False
        return True

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create `obj`; Conflict when it already exists (another writer was first)."""
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        path = _path(obj["apiVersion"], obj["kind"], namespace)
        return dict(self._request("POST", path, what=f"{obj['kind']} {namespace}/{name}", body=obj))

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        """PUT `obj` whole; its metadata.resourceVersion makes this a compare-and-swap (Conflict when
        someone wrote the object since it was read)."""
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        path = _path(obj["apiVersion"], obj["kind"], namespace, name)
        return dict(self._request("PUT", path, what=f"{obj['kind']} {namespace}/{name}", body=obj))

    def close(self) -> None:
        self.api_client.close()
