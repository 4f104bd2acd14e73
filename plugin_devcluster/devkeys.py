"""The keys `make run` keeps in its state directory, so a restart finds what the last run left.

The dev API's HS256 secret and the dev query executor's EC key (`DevAuth`): the executor's public
key is part of every runtime's config, so a key generated anew on each start rolled every plugin
on every restart; kept, a restart adopts the runtimes the cluster still runs or restores. The dev
Fernet key, unless `PLUGIN_OPERATOR_FERNET_KEYS` is set: API keys stored encrypted stay readable.
(The control-plane key is the operator's own, `control_plane.KEY_FILE` in the same directory.)

Each is one file, mode 0600, written atomically once (`secretfile`). Their contents are never
logged or printed: the banner names the files, and prints only tokens minted from them.
"""

from __future__ import annotations

from pathlib import Path

from plugin_operator import control_plane, keystore, secretfile
from plugin_operator.security import DevAuth, generate_api_secret

__all__ = ["API_SECRET_FILE", "EXECUTOR_KEY_FILE", "FERNET_KEY_FILE", "dev_auth", "dev_fernet_keys"]

API_SECRET_FILE = "dev-api.secret"
EXECUTOR_KEY_FILE = "dev-executor.pem"
FERNET_KEY_FILE = "fernet.key"


def dev_auth(state: Path) -> DevAuth:
    """Tokens minted now from the dev keys kept in `state` (generated on the first start)."""
    return DevAuth.from_keys(
        secretfile.load_or_create(state / API_SECRET_FILE, generate_api_secret),
        secretfile.load_or_create(state / EXECUTOR_KEY_FILE, control_plane.generate_pem),
    )


def dev_fernet_keys(state: Path) -> tuple[list[str], str]:
    """The configured Fernet keys, else a dev key kept in the state directory, and where they come from.

    Handed to the operator directly, never put in os.environ (nothing secret is kept there).
    """
    configured = keystore.keys_from_env()
    if configured:
        return configured, f"the Fernet keys of {keystore.ENV_VAR}"
    path = state / FERNET_KEY_FILE
    created = not path.exists()
    key = secretfile.load_or_create(path, keystore.generate_key)
    verb = "generated in" if created else "kept in"
    return [key], f"a dev Fernet key {verb} {path} ({keystore.ENV_VAR} is unset)"
