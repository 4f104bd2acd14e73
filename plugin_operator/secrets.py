"""Where a plugin's API keys come from: Kubernetes Secrets, or the operator's encrypted key store.

Values go to the runtime's environment only; what feeds the config hash are versions (a Secret's
resourceVersion, a stored key's ciphertext digest), so rotating a key rolls the runtime without the
hash ever depending on secret material.

Values are checked where they enter: one trailing line break (what `kubectl create secret
--from-file` keeps from the file) is dropped; any other line break or control character fails the
plugin with `InvalidSpec` naming the reference, never quoting the value — an HTTP client refusing
such a header would otherwise put the value into its error text.
"""

from __future__ import annotations

from plugin_operator import calls, keystore, runtime_config
from plugin_operator.kube import Kube, SecretMissing
from plugin_operator.models import PluginSpec
from plugin_operator.progress import Failed
from plugin_runtime import errors


class SecretResolver:
    def __init__(self, *, kube: Kube, keys: keystore.Keystore | None, actor: str) -> None:
        self.kube, self.keys, self.actor = kube, keys, actor

    async def resolve(self, namespace: str, name: str, spec: PluginSpec) -> tuple[dict[str, str], dict[str, str]]:
        """Secret values for the runtime's environment, and versions (never values) for the config hash."""
        values: dict[str, str] = {}
        versions: dict[str, str] = {}
        for ref in spec.secret_refs:
            if ref.source == "keystore":
                value, version = await self.stored_key(spec.id_for(name), ref.name)
                versions[f"keystore:{ref.name}"] = version
            else:
                assert ref.secret_name is not None and ref.key is not None  # the model requires both for Secrets
                try:
                    secret = await calls.kube(self.kube.read_secret_key, namespace, ref.secret_name, ref.key)
                except SecretMissing as exc:
                    raise Failed("InvalidSpec", f"secretRefs[{ref.name}]: {exc.detail}") from None
                value = secret.value
                versions[f"{ref.secret_name}/{ref.key}"] = secret.resource_version
            # The outgoing token's signing key may be a PEM key: lines are its format, not an accident.
            multiline = spec.outgoing_token is not None and spec.outgoing_token.signing_key == ref.name
            values[runtime_config.secret_env_var(ref.name)] = clean(ref.name, value, multiline=multiline)
        return values, versions

    async def stored_key(self, plugin_id: str, name: str) -> tuple[str, str]:
        """A key from the operator's encrypted store (an audited use): its value and version."""
        try:
            if self.keys is None:
                raise keystore.KeystoreMisconfigured(
                    f"the operator has no key store: set {keystore.ENV_VAR} to comma-separated Fernet keys"
                )
            stored = await calls.db(self.keys.reveal_versioned, plugin_id, name, self.actor)
        except errors.NotFound:
            raise Failed(
                "InvalidSpec",
                f"secretRefs[{name}]: no stored key {name} for plugin {plugin_id}; "
                f"PUT /api/analytics/v1/plugins/{plugin_id}/keys/{name}",
            ) from None
        except (keystore.KeystoreMisconfigured, keystore.UndecryptableKey) as exc:
            raise Failed("InvalidSpec", f"secretRefs[{name}]: {exc.detail}") from None
        return stored.value, stored.version


def clean(name: str, value: str, *, multiline: bool = False) -> str:
    """The value without one trailing line break; `Failed(InvalidSpec)` if another control character
    remains (line breaks inside are allowed for `multiline` values: PEM keys)."""
    cleaned = value[:-2] if value.endswith("\r\n") else value[:-1] if value.endswith("\n") else value
    allowed = {"\n", "\r"} if multiline else set()
    if any((ord(char) < 0x20 or ord(char) == 0x7F) and char not in allowed for char in cleaned):
        raise Failed(
            "InvalidSpec",
            f"secretRefs[{name}]: the value contains a line break or control character; store it without one",
        )
    return cleaned
