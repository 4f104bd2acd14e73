"""Per-query adapter options, validated for every declared query at `init()` and looked up per request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from adapters._common import settings
from plugin_runtime import errors, interface

_Options = TypeVar("_Options", bound=settings.QueryOptions)
_Value = TypeVar("_Value")


def validate_all(config: interface.PluginConfig, model: type[_Options]) -> dict[str, _Options]:
    """Every query's `options` as `model`; the first bad one fails `init()` naming its query."""
    return {
        query.id: settings.validate(model, query.options, what=f"options of query {query.id}")
        for query in config.queries
    }


def lookup(by_query: Mapping[str, _Value], query_id: str, *, adapter: str) -> _Value:
    try:
        return by_query[query_id]
    except KeyError:
        raise errors.NotFound(f"the {adapter} plugin serves no query {query_id!r}", query_id=query_id) from None
