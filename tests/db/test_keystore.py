"""Encrypted API keys: round trip, audited use, rotation, and secrets kept out of logs, reprs and errors."""

from __future__ import annotations

import logging
import traceback

import pytest
import sqlalchemy as sa

from plugin_operator import db, keystore
from plugin_runtime import errors

from . import samples
from .conftest import START, ManualClock

SECRET = "sk-live-7f3a9c1e-never-show-me"


@pytest.fixture
def plugin_db(any_database: db.Database) -> db.Database:
    any_database.upsert_plugin(samples.plugin("prom"), actor="operator")
    return any_database


def _ciphertexts(database: db.Database) -> list[tuple[str, str]]:
    columns = db.tables.api_keys.c
    query = sa.select(columns.ciphertext, columns.key_id).order_by(columns.name)
    return database.run(lambda tx: [(row.ciphertext, row.key_id) for row in tx.connection.execute(query)])


def test_round_trip_stores_only_ciphertext_and_audits_each_use(plugin_db: db.Database, clock: ManualClock) -> None:
    key = keystore.generate_key()
    store = keystore.Keystore(plugin_db, [key])
    store.store("prom", "api_key", SECRET)
    store.store("prom", "basic_password", "another")
    used_at = clock.advance(minutes=3)

    assert store.reveal("prom", "api_key", "runtime:prom") == SECRET

    assert store.names("prom") == ["api_key", "basic_password"]
    assert store.names("other") == []
    ((ciphertext, key_id), _) = _ciphertexts(plugin_db)
    assert SECRET not in ciphertext
    assert key_id == keystore.key_id(key) == store.key_ids[0]
    stored = plugin_db.run(lambda tx: db.api_keys.get(tx, "prom", "api_key"))
    assert stored is not None
    assert (stored.created_at, stored.last_used_at, stored.rotated_at) == (START, used_at, None)
    (use,), _ = plugin_db.list_audit(action="api_key.use")
    assert (use.actor, use.target, use.outcome, use.at) == ("runtime:prom", "prom/api_key", db.Outcome.SUCCESS, used_at)
    assert SECRET not in str(use.detail)


def test_replacing_a_value_counts_as_rotation(plugin_db: db.Database, clock: ManualClock) -> None:
    store = keystore.Keystore(plugin_db, [keystore.generate_key()])
    store.store("prom", "api_key", "old-value")
    replaced_at = clock.advance(days=1)

    store.store("prom", "api_key", SECRET)

    assert store.reveal("prom", "api_key", "alice") == SECRET
    stored = plugin_db.run(lambda tx: db.api_keys.get(tx, "prom", "api_key"))
    assert stored is not None and (stored.created_at, stored.rotated_at) == (START, replaced_at)


def test_missing_key_and_unknown_plugin(plugin_db: db.Database) -> None:
    store = keystore.Keystore(plugin_db, [keystore.generate_key()])

    with pytest.raises(errors.NotFound, match="api_key"):
        store.reveal("prom", "api_key", "alice")
    with pytest.raises(errors.NotFound, match="ghost"):
        store.store("ghost", "api_key", SECRET)

    (failed,), _ = plugin_db.list_audit(action="api_key.use")
    assert (failed.actor, failed.outcome, failed.detail) == ("alice", db.Outcome.FAILED, {"reason": "not found"})


def test_delete_forgets_a_key(plugin_db: db.Database) -> None:
    store = keystore.Keystore(plugin_db, [keystore.generate_key()])
    store.store("prom", "api_key", SECRET)

    assert store.delete("prom", "api_key", actor="alice") is True
    assert store.delete("prom", "api_key", actor="alice") is False
    assert store.names("prom") == []


