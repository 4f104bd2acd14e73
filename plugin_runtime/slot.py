"""What serves one plugin id in a runtime (`Slot`), and a query routed to it (`QueryTarget`)."""

from __future__ import annotations

import dataclasses
import enum

from plugin_runtime import config, discovery, errors, interface
from plugin_runtime.instance import Instance

__all__ = ["PluginState", "QueryTarget", "Slot"]


class PluginState(enum.StrEnum):
    """The spec's lifecycle states a hosted plugin can be observed in (plus Failed: never loaded)."""

    ACTIVE = "Active"
    INACTIVE = "Inactive"
    FAILED = "Failed"


@dataclasses.dataclass
class Slot:
    """A plugin id and what serves it; `load_error` is the last (re)load that failed, if any."""

    spec: config.RuntimePlugin
    declared: tuple[interface.QueryDefinition, ...] = ()  # answered with 503 while nothing serves them
    instance: Instance | None = None
    enabled: bool = True
    load_error: discovery.LoadError | None = None
    failed_fingerprint: str | None = None

    @property
    def plugin_id(self) -> str:
        return self.spec.id

    @property
    def state(self) -> PluginState:
        if self.instance is None:
            return PluginState.FAILED
        return PluginState.ACTIVE if self.enabled else PluginState.INACTIVE

    def serving(self) -> Instance:
        if self.instance is None:
            reason = self.load_error.message if self.load_error else "it is not loaded"
            raise errors.PluginUnavailable(f"plugin '{self.plugin_id}' failed to load: {reason}", retry_after=30.0)
        if not self.enabled:
            raise errors.PluginUnavailable(f"plugin '{self.plugin_id}' is disabled", retry_after=60.0)
        return self.instance


@dataclasses.dataclass(frozen=True)
class QueryTarget:
    slot: Slot
    query: interface.QueryDefinition

    @property
    def plugin_id(self) -> str:
        return self.slot.plugin_id

    @property
    def answers_whole_results(self) -> bool:
        """Whether the serving plugin computes the whole result per call, so one call should serve
        every page (`reading`) and its default page can be larger (`paging.page_size`)."""
        instance = self.slot.instance
        return instance is not None and getattr(instance.plugin, "answers_whole_results", False) is True
