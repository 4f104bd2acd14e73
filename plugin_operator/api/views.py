"""Pure: how a Plugin CR and its database history become what the API shows.

The CR is read leniently (a raw dict, not `PluginSpec`): the API must be able to show — and mask —
a Plugin that the operator itself rejects, e.g. one with a secret-looking key in `spec.config`.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

import pydantic

from plugin_operator import models, permissions, secret_scan
from plugin_operator.api import schemas
from plugin_runtime.interface import ContractFormat, HealthState

MASK = "********"
_T = TypeVar("_T")


class History(Protocol):
    """What the database adds to a plugin: who registered and last changed it, and when."""

    @property
    def registered_at(self) -> datetime.datetime | None: ...
    @property
    def registered_by(self) -> str | None: ...
    @property
    def updated_at(self) -> datetime.datetime | None: ...
    @property
    def updated_by(self) -> str | None: ...


class RecordedAudit(Protocol):
    """An `audit_log` row (`detail` holds ids, counts and statuses, never values)."""

    @property
    def id(self) -> int: ...
    @property
    def at(self) -> datetime.datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def detail(self) -> dict[str, Any]: ...


class RecordedHealth(Protocol):
    """A `plugin_health` row; `metrics` holds the health document the monitor received."""

    @property
    def checked_at(self) -> datetime.datetime: ...
    @property
    def status(self) -> str | None: ...
    @property
    def response_time_ms(self) -> int | None: ...
    @property
    def error_message(self) -> str | None: ...
    @property
    def metrics(self) -> dict[str, Any]: ...


def plugin_id_of(cr: Mapping[str, Any]) -> str:
    return str((cr.get("spec") or {}).get("pluginId") or cr["metadata"]["name"])


def mask_secrets(value: Any) -> Any:
    """Replace the value of every secret-looking key (at any depth), and URLs with a password, by a mask."""
    if isinstance(value, Mapping):
        return {
            str(key): MASK if secret_scan.looks_secret(str(key)) else mask_secrets(item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    if isinstance(value, str) and secret_scan.has_url_password(value):
        return MASK
    return value


def is_pending(cr: Mapping[str, Any]) -> bool:
    """True until the operator has observed the CR's current generation (its spec as last changed)."""
    generation = cr.get("metadata", {}).get("generation")
    observed = (cr.get("status") or {}).get("observedGeneration")
    if observed is None:
        return True
    return generation is not None and observed < generation


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _health_state(value: Any) -> HealthState | None:
    return HealthState(value) if value in set(HealthState) else None


def plugin_view(
    cr: Mapping[str, Any], history: History | None = None, last_check: RecordedHealth | None = None
) -> schemas.PluginView:
    metadata = cr["metadata"]
    spec = cr.get("spec") or {}
    status = cr.get("status") or {}
    last_error = status.get("lastError") or {}
    return schemas.PluginView(
        id=plugin_id_of(cr),
        namespace=str(metadata.get("namespace") or ""),
        cr_name=str(metadata["name"]),
        name=str(spec.get("displayName") or plugin_id_of(cr)),
        version=_optional_str(spec.get("version")),
        serving_version=_optional_str(status.get("servingVersion")),
        endpoint=_optional_str(status.get("serviceEndpoint")),
        author=_optional_str(spec.get("author")),
        description=_optional_str(spec.get("description")),
        contract_format=_optional_str(spec.get("contractFormat")),
        adapter=_optional_str(spec.get("adapter")),
        enabled=spec.get("enabled") is not False,
        phase=str(status.get("phase") or models.Phase.UNLOADED.value),
        pending=is_pending(cr),
        generation=metadata.get("generation"),
        observed_generation=status.get("observedGeneration"),
        config=mask_secrets(spec.get("config") or {}),
        secret_refs=[
            schemas.SecretRefView(
                name=str(ref.get("name")),
                source=str(ref.get("source") or "secret"),
                secret_name=_optional_str(ref.get("secretName")),
                key=_optional_str(ref.get("key")),
            )
            for ref in spec.get("secretRefs") or []
        ],
        permissions=[p.value for p in models.Permission if p in permissions.granted(spec)],
        queries=[
            schemas.QuerySummary(
                id=str(query.get("id")),
                name=_optional_str(query.get("name")),
                category=_optional_str(query.get("category")),
                api_endpoint=_optional_str(query.get("apiEndpoint")),
            )
            for query in spec.get("queries") or []
        ],
        conditions=[
            schemas.ConditionView(
                type=str(condition.get("type")),
                status=str(condition.get("status")),
                reason=_optional_str(condition.get("reason")),
                message=_optional_str(condition.get("message")),
                last_transition_time=_optional_str(condition.get("lastTransitionTime")),
            )
            for condition in status.get("conditions") or []
        ],
        registered_entities=[
            schemas.RegisteredEntityView(
                id=str(entity.get("id")), kind=str(entity.get("kind")), state=str(entity.get("state"))
            )
            for entity in status.get("registeredEntities") or []
        ],
        health_status=_health_state((status.get("health") or {}).get("status")),
        last_error=_optional_str(last_error.get("message")),
        reload_requested_at=_optional_str((metadata.get("annotations") or {}).get(models.RELOAD_ANNOTATION)),
        registered_at=history.registered_at if history else None,
        registered_by=history.registered_by if history else None,
        updated_at=history.updated_at if history else None,
        updated_by=history.updated_by if history else None,
        last_health_check=health_check(last_check) if last_check else None,
    )


