"""The REST demo API (`rest-items` example): an inventory of generated items, JSON:API-like.

`GET /api/items?limit&offset&category` answers `{"data": [{id, attributes: {name, category, price}}],
"meta": {"total": N}}`, where `total` counts every item of the category (the page is a slice of
them); `GET /api/health` answers 200. The items are a fixed function of their number, so a test can
compute what any page must hold.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

CATEGORIES = ("tools", "garden", "kitchen", "office")
_NOUNS = ("hammer", "rake", "kettle", "stapler", "wrench", "hose", "pan", "lamp", "drill", "shears")
COUNT = 120


def item(n: int) -> dict[str, Any]:
    """Item number `n` (1-based) as the API returns it."""
    return {
        "id": f"item-{n:03d}",
        "type": "item",
        "attributes": {
            "name": f"{_NOUNS[n % len(_NOUNS)]} {n:03d}",
            "category": CATEGORIES[n % len(CATEGORIES)],
            "price": round(2.5 + (n * 7919) % 20000 / 100, 2),
        },
    }


ITEMS = tuple(item(n) for n in range(1, COUNT + 1))


def _bad_request(detail: str) -> JSONResponse:
    return JSONResponse({"errors": [{"status": "400", "detail": detail}]}, status_code=400)


def _non_negative(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    if not raw.isdigit():
        raise ValueError(f"{name} must be a non-negative integer, not {raw!r}")
    return int(raw)


async def list_items(request: Request) -> JSONResponse:
    try:
        limit = _non_negative(request, "limit")
        offset = _non_negative(request, "offset") or 0
    except ValueError as exc:
        return _bad_request(str(exc))
    category = request.query_params.get("category") or None
    rows = [row for row in ITEMS if category is None or row["attributes"]["category"] == category]
    page = rows[offset : None if limit is None else offset + limit]
    return JSONResponse({"data": page, "meta": {"total": len(rows)}})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "items": COUNT})


def app() -> Starlette:
    return Starlette(routes=[Route("/api/items", list_items), Route("/api/health", health)])
