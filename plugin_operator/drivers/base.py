"""The interface both runtime drivers implement, and the values that cross it.

An *instance* is one runtime for one (version, config hash) of a plugin. Updates run a new instance
beside the serving one and switch only after it proves healthy, so the driver never replaces an
instance in place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol

from plugin_runtime.config import RuntimeConfig


@dataclasses.dataclass(frozen=True)
class Instance:
    """What to run. `secrets` maps environment variable names to values (never logged)."""

    key: str
    namespace: str
    cr_name: str
    uid: str
    plugin_id: str
    version: str
    config_hash: str
    runtime_config: RuntimeConfig
    secrets: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    replicas: int = 1

    @property
    def instance_id(self) -> str:
        return instance_id(self.version, self.config_hash)


def instance_id(version: str, config_hash: str) -> str:
    return f"{version}-{config_hash[:10]}"


@dataclasses.dataclass(frozen=True)
class Handle:
    """A running instance: where to reach it and how to administer it."""

    key: str
    instance_id: str
    endpoint: str
    admin_token: str = dataclasses.field(repr=False)


class RuntimeStartFailed(RuntimeError):
    """The runtime did not come up; the message carries what it printed or why."""


class Driver(Protocol):
    async def start(self, instance: Instance) -> Handle:
        """Start the instance, or adopt it when it already runs (after an operator restart)."""

    async def find(self, key: str, instance_id: str) -> Handle | None:
        """The running instance, if any (None when stopped, crashed or never started)."""

    async def promote(self, instance: Instance, handle: Handle) -> None:
        """Route the plugin's stable address to this instance."""

    async def stop(self, key: str, instance_id: str) -> None:
        """Stop one instance now (callers drain first)."""

    async def stop_all(self, key: str) -> None:
        """Stop every instance of the plugin (removal)."""

    async def suspend(self, key: str, instance_id: str) -> None:
        """A disabled plugin after its drain period: no runtime running, objects kept (restarted by `start`)."""