def test_rotation_re_encrypts_so_the_old_key_can_be_dropped(plugin_db: db.Database, clock: ManualClock) -> None:
    old, new = keystore.generate_key(), keystore.generate_key()
    store = keystore.Keystore(plugin_db, [old])
    store.store("prom", "api_key", SECRET)
    store.store("prom", "bearer_token", "token-value")
    before = _ciphertexts(plugin_db)
    rotated_at = clock.advance(hours=1)

    assert store.rotate([new], actor="alice") == 2

    after = _ciphertexts(plugin_db)
    assert {key_id for _, key_id in after} == {keystore.key_id(new)}
    assert not {c for c, _ in before} & {c for c, _ in after}
    assert store.key_ids == (keystore.key_id(new),)
    assert keystore.Keystore(plugin_db, [new]).reveal("prom", "api_key", "alice") == SECRET
    assert store.reveal("prom", "bearer_token", "alice") == "token-value"
    with pytest.raises(keystore.UndecryptableKey, match=keystore.key_id(new)):
        keystore.Keystore(plugin_db, [old]).reveal("prom", "api_key", "mallory")
    rows = plugin_db.run(lambda tx: db.api_keys.lock_all(tx))
    assert {row.rotated_at for row in rows} == {rotated_at}
    (entry,), _ = plugin_db.list_audit(action="api_key.rotate")
    assert entry.detail == {"count": 2, "key_id": keystore.key_id(new), "previous_key_id": keystore.key_id(old)}
    (denied,), _ = plugin_db.list_audit(actor="mallory")
    assert denied.outcome is db.Outcome.FAILED


def test_rotation_is_all_or_nothing(plugin_db: db.Database) -> None:
    lost, current, new = keystore.generate_key(), keystore.generate_key(), keystore.generate_key()
    keystore.Keystore(plugin_db, [lost]).store("prom", "a_key", "from a lost key")
    store = keystore.Keystore(plugin_db, [current])
    store.store("prom", "b_key", SECRET)
    before = _ciphertexts(plugin_db)

    with pytest.raises(keystore.UndecryptableKey, match="a_key"):
        store.rotate([new])

    assert _ciphertexts(plugin_db) == before
    assert store.key_ids == (keystore.key_id(current),)
    assert store.reveal("prom", "b_key", "alice") == SECRET


def test_keys_come_from_the_environment_first_one_encrypting(plugin_db: db.Database) -> None:
    primary, secondary = keystore.generate_key(), keystore.generate_key()
    keystore.Keystore(plugin_db, [secondary]).store("prom", "api_key", SECRET)

    store = keystore.Keystore.from_env(plugin_db, {keystore.ENV_VAR: f" {primary} , {secondary},"})

    assert store.key_ids == (keystore.key_id(primary), keystore.key_id(secondary))
    assert store.reveal("prom", "api_key", "alice") == SECRET
    store.store("prom", "other_key", "x")
    assert {key_id for _, key_id in _ciphertexts(plugin_db)} == {keystore.key_id(primary), keystore.key_id(secondary)}


@pytest.mark.parametrize("keys", [[], ["not-a-fernet-key"], ["", "x"]])
def test_misconfigured_keys_are_reported_without_their_value(database: db.Database, keys: list[str]) -> None:
    with pytest.raises(keystore.KeystoreMisconfigured) as raised:
        keystore.Keystore(database, keys)
    shown = "".join(traceback.format_exception(raised.value))
    assert "KeystoreMisconfigured" in shown
    for key in keys:
        if key:
            assert key not in shown


def test_secrets_and_keys_never_reach_logs_reprs_or_errors(
    plugin_db: db.Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # statements and (hidden) parameters
    key, other = keystore.generate_key(), keystore.generate_key()
    store = keystore.Keystore(plugin_db, [key])

    store.store("prom", "api_key", SECRET)
    revealed = store.reveal("prom", "api_key", "alice")
    store.rotate([other, key])
    with pytest.raises(keystore.UndecryptableKey) as raised:
        keystore.Keystore(plugin_db, [keystore.generate_key()]).reveal("prom", "api_key", "mallory")
    record = plugin_db.run(lambda tx: db.api_keys.get(tx, "prom", "api_key"))

    assert revealed == SECRET
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records), "the SQL log was not captured"
    texts = {
        "log": caplog.text + "".join(str(r.__dict__) for r in caplog.records),
        "keystore repr": repr(store),
        "record repr": repr(record),
        "error": str(raised.value) + repr(raised.value.to_problem()),
        "audit": repr(plugin_db.list_audit(limit=100)),
    }
    for where, text in texts.items():
        for secret in (SECRET, key, other):
            assert secret not in text, f"a secret leaked into the {where}"
    assert record is not None and record.ciphertext not in repr(record)