def health_check(row: RecordedHealth) -> schemas.HealthCheckView:
    """A recorded probe as the API shows it; a status no runtime should report reads `unknown`."""
    return schemas.HealthCheckView(
        status=_health_state(row.status) or HealthState.UNKNOWN,
        checked_at=row.checked_at,
        response_time_ms=row.response_time_ms,
        error_message=mask_secrets(row.error_message),
    )


def health_record(row: RecordedHealth) -> schemas.HealthRecordView:
    """A recorded probe with its figures. The adapters redact credentials from dependency messages
    before they reach a health document; masking here keeps a careless plugin's from the API."""
    return schemas.HealthRecordView(
        **health_check(row).model_dump(),
        metrics=mask_secrets(row.metrics or {}),
    )


def matches(
    view: schemas.PluginView,
    *,
    enabled: bool | None,
    phase: models.Phase | None,
    contract_format: ContractFormat | None,
) -> bool:
    return (
        (enabled is None or view.enabled is enabled)
        and (phase is None or view.phase == phase.value)
        and (contract_format is None or view.contract_format == contract_format.value)
    )


def page(items: Sequence[_T], *, limit: int, offset: int) -> list[_T]:
    return list(items[offset : offset + limit])


def live_health(plugin_id: str, document: Mapping[str, Any]) -> schemas.HealthDocument | None:
    """The runtime's health document as the API's model, or None when it is not one."""
    if document.get("plugin_id") != plugin_id:
        return None
    try:
        return schemas.HealthDocument.model_validate({**document, "stale": False})
    except pydantic.ValidationError:
        return None


def _parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def recorded_health(plugin_id: str, cr: Mapping[str, Any], row: RecordedHealth | None) -> schemas.HealthDocument:
    """The newest health the operator recorded (CR status or `plugin_health`), marked stale.

    With nothing recorded the status is `unknown`: the health check has failed as far as we know.
    """
    status = cr.get("status") or {}
    version = _optional_str(status.get("servingVersion") or (cr.get("spec") or {}).get("version"))
    from_status = status.get("health") or {}
    status_time = _parse_time(from_status.get("checkedAt"))
    if row is not None and (status_time is None or row.checked_at > status_time):
        document = dict(row.metrics or {})
        document.update(status=row.status, checked_at=row.checked_at.isoformat())
    elif from_status:
        document = {
            "status": from_status.get("status"),
            "uptime": from_status.get("uptime"),
            "queries_executed": from_status.get("queriesExecuted"),
            "error_rate": from_status.get("errorRate"),
            "last_error": from_status.get("lastError"),
            "circuit": from_status.get("circuit"),
            "checked_at": from_status.get("checkedAt"),
            "dependencies": [
                {
                    "name": dep.get("name"),
                    "status": dep.get("status"),
                    "response_time": dep.get("responseTime"),
                    "message": dep.get("message"),
                }
                for dep in from_status.get("dependencies") or []
            ],
        }
    else:
        document = {}
    document.update(plugin_id=plugin_id, version=document.get("version") or version, stale=True)
    if _health_state(document.get("status")) is None:
        document["status"] = HealthState.UNKNOWN.value
    try:
        return schemas.HealthDocument.model_validate(document)
    except pydantic.ValidationError:
        return schemas.HealthDocument(
            status=_health_state(document["status"]) or HealthState.UNKNOWN,
            plugin_id=plugin_id,
            version=version,
            checked_at=_optional_str(document.get("checked_at")),
            stale=True,
        )


def audit_entry(row: RecordedAudit) -> schemas.AuditEntryView:
    """An audit entry as the API shows it; `detail` is masked like any other body, in case a caller
    ever broke the rule and passed a value."""
    return schemas.AuditEntryView(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        outcome=row.outcome,
        detail=mask_secrets(row.detail),
    )
