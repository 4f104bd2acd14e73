"""The Plugin's custom processing fields: `spec.cache`, `queries[].cache` and the declarative
pre/post-processing steps (`spec.processing`, `queries[].processing`).

The runtime does the work (`plugin_runtime.cache`, `plugin_runtime.processing`); these models are
what admins write. Steps are checked here with the runtime's own compiler, so a Plugin whose
expression or unit cannot work is rejected when it is applied, not when its runtime loads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import pydantic
from pydantic import Field

from plugin_operator.model_base import DURATION, Model
from plugin_runtime import config, processing

__all__ = [
    "Cache",
    "ProcessingStep",
    "QueryCache",
    "check",
    "parse_bytes",
    "runtime_cache",
    "runtime_query_cache",
    "runtime_steps",
]

_BYTES = r"^[0-9]+(Ki|Mi|Gi|K|M|G)?$"
_BYTE_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def parse_bytes(quantity: str) -> int:
    """'64Mi' → 67108864 (the Kubernetes quantity suffixes a cache size needs)."""
    match = re.fullmatch(r"([0-9]+)(Ki|Mi|Gi|K|M|G)?", quantity)
    if match is None:
        raise ValueError(f"invalid size {quantity!r}: use e.g. 64Mi, 512Ki or a number of bytes")
    return int(match.group(1)) * _BYTE_UNITS[match.group(2) or ""]


class Cache(Model):
    """Answers kept per query, OData options and the caller's tenant and roles (and subject, scope caller)."""

    ttl: str = Field("30s", pattern=DURATION, description="How long an answer is served from the cache.")
    max_entries: int = Field(1000, ge=1, le=1_000_000, description="Answers kept at most (least recently used go).")
    max_bytes: str = Field("32Mi", pattern=_BYTES, description="Size of the kept answers at most, e.g. 64Mi.")
    scope: Literal["tenant", "caller"] = Field(
        "tenant",
        description="tenant: callers with the same tenant and roles share answers. caller: each subject has its own "
        "(needed for plugins declaring caller-specific results).",
    )


class QueryCache(Model):
    enabled: bool = Field(True, description="false: answers of this query are never cached.")
    ttl: str | None = Field(None, pattern=DURATION, description="This query's TTL instead of spec.cache.ttl.")


class ProcessingStep(Model):
    """Exactly one of the members: see the README's "Custom processing" for each step's meaning."""

    rename: dict[str, str] | None = Field(None, description="Caller's property name → the backend's.")
    drop: list[str] | None = Field(None, description="Properties never shown (and never filtered or sorted on).")
    compute: dict[str, str] | None = Field(
        None, description="New property → OData arithmetic over the row, e.g. 'round(cpu mul 100)'."
    )
    convert: dict[str, str] | None = Field(
        None,
        description="Unit conversion in place: {property, from, to} in B/KB/MB/GB/KiB/MiB/GiB, ns..d, ratio/percent.",
    )
    defaults: dict[str, str] | None = Field(None, description="Query options used when the caller gives none.")
    where: str | None = Field(
        None, max_length=4096, description="OData filter AND-ed with the caller's; {tenant} is the caller's tenant."
    )

    @pydantic.model_validator(mode="after")
    def _one_kind(self) -> ProcessingStep:
        processing.compile_steps(runtime_steps([self]))  # raises StepError (a ValueError) with the reason
        return self


def runtime_steps(steps: Sequence[ProcessingStep]) -> list[config.ProcessingStep]:
    return [config.ProcessingStep(**step.model_dump(exclude_none=True)) for step in steps]


def check(plugin_steps: Sequence[ProcessingStep], query_steps: Sequence[ProcessingStep], *, what: str) -> None:
    """The plugin's and a query's steps together (each step was checked alone already)."""
    try:
        processing.compile_steps(runtime_steps([*plugin_steps, *query_steps]))
    except processing.StepError as exc:
        raise ValueError(f"{what}: {exc}") from None


def runtime_cache(cache: Cache | None) -> config.CacheConfig | None:
    if cache is None:
        return None
    return config.CacheConfig(
        ttl_seconds=config.parse_duration(cache.ttl),
        max_entries=cache.max_entries,
        max_bytes=parse_bytes(cache.max_bytes),
        scope=cache.scope,
    )


def runtime_query_cache(cache: QueryCache | None) -> config.QueryCacheConfig | None:
    if cache is None:
        return None
    ttl = config.parse_duration(cache.ttl) if cache.ttl is not None else None
    return config.QueryCacheConfig(enabled=cache.enabled, ttl_seconds=ttl)
