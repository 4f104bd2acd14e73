"""Every kopf handler of the operator: a few lines each, delegating to the Reconciler.

Handlers are registered on a registry built per operator instance (`build_registry`), so tests and
`make run` can run an operator with their own settings beside other kopf registries.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import kopf

from plugin_operator import kube, models
from plugin_operator.progress import Retry
from plugin_operator.reconciler import Reconciler

FINALIZER = f"{models.GROUP}/cleanup"
_RESOURCE = (models.GROUP, models.VERSION, models.PLURAL)


class _QuietTimers(logging.Filter):
    """Drop kopf's "Timer 'monitor' succeeded." line: one per plugin per health interval is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO and record.getMessage().startswith("Timer 'monitor' succeeded"))


def configure(settings: kopf.OperatorSettings) -> None:
    """kopf settings shared by every mode (real cluster or the embedded one)."""
    logging.getLogger("kopf.objects").addFilter(_QuietTimers())
    settings.persistence.finalizer = FINALIZER
    settings.posting.level = logging.INFO
    settings.scanning.disabled = True
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 30
    settings.execution.max_workers = 8
    # A health probe in flight when a Plugin is deleted keeps its timer running; kopf re-checks
    # such timers every `cancellation_polling` seconds (60 by default) before it drops the finalizer.
    settings.background.cancellation_polling = 0.5


def build_registry(
    reconciler: Reconciler, *, health_interval: float, connection: kube.Connection | None = None
) -> kopf.OperatorRegistry:
    """`connection`: the cluster the operator's own client uses (from `--kubeconfig`), so kopf logs in
    there too; None lets kopf find the kubeconfig ($KUBECONFIG) or the service account itself."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(id="startup", registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure(settings)
        try:
            await reconciler.sweep()
        except Retry as retry:  # the API server is not reachable yet: the next start sweeps again
            logging.getLogger(__name__).warning("startup sweep skipped: %s", retry)

    @kopf.on.cleanup(id="cleanup", registry=registry)
    async def cleanup(**_: Any) -> None:
        await reconciler.close()

    @kopf.on.login(id="login", registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if connection is not None:
            return kopf.ConnectionInfo(
                server=connection.server,
                ca_path=connection.ca_path,
                insecure=connection.insecure,
                certificate_path=connection.certificate_path,
                private_key_path=connection.private_key_path,
                token=connection.token,
            )
        return kopf.login_with_kubeconfig(**kwargs) or kopf.login_with_service_account(**kwargs)

    @kopf.on.resume(*_RESOURCE, id="reconcile", registry=registry)
    @kopf.on.create(*_RESOURCE, id="reconcile", registry=registry)
    @kopf.on.update(*_RESOURCE, id="reconcile", registry=registry)
    async def reconcile(namespace: str | None, name: str, **_: Any) -> None:
        try:
            await reconciler.reconcile(_namespaced(namespace), name)
        except Retry as retry:
            raise kopf.TemporaryError(str(retry), delay=retry.delay) from None

    @kopf.on.delete(*_RESOURCE, id="remove", registry=registry)
    async def remove(body: kopf.Body, **_: Any) -> None:
        try:
            await reconciler.remove(dict(body))
        except Retry as retry:
            raise kopf.TemporaryError(str(retry), delay=retry.delay) from None

    @kopf.timer(*_RESOURCE, id="monitor", interval=health_interval, initial_delay=health_interval, registry=registry)
    async def monitor(namespace: str | None, name: str, **_: Any) -> None:
        try:
            await reconciler.monitor(_namespaced(namespace), name)
        except Retry as retry:
            raise kopf.TemporaryError(str(retry), delay=retry.delay) from None

    @kopf.index(*_RESOURCE, id="secret_users", registry=registry)
    def secret_users(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> dict[tuple[str, str], str]:
        return {(_namespaced(namespace), ref.get("secretName")): name for ref in spec.get("secretRefs") or []}

    @kopf.on.event("v1", "secrets", id="secret_changed", registry=registry)
    async def secret_changed(namespace: str | None, name: str, type: str | None, **kwargs: Any) -> None:
        """A referenced Secret was created, rotated or deleted: reconcile its plugins (rolls the runtime)."""
        if type is None:  # the initial listing: resume handlers already cover existing plugins
            return
        users: kopf.Index[tuple[str, str], str] = kwargs["secret_users"]  # kopf passes indices by their id
        secret_namespace = _namespaced(namespace)
        for plugin_name in set(users.get((secret_namespace, name), [])):
            with contextlib.suppress(Retry):  # the plugin's own handlers retry; a Secret event is not retried
                await reconciler.reconcile(secret_namespace, plugin_name)

    return registry


def _namespaced(namespace: str | None) -> str:
    """kopf types `namespace` for every kind of resource; Plugins and Secrets are namespaced, so it is set."""
    assert namespace is not None
    return namespace


def emit(body: dict[str, Any], event_type: str, reason: str, message: str) -> None:
    """Record a Kubernetes Event on the Plugin (kopf posts it in the background)."""
    # kopf annotates `kopf.Body` but walks any mapping (the object's apiVersion, kind and metadata).
    kopf.event(body, type=event_type, reason=reason, message=message[:1024])  # type: ignore[arg-type]
