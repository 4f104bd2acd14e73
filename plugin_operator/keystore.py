"""Plugins' API keys, encrypted at rest with Fernet, with key rotation and an audited trail of use.

Configuration is a list of Fernet keys (env `PLUGIN_OPERATOR_FERNET_KEYS`, comma-separated): the
first encrypts, all of them decrypt (`MultiFernet`). Rotating to a new key takes three steps:
deploy `new,old` everywhere; call `rotate(["new"])`, which re-encrypts every stored value under the
new key in one transaction; then drop `old` from the configuration.

What never leaves this module: plaintext values and the Fernet keys. Neither appears in a repr, a
log line, an audit entry or an exception message; keys are identified by a short fingerprint
(`key_id`) instead.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
from collections.abc import Mapping, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from plugin_operator.db import api_keys, audit
from plugin_operator.db import records as rec
from plugin_operator.db.repository import Database
from plugin_operator.db.transaction import Transaction
from plugin_runtime import errors

ENV_VAR = "PLUGIN_OPERATOR_FERNET_KEYS"
OPERATOR = "operator"
_MISSING = {"reason": "not found"}
_UNREADABLE = {"reason": "undecryptable with the configured keys"}


class KeystoreMisconfigured(errors.PluginError):
    """The configured Fernet keys are missing or malformed (which key is said by position, never by value)."""

    slug, title = "keystore-misconfigured", "Keystore Misconfigured"


class UndecryptableKey(errors.PluginError):
    """A stored value was encrypted under a key that is no longer configured (or was tampered with)."""

    slug, title = "undecryptable-api-key", "API Key Cannot Be Decrypted"


def generate_key() -> str:
    """A fresh Fernet key, for development and for the first step of a rotation."""
    return Fernet.generate_key().decode("ascii")


def key_id(key: str | bytes) -> str:
    """A fingerprint naming a key in rows and logs without revealing it."""
    raw = key.encode("ascii") if isinstance(key, str) else key
    return hashlib.sha256(raw).hexdigest()[:16]


def keys_from_env(environ: Mapping[str, str] = os.environ) -> list[str]:
    return [part.strip() for part in environ.get(ENV_VAR, "").split(",") if part.strip()]


@dataclasses.dataclass(frozen=True)
class Revealed:
    """A decrypted key, with a version for config hashes that changes on every store and rotation.

    The version is a digest of the ciphertext (new IV and timestamp each time), so it says nothing
    about the value and a runtime rolls whenever the stored key is replaced or re-encrypted.
    """

    value: str = dataclasses.field(repr=False)
    version: str


@dataclasses.dataclass(frozen=True)
class StoredKey:
    """What may be shown about a stored key: its name and when it was stored, replaced and last used."""

    name: str
    created_at: datetime.datetime
    rotated_at: datetime.datetime | None
    last_used_at: datetime.datetime | None


class _Keys:
    """The configured keys as a MultiFernet, plus their fingerprints."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise KeystoreMisconfigured(f"no Fernet keys configured: set {ENV_VAR} (see keystore.generate_key())")
        fernets = []
        for position, key in enumerate(keys):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                raise KeystoreMisconfigured(
                    f"Fernet key #{position + 1} of {len(keys)} is malformed: "
                    "it must be 32 url-safe base64-encoded bytes"
                ) from None
        self.fernets = tuple(fernets)
        self.fernet = MultiFernet(fernets)
        self.ids = tuple(key_id(key) for key in keys)

    @property
    def primary_id(self) -> str:
        return self.ids[0]


