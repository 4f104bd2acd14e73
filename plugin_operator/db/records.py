"""Plain rows the repository returns and accepts: callers never see SQLAlchemy objects.

Frozen dataclasses so the kopf handlers (through `asyncio.to_thread`) and the REST API can pass
them around freely and turn them into status dicts or responses without touching the database.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from typing import Any


class EntityKind(enum.StrEnum):
    QUERY = "query"
    DATASOURCE = "datasource"


class EntityState(enum.StrEnum):
    """Entities are never removed: a plugin going away deprecates (or soft-deletes) what it registered."""

    ACTIVE = "active"
    DEPRECATED = "deprecated"
    DELETED = "deleted"


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class PluginRecord:
    """A plugin row: the spec's columns, then what the operator mirrors from the Plugin CR.

    `registered_*`, `updated_*` and `removed_at` are kept by the repository; values given to
    `upsert_plugin` for them are ignored. `config` and `status` never hold secrets (secrets live
    in Kubernetes Secrets or, encrypted, in `api_keys`).
    """

    id: str
    name: str
    version: str
    contract_format: str | None = None
    author: str | None = None
    description: str | None = None
    enabled: bool = True
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    namespace: str | None = None
    cr_name: str | None = None
    uid: str | None = None
    phase: str | None = None
    serving_version: str | None = None
    endpoint: str | None = None
    status: dict[str, Any] = dataclasses.field(default_factory=dict)
    registered_at: datetime.datetime | None = None
    registered_by: str | None = None
    updated_at: datetime.datetime | None = None
    updated_by: str | None = None
    removed_at: datetime.datetime | None = None

    @property
    def removed(self) -> bool:
        return self.removed_at is not None


@dataclasses.dataclass(frozen=True)
class HealthRecord:
    id: int
    plugin_id: str
    checked_at: datetime.datetime
    status: str | None
    response_time_ms: int | None
    error_message: str | None
    metrics: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class EntityRecord:
    """A GTS entity and who owns it: the owning plugin id, the CR's UID and the plugin version."""

    id: str
    kind: EntityKind
    owner_plugin_id: str
    owner_uid: str | None
    owner_version: str | None
    body: dict[str, Any]
    state: EntityState
    created_at: datetime.datetime
    updated_at: datetime.datetime
    deprecated_at: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime.datetime
    actor: str
    action: str
    target: str
    outcome: Outcome
    detail: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ApiKeyRecord:
    """An encrypted API key. The ciphertext stays out of repr so a logged record shows nothing useful."""

    plugin_id: str
    name: str
    ciphertext: str = dataclasses.field(repr=False)
    key_id: str
    created_at: datetime.datetime
    rotated_at: datetime.datetime | None
    last_used_at: datetime.datetime | None
