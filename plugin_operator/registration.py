"""GTS registration rules, pure: which plugin owns which query/datasource id, and what happens on a clash.

The spec says a plugin's registration fails when an entity with the same id exists. Made precise:

* An id is *owned* by the plugin id that registered it, together with the Plugin CR's UID and the
  plugin version. Ownership follows the plugin id, not the UID: a re-created CR (new UID) or a
  re-reconcile updates its own entities in place, re-activating deprecated ones.
* An id owned (active or deprecated) by another plugin id is a conflict: `RegistrationConflict`
  names every such id and its owner, and nothing at all is written. Ownership is only ever taken
  with `adopt=True` (the Plugin carries the `models.ADOPT_ANNOTATION` annotation); each take-over is
  audited with the previous owner. Soft-deleted ids are free to register again.
* A datasource must run an active query: one declared in the same call or already active.
* Ids the plugin owned but no longer declares are deprecated, never deleted.

`plan` is the rule book, without I/O; `registry.Registry` runs it against locked rows.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pydantic

from plugin_operator import models
from plugin_operator.db import records as rec
from plugin_runtime import errors

#: Actor recorded in the audit log when the caller does not name one.
OPERATOR = "operator"


class RegistrationConflict(errors.Conflict):
    """Some declared ids belong to other plugins; `conflicts` maps each id to its owning plugin id."""

    slug, title = "registration-conflict", "GTS Registration Conflict"

    def __init__(self, conflicts: Mapping[str, str]) -> None:
        self.conflicts = dict(sorted(conflicts.items()))
        listed = "; ".join(f"{entity_id} (owned by plugin {owner!r})" for entity_id, owner in self.conflicts.items())
        super().__init__(
            f"GTS entities already registered by another plugin: {listed}. "
            f"Remove them from this plugin, or annotate it with {models.ADOPT_ANNOTATION}=true to take them over.",
            conflicts=[{"id": entity_id, "owner": owner} for entity_id, owner in self.conflicts.items()],
        )


class InvalidRegistration(errors.InvalidInput):
    """A declared entity is malformed, or a datasource names a query that is not active."""

    slug, title = "invalid-registration", "Invalid GTS Registration"


@dataclasses.dataclass(frozen=True)
class Declared:
    """One entity a plugin declares: its kind, the GTS body to store and, for a datasource, its query."""

    id: str
    kind: rec.EntityKind
    body: dict[str, Any]
    query_id: str | None = None


@dataclasses.dataclass(frozen=True)
class Adoption:
    entity_id: str
    previous_owner: str
    previous_uid: str | None


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a registration changes; `writes` are complete rows for every created or updated entity."""

    writes: tuple[rec.EntityRecord, ...] = ()
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    adopted: tuple[Adoption, ...] = ()
    deprecated: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.writes or self.deprecated)


@dataclasses.dataclass(frozen=True)
class RegistrationResult:
    """The plan that was applied, and every entity the plugin owns afterwards (any state)."""

    plan: Plan
    entities: tuple[rec.EntityRecord, ...]

    @property
    def created(self) -> tuple[str, ...]:
        return self.plan.created

    @property
    def updated(self) -> tuple[str, ...]:
        return self.plan.updated

    @property
    def adopted(self) -> tuple[Adoption, ...]:
        return self.plan.adopted

    @property
    def deprecated(self) -> tuple[str, ...]:
        return self.plan.deprecated


def declare(
    plugin_id: str,
    queries: Iterable[Mapping[str, Any] | models.QuerySpec],
    datasources: Iterable[Mapping[str, Any] | models.DatasourceSpec],
) -> list[Declared]:
    """Validate declared entities with the CRD's own models and build their GTS bodies.

    Accepts snake_case or camelCase mappings (e.g. `spec.queries[i].model_dump()`) or the models.
    """
    declared: list[Declared] = []
    for position, raw in enumerate(queries):
        query = _validated(models.QuerySpec, raw, f"query #{position + 1}")
        body = query.model_dump(
            include={"id", "name", "category", "description", "api_endpoint", "capabilities_id", "returns_schema_id"}
        )
        body.update(contract_format=query.contract_format, adapter_id=query.adapter_id or plugin_id)
        declared.append(Declared(id=query.id, kind=rec.EntityKind.QUERY, body=body))
    for position, source in enumerate(datasources):
        datasource = _validated(models.DatasourceSpec, source, f"datasource #{position + 1}")
        body = datasource.model_dump(include={"id", "query_id", "name", "description", "params", "render_options"})
        declared.append(
            Declared(id=datasource.id, kind=rec.EntityKind.DATASOURCE, body=body, query_id=datasource.query_id)
        )
    ids = [entity.id for entity in declared]
    duplicates = sorted({entity_id for entity_id in ids if ids.count(entity_id) > 1})
    if duplicates:
        raise InvalidRegistration(f"entity ids declared more than once: {', '.join(duplicates)}")
    return declared


