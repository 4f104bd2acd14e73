"""Names and labels of the Kubernetes objects of one plugin runtime: DNS-1035, at most 63 characters.

Pure and deterministic, so the renderer, the Kubernetes driver (finding and deleting an instance's
objects) and the tests agree on every name without storing any. Per-instance names end with a short
hash of (Plugin name, version, identity): two instances of one version that differ in what they run
(replicas, image, config…) run side by side during a rollout, and `prom-1` at `0` never collides
with `prom` at `1.0`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

from plugin_operator import models

__all__ = [
    "INSTANCE_LABEL",
    "SERVICE_PORT",
    "Names",
    "instance_label",
    "label_value",
    "names",
    "plugin_selector",
    "service_url",
]

#: Port of the plugin's Services (the stable one and each instance's own).
SERVICE_PORT = 80
#: Label that tells the pods of two instances of one version apart (the identity's first characters).
INSTANCE_LABEL = f"{models.GROUP}/instance"
RUNTIME_NAME = "plugin-runtime"

_MAX_NAME = 63
_HASH_LENGTH = 8
_INSTANCE_CHARS = 10
_DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


@dataclasses.dataclass(frozen=True)
class Names:
    """Per-instance: deployment (also its own Service), configmap, stored_keys. Shared: the rest."""

    deployment: str
    configmap: str
    stored_keys: str
    service: str
    network_policy: str
    admin_secret: str


def names(cr_name: str, version: str, identity: str = "") -> Names:
    """Deterministic DNS-1035 names of at most 63 characters, distinct for distinct inputs.

    A Plugin name that is not a DNS-1035 label already (dots, a leading digit, over 63 characters)
    gets a hashed form for the shared objects too.
    """
    readable = f"{_letter_first_slug(cr_name)}-{_slug(version)}"
    key = (cr_name, version, identity) if identity else (cr_name, version)
    shared = _service_name(cr_name)
    return Names(
        deployment=_with_digest(readable, *key, limit=_MAX_NAME),
        configmap=_with_digest(readable, *key, limit=_MAX_NAME - len("-config")) + "-config",
        stored_keys=_with_digest(readable, *key, limit=_MAX_NAME - len("-keys")) + "-keys",
        service=shared,
        network_policy=shared,
        admin_secret=f"{shared[: _MAX_NAME - len('-runtime-admin')]}-runtime-admin",
    )


def instance_label(identity: str) -> str:
    return identity[:_INSTANCE_CHARS]


def service_url(cr_name: str, namespace: str) -> str:
    """In-cluster URL of the plugin's stable Service, whichever instance it routes to."""
    return f"http://{_service_name(cr_name)}.{namespace}.svc:{SERVICE_PORT}"


def label_value(text: str) -> str:
    """`text` when it is a valid label value, else a valid one that keeps a hash of the original."""
    if len(text) <= _MAX_NAME and _LABEL_VALUE.fullmatch(text):
        return text
    head = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[: _MAX_NAME - _HASH_LENGTH - 1].strip("-_.")
    return f"{head}-{_digest(text)}" if head else _digest(text)


def plugin_selector(cr_name: str) -> dict[str, str]:
    """Labels of every runtime object of one Plugin, whatever its version (for listing and cleanup)."""
    return {"app.kubernetes.io/name": RUNTIME_NAME, "app.kubernetes.io/instance": label_value(cr_name)}


def _service_name(cr_name: str) -> str:
    if len(cr_name) <= _MAX_NAME and _DNS_1035_LABEL.fullmatch(cr_name):
        return cr_name
    return _with_digest(_letter_first_slug(cr_name), cr_name, limit=_MAX_NAME)


def _letter_first_slug(text: str) -> str:
    slug = _slug(text)
    return slug if slug[:1].isalpha() else f"p-{slug}".rstrip("-")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _with_digest(prefix: str, *key: str, limit: int) -> str:
    """`prefix` cut to fit `limit` with `-<hash of key>` appended."""
    return f"{prefix[: limit - _HASH_LENGTH - 1].rstrip('-')}-{_digest(*key)}"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:_HASH_LENGTH]
