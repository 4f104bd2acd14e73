"""The interface both runtime drivers implement, and the values that cross it.

An *instance* (`desired.Instance`) is one runtime for one (version, identity) of a plugin, with every
object rendered for it. Drivers apply what they are handed and never read the Plugin: updates run a
new instance beside the serving one and switch only after it proves healthy, so a driver never
replaces an instance in place.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from plugin_operator.desired import Instance, instance_id

__all__ = ["Driver", "Handle", "Instance", "RuntimeStartFailed", "instance_id"]


@dataclasses.dataclass(frozen=True)
class Handle:
    """A running instance: where to reach it and how to administer it."""

    key: str
    instance_id: str
    endpoint: str
    admin_token: str = dataclasses.field(repr=False)
    #: What isolation the pods lack, when the cluster reports it (the embedded dev cluster's
    #: `devcluster.hyperspot.io/Isolated` pod condition); None when complete or not reported.
    isolation_missing: str | None = None
    #: A member of a shared runtime pool: admin calls that act on the whole runtime are not its to make.
    shared: bool = False


class RuntimeStartFailed(RuntimeError):
    """The runtime did not come up; the message carries what it printed or why."""


class Driver(Protocol):
    async def start(self, instance: Instance) -> Handle:
        """Start the instance, or adopt it when it already runs (after an operator restart)."""

    async def find(self, key: str, instance_id: str) -> Handle | None:
        """The running instance, if any (None when stopped, crashed or never started)."""

    async def promote(self, instance: Instance, handle: Handle) -> None:
        """Route the plugin's stable address to this instance."""

    def stable_endpoint(self, instance: Instance) -> str:
        """The plugin's stable address (what executors call): it survives rollouts and restarts."""

    async def stop(self, key: str, instance_id: str) -> None:
        """Stop one instance now (callers drain first)."""

    async def stop_all(self, key: str) -> None:
        """Stop every instance of the plugin (removal)."""

    async def keys(self) -> set[str]:
        """Plugins (`namespace.name`) this driver runs anything for (to stop what outlived its Plugin)."""

    async def suspend(self, instance: Instance) -> None:
        """A disabled plugin after its drain period: no runtime running, objects kept (restarted by `start`)."""
