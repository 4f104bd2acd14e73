"""GTS registration rules: which plugin owns which query/datasource id, and what happens on a clash.

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
* Everything happens in one transaction with the rows locked (SELECT ... FOR UPDATE, in id order),
  so of two plugins registering the same id at once exactly one wins and the other gets the
  conflict. `register(..., version=new)` is also the version promotion: it moves `owner_version`
  (and `owner_uid`) of every declared entity in that same transaction.

`plan` is the rule book, pure and without I/O; `Registry` runs it against locked rows.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pydantic

from plugin_operator import models
from plugin_operator.db import audit, entities
from plugin_operator.db import records as rec
from plugin_operator.db.repository import Database
from plugin_operator.db.transaction import Transaction
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
    for position, raw in enumerate(datasources):
        datasource = _validated(models.DatasourceSpec, raw, f"datasource #{position + 1}")
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


class Registry:
    """The registry over a `Database`; every method is one transaction."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def register(
        self,
        plugin_id: str,
        owner_uid: str,
        version: str,
        queries: Iterable[Mapping[str, Any] | models.QuerySpec],
        datasources: Iterable[Mapping[str, Any] | models.DatasourceSpec],
        *,
        adopt: bool,
        actor: str = OPERATOR,
    ) -> RegistrationResult:
        """Make the plugin own exactly the declared entities (see the module docstring for the rules).

        Pass empty lists when auto-registration is off: everything the plugin owned is deprecated.
        A refused registration (conflict, invalid entity) is audited as denied/failed and re-raised.
        """
        try:
            declared = declare(plugin_id, queries, datasources)
            return self._db.run(
                lambda tx: self._apply(tx, plugin_id, owner_uid, version, declared, adopt=adopt, actor=actor)
            )
        except RegistrationConflict as conflict:
            self._db.audit(actor, "gts.register", plugin_id, rec.Outcome.DENIED, {"conflicts": conflict.conflicts})
            raise
        except InvalidRegistration as invalid:
            self._db.audit(actor, "gts.register", plugin_id, rec.Outcome.FAILED, {"reason": invalid.detail})
            raise

    def _apply(
        self,
        tx: Transaction,
        plugin_id: str,
        owner_uid: str,
        version: str,
        declared: Sequence[Declared],
        *,
        adopt: bool,
        actor: str,
    ) -> RegistrationResult:
        wanted = {entity.id for entity in declared} | {entity.query_id for entity in declared if entity.query_id}
        existing = entities.lock(tx, wanted, owner=plugin_id)
        changes = plan(
            plugin_id=plugin_id,
            owner_uid=owner_uid,
            version=version,
            declared=declared,
            existing=existing,
            adopt=adopt,
            now=tx.now,
        )
        for row in changes.writes:
            # Rows read above are locked and safe to rewrite; absent ones must be inserted, so a
            # concurrent insert of the same id fails this transaction instead of being overwritten.
            (entities.update if row.id in existing else entities.insert)(tx, row)
        entities.set_state(tx, changes.deprecated, rec.EntityState.DEPRECATED)
        for adoption in changes.adopted:
            audit.record(
                tx,
                actor=actor,
                action="gts.adopt",
                target=adoption.entity_id,
                outcome=rec.Outcome.SUCCESS,
                detail={
                    "owner": plugin_id,
                    "owner_uid": owner_uid,
                    "previous_owner": adoption.previous_owner,
                    "previous_uid": adoption.previous_uid,
                },
            )
        if changes.changed:
            audit.record(
                tx,
                actor=actor,
                action="gts.register",
                target=plugin_id,
                outcome=rec.Outcome.SUCCESS,
                detail={
                    "version": version,
                    "created": list(changes.created),
                    "updated": list(changes.updated),
                    "deprecated": list(changes.deprecated),
                },
            )
        return RegistrationResult(plan=changes, entities=tuple(entities.owned_by(tx, plugin_id)))

    def move_ownership(self, plugin_id: str, new_uid: str, new_version: str, *, actor: str = OPERATOR) -> list[str]:
        """Point all the plugin's (non-deleted) entities at a new CR UID and version, e.g. after a
        promotion that does not re-register; returns the ids moved."""

        def work(tx: Transaction) -> list[str]:
            moved = entities.move_owner(tx, plugin_id, owner_uid=new_uid, owner_version=new_version)
            if moved:
                audit.record(
                    tx,
                    actor=actor,
                    action="gts.move_ownership",
                    target=plugin_id,
                    outcome=rec.Outcome.SUCCESS,
                    detail={"owner_uid": new_uid, "version": new_version, "entities": moved},
                )
            return moved

        return self._db.run(work)

    def deregister(self, plugin_id: str, *, hard: bool, actor: str = OPERATOR) -> list[str]:
        """On plugin removal: deprecate its active entities, or with `hard` soft-delete all of them
        (state `deleted`, rows kept). Returns the ids whose state changed."""
        target = rec.EntityState.DELETED if hard else rec.EntityState.DEPRECATED
        leaving = {rec.EntityState.ACTIVE, rec.EntityState.DEPRECATED} if hard else {rec.EntityState.ACTIVE}

        def work(tx: Transaction) -> list[str]:
            affected = [row.id for row in entities.owned_by(tx, plugin_id, lock=True) if row.state in leaving]
            entities.set_state(tx, affected, target)
            if affected:
                audit.record(
                    tx,
                    actor=actor,
                    action="gts.deregister",
                    target=plugin_id,
                    outcome=rec.Outcome.SUCCESS,
                    detail={"state": target.value, "entities": affected},
                )
            return affected

        return self._db.run(work)

    def list_entities(
        self,
        *,
        kind: rec.EntityKind | str | None = None,
        state: rec.EntityState | str | None = None,
        owner: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[rec.EntityRecord], int]:
        return self._db.run(
            lambda tx: entities.list_(tx, kind=kind, state=state, owner=owner, limit=limit, offset=offset)
        )

    def get_entity(self, entity_id: str) -> rec.EntityRecord | None:
        return self._db.run(lambda tx: entities.get(tx, entity_id))

    def active_queries(self) -> list[rec.EntityRecord]:
        return self._db.run(entities.active_queries)
