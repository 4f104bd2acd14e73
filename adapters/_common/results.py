"""One page of backend rows as every adapter answers it: the rows, the total, whether more follow.

The total is the backend's (or the adapter's own count) and goes into the answer only when the
caller asked for `$count=true`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from plugin_runtime import interface, odata


@dataclasses.dataclass(frozen=True)
class Page:
    rows: Sequence[dict[str, Any]]
    total: int | None
    has_more: bool

    def result(self, definition: interface.QueryDefinition, params: odata.ODataParams) -> interface.QueryResult:
        return interface.QueryResult(
            rows=tuple(self.rows),
            entity_set=definition.entity_set,
            count=self.total if params.count else None,
            has_more=self.has_more,
        )