class Keystore:
    def __init__(self, database: Database, keys: Sequence[str | bytes]) -> None:
        self._db = database
        self._keys = _Keys(keys)

    @classmethod
    def from_env(cls, database: Database, environ: Mapping[str, str] = os.environ) -> Keystore:
        return cls(database, keys_from_env(environ))

    def __repr__(self) -> str:
        return f"Keystore(key_ids={list(self._keys.ids)!r})"

    @property
    def key_ids(self) -> tuple[str, ...]:
        return self._keys.ids

    def store(self, plugin_id: str, name: str, value: str, *, actor: str = OPERATOR) -> None:
        """Encrypt and store (or replace) the plugin's key `name`; the plugin must exist."""
        ciphertext = self._keys.fernet.encrypt(value.encode("utf-8")).decode("ascii")

        def work(tx: Transaction) -> None:
            api_keys.put(tx, plugin_id, name, ciphertext=ciphertext, key_id=self._keys.primary_id)
            audit.record(
                tx,
                actor=actor,
                action="api_key.store",
                target=_target(plugin_id, name),
                outcome=rec.Outcome.SUCCESS,
                detail={"key_id": self._keys.primary_id},
            )

        self._db.run(work)

    def reveal(self, plugin_id: str, name: str, actor: str) -> str:
        """Decrypt the key for use. Every call is audited (who, which key, when, outcome), failures too."""
        return self.reveal_versioned(plugin_id, name, actor).value

    def reveal_versioned(self, plugin_id: str, name: str, actor: str) -> Revealed:
        """`reveal`, plus the version of the stored ciphertext (what the operator's config hash keys on)."""
        target = _target(plugin_id, name)

        def work(tx: Transaction) -> tuple[str | None, rec.ApiKeyRecord | None]:
            stored = api_keys.get(tx, plugin_id, name)
            if stored is None:
                audit.record(tx, actor=actor, action="api_key.use", target=target, outcome="failed", detail=_MISSING)
                return None, None
            try:
                value = self._keys.fernet.decrypt(stored.ciphertext.encode("ascii")).decode("utf-8")
            except InvalidToken:
                audit.record(tx, actor=actor, action="api_key.use", target=target, outcome="failed", detail=_UNREADABLE)
                return None, stored
            api_keys.touch(tx, plugin_id, name)
            audit.record(tx, actor=actor, action="api_key.use", target=target, outcome="success")
            return value, stored

        value, stored = self._db.run(work)
        if stored is None:
            raise errors.NotFound(f"plugin {plugin_id!r} has no API key named {name!r}", plugin_id=plugin_id, name=name)
        if value is None:
            raise UndecryptableKey(
                f"API key {name!r} of plugin {plugin_id!r} was encrypted under key {stored.key_id}, "
                f"which is not among the configured keys {list(self._keys.ids)}",
                plugin_id=plugin_id,
                name=name,
            )
        return Revealed(value=value, version=hashlib.sha256(stored.ciphertext.encode("ascii")).hexdigest()[:16])

    def names(self, plugin_id: str) -> list[str]:
        """The names of the plugin's stored keys (never their values)."""
        return self._db.run(lambda tx: api_keys.names(tx, plugin_id))

    def stored_keys(self, plugin_id: str) -> list[StoredKey]:
        """The plugin's stored keys by name, with their timestamps (never values or ciphertexts)."""

        def work(tx: Transaction) -> list[StoredKey]:
            found = (api_keys.get(tx, plugin_id, name) for name in api_keys.names(tx, plugin_id))
            return [StoredKey(r.name, r.created_at, r.rotated_at, r.last_used_at) for r in found if r is not None]

        return self._db.run(work)

    def delete(self, plugin_id: str, name: str, *, actor: str = OPERATOR) -> bool:
        """Forget a key (e.g. its secretRef was removed); returns whether it existed."""

        def work(tx: Transaction) -> bool:
            existed = api_keys.delete(tx, plugin_id, name)
            if existed:
                target = _target(plugin_id, name)
                audit.record(tx, actor=actor, action="api_key.delete", target=target, outcome="success")
            return existed

        return self._db.run(work)

    def rotate(self, new_keys: Sequence[str | bytes], *, actor: str = OPERATOR) -> int:
        """Re-encrypt every stored key under `new_keys[0]`, then use `new_keys` from now on.

        The currently configured keys still decrypt during the rotation, so `new_keys` may leave the
        old key out. All rows change in one transaction: a value nothing can decrypt aborts the
        whole rotation. Returns how many values were re-encrypted.
        """
        target = _Keys(new_keys)
        during = MultiFernet([*target.fernets, *self._keys.fernets])

        def work(tx: Transaction) -> int:
            stored = api_keys.lock_all(tx)
            for row in stored:
                try:
                    token = during.rotate(row.ciphertext.encode("ascii")).decode("ascii")
                except InvalidToken:
                    raise UndecryptableKey(
                        f"rotation aborted: API key {row.name!r} of plugin {row.plugin_id!r} was encrypted under "
                        f"key {row.key_id}, which neither the current nor the new keys include",
                        plugin_id=row.plugin_id,
                        name=row.name,
                    ) from None
                api_keys.put(tx, row.plugin_id, row.name, ciphertext=token, key_id=target.primary_id)
            audit.record(
                tx,
                actor=actor,
                action="api_key.rotate",
                target="*",
                outcome=rec.Outcome.SUCCESS,
                detail={"count": len(stored), "key_id": target.primary_id, "previous_key_id": self._keys.primary_id},
            )
            return len(stored)

        count = self._db.run(work)
        self._keys = target
        return count


def _target(plugin_id: str, name: str) -> str:
    return f"{plugin_id}/{name}"
