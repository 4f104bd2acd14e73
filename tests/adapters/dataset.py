"""The deterministic samples the Prometheus tests load, and the facts about them the tests check.

One hour (61 points, one a minute) of counters and gauges whose label values need regex escaping
(dots, slashes, pipes, plus signs, parentheses, a quote and a backslash). Values are simple
functions of the minute, so a test can state the expected numbers without asking Prometheus.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

START = 1_700_000_000  # 2023-11-14T22:13:20Z
STEP = 60
POINTS = 61
END = START + STEP * (POINTS - 1)  # 2023-11-14T23:13:20Z


@dataclasses.dataclass(frozen=True)
class Series:
    name: str
    kind: str  # counter | gauge
    labels: tuple[tuple[str, str], ...]
    value: Callable[[int], float]  # minute index → value

    def at(self, index: int) -> float:
        return self.value(index)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def _series() -> list[Series]:
    out = [
        Series(
            "http_requests_total",
            "counter",
            (("job", "api"), ("path", "/v1/a.b"), ("code", "200")),
            lambda i: 1000 + 10 * i,
        ),
        Series(
            "http_requests_total",
            "counter",
            (("job", "api"), ("path", "/v1/a.b"), ("code", "500")),
            lambda i: 5 + i // 10,
        ),
        Series(
            "http_requests_total",
            "counter",
            (("job", "api"), ("path", "/v1/users"), ("code", "200")),
            lambda i: 200 + 7 * i,
        ),
        # Would match contains(path, '/v1/a.b') if the dot were not escaped.
        Series(
            "http_requests_total", "counter", (("job", "api"), ("path", "/v1/aXb"), ("code", "200")), lambda i: 7 * i
        ),
        Series(
            "http_requests_total",
            "counter",
            (("job", "web"), ("path", "/index.html"), ("code", "200")),
            lambda i: 50 + 3 * i,
        ),
        Series(
            "http_requests_total",
            "counter",
            (("job", "web"), ("path", "/static/app.js"), ("code", "404")),
            lambda i: 2 * i,
        ),
    ]
    # Same labels as two http_requests_total series: rate() over both metrics collides once names drop.
    for path, per_minute in (("/v1/a.b", 2048), ("/v1/users", 512)):
        out.append(
            Series(
                "http_response_bytes_total",
                "counter",
                (("job", "api"), ("path", path), ("code", "200")),
                lambda i, per_minute=per_minute: per_minute * i,
            )
        )
    instances = ("10.0.0.1:9100", "10.0.0.2:9100", "node-3.example.org:9100")
    for k, instance in enumerate(instances):
        for mode, factor in (("idle", 50), ("user", 5)):
            out.append(
                Series(
                    "node_cpu_seconds_total",
                    "counter",
                    (("instance", instance), ("mode", mode)),
                    lambda i, k=k, factor=factor: factor * (k + 1) * i,
                )
            )
    for k, queue in enumerate(("orders.eu/west", "orders.us/east", "billing(v2)")):
        out.append(Series("queue_depth", "gauge", (("queue", queue),), lambda i, k=k: (i * (k + 3)) % 17 + k))
    for k, sensor in enumerate(("rack+1", "rack|2", 'lab "7"\\x')):
        out.append(
            Series(
                "temperature_celsius", "gauge", (("sensor", sensor), ("site", "hq")), lambda i, k=k: -5.5 + 0.25 * i + k
            )
        )
    return out


SERIES = tuple(_series())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def openmetrics() -> str:
    """The samples as OpenMetrics text with explicit timestamps, ready for promtool's backfill."""
    lines: list[str] = []
    families: dict[str, list[Series]] = {}
    for series in SERIES:
        families.setdefault(series.name, []).append(series)
    for name, members in families.items():
        family = name.removesuffix("_total") if members[0].kind == "counter" else name
        lines.append(f"# TYPE {family} {members[0].kind}")
        for series in members:
            labels = ",".join(f'{key}="{_escape(value)}"' for key, value in series.labels)
            for index in range(POINTS):
                lines.append(f"{name}{{{labels}}} {_number(series.at(index))} {START + STEP * index}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def select(name: str, **labels: str) -> list[Series]:
    return [s for s in SERIES if s.name == name and all(s.label_map.get(k) == v for k, v in labels.items())]