def _validated(model: type[pydantic.BaseModel], raw: Any, where: str) -> Any:
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or '(entity)'}: {problem['msg']}"
            for problem in err.errors(include_input=False, include_url=False)
        )
        raise InvalidRegistration(f"{where} is invalid: {problems}") from None


def plan(
    *,
    plugin_id: str,
    owner_uid: str,
    version: str,
    declared: Sequence[Declared],
    existing: Mapping[str, rec.EntityRecord],
    adopt: bool,
    now: datetime.datetime,
) -> Plan:
    """The rule book. `existing` holds the current rows of the declared ids, of the queries the
    datasources reference, and of every entity `plugin_id` owns; raises instead of returning a
    partial plan.
    """
    declared_ids = {entity.id for entity in declared}
    conflicts = {
        entity_id: row.owner_plugin_id
        for entity_id, row in existing.items()
        if entity_id in declared_ids and row.owner_plugin_id != plugin_id and row.state is not rec.EntityState.DELETED
    }
    if conflicts and not adopt:
        raise RegistrationConflict(conflicts)
    _check_datasource_queries(plugin_id, declared, existing)

    writes: list[rec.EntityRecord] = []
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    adopted: list[Adoption] = []
    for entity in sorted(declared, key=lambda item: item.id):
        previous = existing.get(entity.id)
        reusable = previous is not None and (
            previous.owner_plugin_id == plugin_id or previous.state is not rec.EntityState.DELETED
        )
        desired = rec.EntityRecord(
            id=entity.id,
            kind=entity.kind,
            owner_plugin_id=plugin_id,
            owner_uid=owner_uid,
            owner_version=version,
            body=entity.body,
            state=rec.EntityState.ACTIVE,
            created_at=previous.created_at if previous is not None and reusable else now,
            updated_at=now,
        )
        if previous is None or not reusable:
            created.append(entity.id)
        elif _same(previous, desired):
            unchanged.append(entity.id)
            continue
        else:
            updated.append(entity.id)
            if entity.id in conflicts:
                adopted.append(Adoption(entity.id, previous.owner_plugin_id, previous.owner_uid))
        writes.append(desired)
    deprecated = sorted(
        entity_id
        for entity_id, row in existing.items()
        if row.owner_plugin_id == plugin_id and row.state is rec.EntityState.ACTIVE and entity_id not in declared_ids
    )
    return Plan(
        writes=tuple(writes),
        created=tuple(created),
        updated=tuple(updated),
        unchanged=tuple(unchanged),
        adopted=tuple(adopted),
        deprecated=tuple(deprecated),
    )


def _check_datasource_queries(
    plugin_id: str, declared: Sequence[Declared], existing: Mapping[str, rec.EntityRecord]
) -> None:
    declared_ids = {entity.id for entity in declared}
    active = {entity.id for entity in declared if entity.kind is rec.EntityKind.QUERY} | {
        entity_id
        for entity_id, row in existing.items()
        if row.kind is rec.EntityKind.QUERY
        and row.state is rec.EntityState.ACTIVE
        # A query this plugin stops declaring is about to be deprecated: it cannot be relied on.
        and not (row.owner_plugin_id == plugin_id and entity_id not in declared_ids)
    }
    missing = [(entity.id, entity.query_id) for entity in declared if entity.query_id and entity.query_id not in active]
    if missing:
        listed = "; ".join(f"datasource {ds} needs query {query}" for ds, query in missing)
        raise InvalidRegistration(
            f"datasources reference queries that are neither declared nor active in the registry: {listed}",
            missing_queries=sorted({query for _, query in missing}),
        )


def _same(current: rec.EntityRecord, desired: rec.EntityRecord) -> bool:
    keys = ("kind", "owner_plugin_id", "owner_uid", "owner_version", "body", "state")
    return all(getattr(current, key) == getattr(desired, key) for key in keys)
