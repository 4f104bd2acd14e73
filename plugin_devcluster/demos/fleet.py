"""The GraphQL demo API (`graphql-fleet` example), also the graphql adapter's test server: strawberry.

Twenty-four servers; the schema offers what GraphQL APIs commonly do: a paged, filterable,
sortable connection (`servers(where, orderBy, first, offset) { nodes totalCount }`), a plain list
without arguments (`allServers`), and a list filtered by plain arguments (`serversIn(region, env)`).
The resolvers implement the filter semantics in Python, independently of the adapter.
`make run` serves it on the address the example manifest names; tests on a free port.
"""

from __future__ import annotations

import contextlib
import enum
import operator
from collections.abc import Callable, Iterator
from typing import Any

import strawberry
from strawberry.asgi import GraphQL

from plugin_devcluster.demos.asgi import ThreadServer

REGIONS = ("eu-west", "us-east", "ap-south")
ENVS = ("prod", "staging")


@strawberry.type
class Server:
    id: strawberry.ID
    host: str
    region: str
    env: str
    cpu: float
    memory: int
    up: bool


DATA = [
    Server(
        id=strawberry.ID(f"s{n:02d}"),
        host=f"{('web', 'api', 'db')[n % 3]}-{n:02d}",
        region=REGIONS[n % 3 if n % 5 else 1],
        env=ENVS[n % 2],
        cpu=round((n * 37) % 100 + 0.5, 1),
        memory=1024 + (n * 211) % 4096,
        up=n % 7 != 0,
    )
    for n in range(24)
]


@strawberry.input
class StringFilter:
    eq: str | None = strawberry.UNSET
    ne: str | None = strawberry.UNSET
    in_: list[str] | None = strawberry.field(default=strawberry.UNSET, name="in")
    contains: str | None = strawberry.UNSET
    startswith: str | None = strawberry.UNSET
    endswith: str | None = strawberry.UNSET


@strawberry.input
class FloatFilter:
    eq: float | None = strawberry.UNSET
    ne: float | None = strawberry.UNSET
    gt: float | None = strawberry.UNSET
    ge: float | None = strawberry.UNSET
    lt: float | None = strawberry.UNSET
    le: float | None = strawberry.UNSET


@strawberry.input
class IntFilter:
    eq: int | None = strawberry.UNSET
    gt: int | None = strawberry.UNSET
    ge: int | None = strawberry.UNSET
    lt: int | None = strawberry.UNSET
    le: int | None = strawberry.UNSET
    in_: list[int] | None = strawberry.field(default=strawberry.UNSET, name="in")


@strawberry.input
class BoolFilter:
    eq: bool | None = strawberry.UNSET


@strawberry.input
class ServerWhere:
    host: StringFilter | None = strawberry.UNSET
    region: StringFilter | None = strawberry.UNSET
    env: StringFilter | None = strawberry.UNSET
    cpu: FloatFilter | None = strawberry.UNSET
    memory: IntFilter | None = strawberry.UNSET
    up: BoolFilter | None = strawberry.UNSET
    and_: list[ServerWhere] | None = strawberry.field(default=strawberry.UNSET, name="and")
    or_: list[ServerWhere] | None = strawberry.field(default=strawberry.UNSET, name="or")
    not_: ServerWhere | None = strawberry.field(default=strawberry.UNSET, name="not")


@strawberry.enum
class Direction(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input
class ServerOrder:
    host: Direction | None = strawberry.UNSET
    region: Direction | None = strawberry.UNSET
    cpu: Direction | None = strawberry.UNSET
    memory: Direction | None = strawberry.UNSET
    id: Direction | None = strawberry.UNSET


@strawberry.type
class ServerPage:
    nodes: list[Server]
    total_count: int


_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "in_": lambda a, b: a in b,
    "contains": lambda a, b: b in a,
    "startswith": lambda a, b: a.startswith(b),
    "endswith": lambda a, b: a.endswith(b),
}


def matches(server: Server, where: ServerWhere | None) -> bool:
    if where is None or where is strawberry.UNSET:
        return True
    for name in ("host", "region", "env", "cpu", "memory", "up"):
        condition = getattr(where, name)
        if condition is None or condition is strawberry.UNSET:
            continue
        for op, test in _TESTS.items():
            wanted = getattr(condition, op, strawberry.UNSET)
            if wanted is not strawberry.UNSET and wanted is not None and not test(getattr(server, name), wanted):
                return False
    if where.and_ and not all(matches(server, part) for part in where.and_):
        return False
    if where.or_ and not any(matches(server, part) for part in where.or_):
        return False
    return not (where.not_ and matches(server, where.not_))


@strawberry.type
class Query:
    @strawberry.field
    def servers(
        self,
        where: ServerWhere | None = None,
        order_by: list[ServerOrder] | None = None,
        first: int | None = None,
        offset: int = 0,
    ) -> ServerPage:
        rows = [server for server in DATA if matches(server, where)]
        for order in reversed(order_by or []):
            for name in ("host", "region", "cpu", "memory", "id"):
                direction = getattr(order, name)
                if direction is not strawberry.UNSET and direction is not None:
                    rows.sort(key=operator.attrgetter(name), reverse=direction is Direction.DESC)
        page = rows[offset : None if first is None else offset + first]
        return ServerPage(nodes=page, total_count=len(rows))

    @strawberry.field
    def all_servers(self) -> list[Server]:
        return list(DATA)

    @strawberry.field
    def servers_in(self, region: str, env: str | None = None) -> list[Server]:
        return [s for s in DATA if s.region == region and (env is None or s.env == env)]


SCHEMA = strawberry.Schema(query=Query)


def app() -> GraphQL[None, None]:
    """The ASGI app answering at `/graphql`."""
    return GraphQL(SCHEMA)


@contextlib.contextmanager
def serving(*, port: int = 0) -> Iterator[str]:
    """The GraphQL endpoint URL of a real server for the `with` block."""
    server = ThreadServer(app(), name="graphql", port=port).start()
    try:
        yield f"{server.url}/graphql"
    finally:
        server.stop()
