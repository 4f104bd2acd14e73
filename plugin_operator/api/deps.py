"""Everything the management API needs from the outside world, handed over in one object.

The operator process builds one `ApiDeps` (its repository, registry, Kubernetes accessor and HTTP
client) and serves `create_app(deps)` beside kopf; tests build one over the dev cluster and a
throwaway PostgreSQL schema. The Kubernetes side and the registry are Protocols: any object with
the methods of `Kube` (or of the registry) will do.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from typing import Annotated, Any, Protocol

import fastapi
import httpx

from plugin_operator import db, keystore, security


class PluginsAccess(Protocol):
    """The Plugin CR operations the API performs (`plugin_operator.kube.Kube` provides them)."""

    def get_plugin(self, namespace: str, name: str) -> dict[str, Any]: ...

    def list_plugins(self, namespace: str | None = None) -> list[dict[str, Any]]: ...

    def patch_plugin(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]: ...

    def delete_plugin(self, namespace: str, name: str) -> None: ...


class EntityReader(Protocol):
    """The GTS registry reads the API serves (`plugin_operator.registry` provides them)."""

    def list_entities(
        self,
        *,
        kind: db.EntityKind | None = None,
        state: db.EntityState | None = None,
        owner: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[db.EntityRecord], int]: ...

    def get_entity(self, entity_id: str) -> db.EntityRecord | None: ...


class ProcessProbes(Protocol):
    """What the operator process tells the probes (`plugin_operator.app.OperatorProcess` provides it)."""

    def liveness_problem(self) -> str | None: ...

    def readiness_problem(self) -> str | None: ...

    def role(self) -> str: ...


#: The path prefix of every management route (the process endpoints /healthz, /readyz, /metrics aside).
PREFIX = "/api/analytics/v1"


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclasses.dataclass(frozen=True)
class ApiDeps:
    database: db.Database
    registry: EntityReader
    kube: PluginsAccess
    http: httpx.Client
    auth: security.AuthSettings
    clock: Callable[[], datetime.datetime] = _utcnow
    #: Namespaces whose Plugins the API shows; empty means all (cluster-wide), as for the operator.
    namespaces: tuple[str, ...] = ()
    #: Seconds a live call to a plugin runtime (health, translate) may take.
    runtime_timeout: float = 2.0
    #: The operator's encrypted API-key store; None when no Fernet keys are configured (keys API: 503).
    keystore: keystore.Keystore | None = None
    #: The process behind the API (leader election, kopf); None when the API runs on its own (tests).
    process: ProcessProbes | None = None
    #: Seconds the readiness check waits for the database's answer.
    readiness_timeout: float = 2.0


async def _deps(request: fastapi.Request) -> ApiDeps:
    # `async`: FastAPI runs a plain `def` dependency in the thread pool, where the probes
    # (`/healthz`, `/readyz`) must never queue behind hung calls to plugin runtimes.
    deps: ApiDeps = request.app.state.deps
    return deps


#: A route's view of the outside world: the `ApiDeps` the app was created with (`app.state.deps`).
Deps = Annotated[ApiDeps, fastapi.Depends(_deps)]
