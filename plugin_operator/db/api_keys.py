"""`api_keys`: ciphertexts only. Encryption, decryption and rotation are `plugin_operator.keystore`'s job;
this module never sees a plaintext value.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from plugin_operator.db import plugins, records, tables
from plugin_operator.db.transaction import Transaction

_t = tables.api_keys


def get(tx: Transaction, plugin_id: str, name: str) -> records.ApiKeyRecord | None:
    row = tx.connection.execute(sa.select(_t).where(_t.c.plugin_id == plugin_id, _t.c.name == name)).first()
    return None if row is None else _to_record(row)


def put(tx: Transaction, plugin_id: str, name: str, *, ciphertext: str, key_id: str) -> None:
    """Store a new key, or replace the value of an existing one (which counts as a rotation)."""
    plugins.require(tx, plugin_id)
    where = (_t.c.plugin_id == plugin_id, _t.c.name == name)
    replaced = tx.connection.execute(
        sa.update(_t).where(*where).values(ciphertext=ciphertext, key_id=key_id, rotated_at=tx.now)
    )
    if replaced.rowcount == 0:
        tx.connection.execute(
            sa.insert(_t).values(
                plugin_id=plugin_id, name=name, ciphertext=ciphertext, key_id=key_id, created_at=tx.now
            )
        )


def lock_all(tx: Transaction) -> list[records.ApiKeyRecord]:
    rows = tx.connection.execute(sa.select(_t).order_by(_t.c.plugin_id, _t.c.name).with_for_update())
    return [_to_record(row) for row in rows]


def names(tx: Transaction, plugin_id: str) -> list[str]:
    rows = tx.connection.execute(sa.select(_t.c.name).where(_t.c.plugin_id == plugin_id).order_by(_t.c.name))
    return list(rows.scalars())


def touch(tx: Transaction, plugin_id: str, name: str) -> None:
    tx.connection.execute(
        sa.update(_t).where(_t.c.plugin_id == plugin_id, _t.c.name == name).values(last_used_at=tx.now)
    )


def delete(tx: Transaction, plugin_id: str, name: str) -> bool:
    result = tx.connection.execute(sa.delete(_t).where(_t.c.plugin_id == plugin_id, _t.c.name == name))
    return bool(result.rowcount)


def _to_record(row: sa.Row[Any]) -> records.ApiKeyRecord:
    return records.ApiKeyRecord(**row._mapping)
