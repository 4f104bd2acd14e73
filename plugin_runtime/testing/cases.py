"""The fixtures a plugin developer hands to the conformance kit, and the findings it reports."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from plugin_runtime import interface

__all__ = ["Finding", "Fixtures", "QueryCase", "TranslationCase"]


@dataclasses.dataclass(frozen=True)
class QueryCase:
    """One query to run: raw OData options as sent over HTTP, and the expected outcome.

    `status` 200 expects rows (exactly `rows` of them when given); any other status expects the
    plugin (or the runtime's OData parser, for 400) to raise the `PluginError` with that status.
    """

    query_id: str
    options: Mapping[str, str] = dataclasses.field(default_factory=dict)
    status: int = 200
    rows: int | None = None
    ctx: interface.SecurityCtx = dataclasses.field(default_factory=lambda: interface.SecurityCtx("conformance"))


@dataclasses.dataclass(frozen=True)
class TranslationCase:
    """One `translate()` call: the expected `language`, and a text expected in the translated query."""

    query_id: str
    options: Mapping[str, str] = dataclasses.field(default_factory=dict)
    language: str | None = None
    contains: str | None = None


@dataclasses.dataclass(frozen=True)
class Fixtures:
    """What the developer provides: the plugin's settings and secrets, and the cases to run."""

    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    secrets: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    queries: Sequence[QueryCase] = ()
    translations: Sequence[TranslationCase] = ()
    expect_health: interface.HealthState = interface.HealthState.HEALTHY
    #: Run the hostile-input checks ($filter/$orderby on a property no plugin has) on every query.
    hostile_input: bool = True
    timeout_seconds: float = 10.0


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem: which check found it, about what (a query and its options, a method), and what is wrong."""

    check: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.subject}: {self.message}"
