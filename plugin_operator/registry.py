"""The GTS registry: `registration`'s rules run against the entity rows, one transaction per call.

Everything happens in one transaction with the rows locked (SELECT ... FOR UPDATE, in id order), so
of two plugins registering the same id at once exactly one wins and the other gets the conflict.
`register(..., version=new)` is also the version promotion: it moves `owner_version` (and
`owner_uid`) of every declared entity in that same transaction. Take-overs and refusals are audited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from plugin_operator import models
from plugin_operator.db import audit, entities
from plugin_operator.db import records as rec
from plugin_operator.db.repository import Database
from plugin_operator.db.transaction import Transaction
from plugin_operator.registration import (
    OPERATOR,
    Declared,
    InvalidRegistration,
    RegistrationConflict,
    RegistrationResult,
    declare,
    plan,
)


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
        except (RegistrationConflict, InvalidRegistration) as refused:
            outcome, detail = (
                (rec.Outcome.DENIED, {"conflicts": refused.conflicts})
                if isinstance(refused, RegistrationConflict)
                else (rec.Outcome.FAILED, {"reason": refused.detail})
            )
            self._db.audit(actor=actor, action="gts.register", target=plugin_id, outcome=outcome, detail=detail)
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
