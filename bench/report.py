"""From the lines the benchmarks print to one table of figures with their targets and verdicts.

Each benchmark's `run()` returns text lines in an agreed form (`translation promql cold: p50 … µs,
p99 … µs`, `adapter fixed cost: runtime p50 …`, …). The summary reads the figures back from those
lines, so a benchmark run alone and the summary of `python -m bench` always show the same numbers.
A figure whose line is missing (its benchmark failed) is reported as not measured, and misses.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from bench import adapter_overhead, cold_load, health_load, operator_scale, paging

#: Targets stated by bench/translation.py (its docstring): cold p99 < 1 ms, warm p99 < 50 µs.
TRANSLATION_P99_TARGET_US = {"cold": 1000.0, "warm": 50.0}

_COMPARE: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "≤": operator.le, "≥": operator.ge}


@dataclasses.dataclass(frozen=True)
class Target:
    """`statistic` (p99, median, or the single value) `relation` `bound`, e.g. p99 < 1000 µs."""

    statistic: Literal["p99", "median", "value"]
    relation: Literal["<", "≤", "≥"]
    bound: float

    def met_by(self, figure: Figure) -> bool:
        value = figure.p99 if self.statistic == "p99" else figure.value
        return value is not None and _COMPARE[self.relation](value, self.bound)

    def describe(self, unit: str) -> str:
        statistic = "" if self.statistic == "value" else f"{self.statistic} "
        return f"{statistic}{self.relation} {self.bound:g}{' ' + unit if unit else ''}"


@dataclasses.dataclass(frozen=True)
class Figure:
    """One measured figure: `value` is the p50/median (or the single value), `p99` when there is one."""

    name: str
    unit: str
    value: float | None
    p99: float | None = None
    target: Target | None = None
    #: Why the measurement cannot be judged against its target (e.g. the load generator itself kept
    #: less to its schedule than the target allows: the machine, not the code, set the figure).
    void: str | None = None

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "MISS"  # not measured: its benchmark failed
        if self.target is None:
            return "—"
        if self.void is not None and not self.target.met_by(self):
            return "VOID"  # a miss that says nothing about the code; a pass despite it still counts
        return "PASS" if self.target.met_by(self) else "MISS"


_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"


def _translation(match: re.Match[str]) -> list[Figure]:
    language, phase, p50, p99 = match.groups()
    target = Target("p99", "<", TRANSLATION_P99_TARGET_US[phase])
    return [Figure(f"translation {language} {phase}", "µs", float(p50), float(p99), target)]


def _fixed_cost(match: re.Match[str]) -> list[Figure]:
    runtime_ms, passthrough_ms, direct_ms = map(float, match.groups())
    target = Target("value", "≤", round(passthrough_ms + adapter_overhead.FIXED_TARGET_MS, 2))
    return [
        Figure("adapter fixed cost: runtime (100 rows)", "ms", runtime_ms, None, target),
        Figure("adapter fixed cost: passthrough", "ms", passthrough_ms),
        Figure("adapter fixed cost: direct", "ms", direct_ms),
    ]


def _per_row(match: re.Match[str]) -> list[Figure]:
    row_us, series_us = map(float, match.groups())
    return [
        Figure(
            "adapter cpu per row (10k rows)", "µs", row_us, None, Target("value", "≤", adapter_overhead.ROW_TARGET_US)
        ),
        Figure(
            "adapter cpu per series (1k × 10)",
            "µs",
            series_us,
            None,
            Target("value", "≤", adapter_overhead.SERIES_TARGET_US),
        ),
    ]


def _ratio(match: re.Match[str]) -> list[Figure]:
    target = Target("median", "≤", adapter_overhead.RATIO_TARGET)
    return [Figure("adapter ratio 10k rows: runtime / direct", "×", float(match.group(1)), None, target)]


def _floor(match: re.Match[str]) -> list[Figure]:
    row_us, series_us, identity_ratio = float(match.group(1)), float(match.group(2)), float(match.group(6))
    return [
        Figure("floor: passthrough cpu per row", "µs", row_us),
        Figure("floor: passthrough cpu per series", "µs", series_us),
        Figure("floor: 10k rows runtime / direct without gzip", "×", identity_ratio),
    ]


def _health(match: re.Match[str]) -> list[Figure]:
    # Closed-loop figures, kept for comparison: the target is the open-loop one (`_health_load`).
    clients, p50, p99 = int(match.group(1)), float(match.group(2)), float(match.group(3))
    return [Figure(f"runtime /health @{clients} client{'s' if clients > 1 else ''}", "ms", p50, p99)]


def _health_load(match: re.Match[str]) -> list[Figure]:
    path, rate, p99, p50 = match.group(1), int(match.group(2)), float(match.group(3)), float(match.group(4))
    target = Target("p99", "<", health_load.TARGET_MS) if path == "/health" else None
    # The floor took turns with /health every 100 ms: when a route that computes nothing misses
    # the target too, the machine set the figure, and the miss says nothing about /health.
    floor = re.search(rf"; floor (\S+) p99 {_NUMBER} ms", match.string)
    void = None
    if floor is not None and float(floor.group(2)) >= health_load.TARGET_MS:
        void = (
            f"its floor {floor.group(1)}, measured in the same seconds, missed the target too (p99 {floor.group(2)} ms)"
        )
    return [Figure(f"runtime {path} at {rate} req/s offered (open loop)", "ms", p50, p99, target, void)]


def _paging(match: re.Match[str]) -> list[Figure]:
    samples, page_size = match.group(1), match.group(2)
    paged, direct, ratio = float(match.group(3)), float(match.group(4)), float(match.group(5))
    name = f"paging {samples}k samples" + (f" (page size {page_size})" if page_size else "")
    target = Target("value", "≤", paging.RATIO_TARGET) if page_size is None else None
    return [
        Figure(f"{name}: all pages", "s", paged),
        Figure(f"{name}: direct", "s", direct),
        Figure(f"{name}: all pages / direct", "×", ratio, None, target),
    ]


def _cold_load(match: re.Match[str]) -> list[Figure]:
    target = Target("value", "<", cold_load.TARGET_MS)
    return [
        Figure(f"plugin load+init cold ({adapter})", "ms", float(ms), None, target)
        for ms, adapter in re.findall(rf"{_NUMBER} ms \((\w+)\)", match.group(1))
    ]


def _added_load(match: re.Match[str]) -> list[Figure]:
    loads, answers = (re.findall(rf"{_NUMBER} ms \((\w+)\)", part) for part in match.groups())
    return [
        *(Figure(f"plugin load+init, added to a running runtime ({a})", "ms", float(ms)) for ms, a in loads),
        *(Figure(f"plugin added: SIGHUP to its first answer ({a})", "ms", float(ms)) for ms, a in answers),
    ]


def _runtime_start(match: re.Match[str]) -> list[Figure]:
    starts, imports, rss = (re.findall(rf"{_NUMBER} (?:ms|MiB) \((\w+)\)", part) for part in match.groups())
    return [
        *(Figure(f"runtime start ({label})", "ms", float(ms)) for ms, label in starts),
        *(Figure(f"runtime start: adapter imports ({label})", "ms", float(ms)) for ms, label in imports),
        *(Figure(f"runtime RSS ({label})", "MiB", float(mib)) for mib, label in rss),
    ]


def _cache(match: re.Match[str]) -> list[Figure]:
    hit_p50, miss_p50, hit_p99, miss_p99 = map(float, match.groups())
    return [Figure("cache: hit", "ms", hit_p50, hit_p99), Figure("cache: miss", "ms", miss_p50, miss_p99)]


def _scale(match: re.Match[str]) -> list[Figure]:
    plugins, seconds, memory = int(match.group(1)), float(match.group(2)), float(match.group(3))
    active = int(match.group(4))
    in_time = Target("value", "<", operator_scale.target_seconds(plugins))
    return [
        Figure("operator: Plugins Active", "", active, None, Target("value", "≥", plugins)),
        Figure(f"operator: {plugins} Plugins to Active", "s", seconds, None, in_time),
        Figure(
            f"operator: {plugins} Plugins runtime memory",
            "MiB",
            memory,
            None,
            Target("value", "<", operator_scale.MEMORY_TARGET_MIB),
        ),
    ]


def _cpu(match: re.Match[str]) -> list[Figure]:
    return [Figure("operator: CPU per reconcile", "ms", float(match.group(1)))]


def _isolation(match: re.Match[str]) -> list[Figure]:
    alone, beside, ratio = float(match.group(1)), float(match.group(2)), float(match.group(3))
    return [
        Figure("load: good plugins p99 alone", "ms", alone),
        Figure("load: good plugins p99 beside a failing one", "ms", beside),
        Figure("load: cross-plugin impact (p99 ratio)", "×", ratio),
    ]


def _health_rows(match: re.Match[str]) -> list[Figure]:
    expected, written = int(match.group(1)), int(match.group(2))
    return [Figure("load: health rows written / expected", "", written, None, Target("value", "≥", expected))]


def _sandbox_start(match: re.Match[str]) -> list[Figure]:
    return [Figure("sandbox: pod start", "ms", float(match.group(1)), float(match.group(2)))]


def _sandbox_overhead(match: re.Match[str]) -> list[Figure]:
    return [Figure("sandbox: per-pod RSS (bwrap + init)", "MiB", float(match.group(1)))]


#: (what the line reports, its form, the figures it holds), in the order of the summary table.
LINES: Sequence[tuple[str, re.Pattern[str], Callable[[re.Match[str]], list[Figure]]]] = (
    ("translation", re.compile(rf"translation (\S+) (cold|warm): p50 {_NUMBER} µs, p99 {_NUMBER} µs"), _translation),
    (
        "adapter fixed cost",
        re.compile(
            rf"adapter fixed cost: runtime p50 {_NUMBER} ms, passthrough p50 {_NUMBER} ms, direct p50 {_NUMBER} ms "
            r"\(100 rows\)"
        ),
        _fixed_cost,
    ),
    (
        "adapter per-row cpu",
        re.compile(
            rf"adapter per-row cpu: {_NUMBER} µs/row \(10k rows\), {_NUMBER} µs/series \(1k series × 10 points\)"
        ),
        _per_row,
    ),
    ("adapter ratio 10k rows", re.compile(rf"adapter ratio 10k rows: median {_NUMBER} "), _ratio),
    (
        "adapter floor",
        re.compile(
            rf"adapter floor: passthrough cpu {_NUMBER} µs/row \(10k rows\), {_NUMBER} µs/series; 10k rows p50 runtime "
            rf"{_NUMBER} ms, direct {_NUMBER} ms \(gzip\), direct identity {_NUMBER} ms \(ratio {_NUMBER}\)"
        ),
        _floor,
    ),
    ("runtime /health", re.compile(rf"runtime /health @(\d+) clients?: p50 {_NUMBER} ms, p99 {_NUMBER} ms"), _health),
    (
        "cache",
        re.compile(rf"cache: hit p50 {_NUMBER} ms vs miss p50 {_NUMBER} ms \(p99 {_NUMBER} ms vs {_NUMBER} ms"),
        _cache,
    ),
    (
        "operator scale",
        re.compile(
            rf"operator scale: (\d+) Plugins Active in {_NUMBER} s, "
            rf"runtime memory {_NUMBER} MiB total \((\d+)/\d+ Active"
        ),
        _scale,
    ),
    ("operator CPU", re.compile(rf"operator CPU: {_NUMBER} ms per reconcile"), _cpu),
    (
        "load isolation",
        re.compile(rf"load good plugins p99: {_NUMBER} ms alone .*?, {_NUMBER} ms beside .*?; ratio {_NUMBER}"),
        _isolation,
    ),
    ("load health rows", re.compile(r"load health rows: expected (\d+), written (\d+)"), _health_rows),
    ("sandbox start", re.compile(rf"sandbox start: p50 {_NUMBER} ms, p99 {_NUMBER} ms"), _sandbox_start),
    ("sandbox overhead", re.compile(rf"sandbox per-pod overhead: {_NUMBER} MiB"), _sandbox_overhead),
    (
        "paging",
        re.compile(
            rf"paging (\d+)k samples(?: \(page size (\d+)\))?: all pages {_NUMBER} s vs direct {_NUMBER} s "
            rf"\(ratio {_NUMBER}"
        ),
        _paging,
    ),
    ("plugin load+init cold", re.compile(r"plugin load\+init cold: (.*); target"), _cold_load),
    (
        "plugin load+init added",
        re.compile(r" +a plugin added to a running runtime .*?: (.*?); SIGHUP to its first answer (.*)$"),
        _added_load,
    ),
    (
        "runtime start",
        re.compile(r"runtime start: (.*?); adapter imports at start (.*?); RSS (.*)$"),
        _runtime_start,
    ),
    (
        "health under load",
        re.compile(rf"runtime (/health\S*) at (\d+) req/s offered: p99 {_NUMBER} ms \(p50 {_NUMBER} ms"),
        _health_load,
    ),
)


def figures(lines: Iterable[str]) -> list[Figure]:
    """Every figure the lines report, in table order; a kind of line never seen is "not measured"."""
    lines = list(lines)
    found: list[Figure] = []
    for label, pattern, read in LINES:
        matches = [m for m in map(pattern.match, lines) if m is not None]
        for match in matches:
            found.extend(read(match))
        if not matches:
            found.append(Figure(f"{label}: not measured", "", None))
    return found


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    text = f"{value:.0f}" if value >= 100 or float(value).is_integer() else f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def table(rows: Sequence[Figure]) -> list[str]:
    """The figures as an aligned text table: figure, p50/value, p99, target, verdict; then why each
    VOID figure could not be judged."""
    cells = [("figure", "p50 / value", "p99", "target", "verdict")] + [
        (
            f.name,
            _number(f.value, f.unit),
            _number(f.p99, f.unit),
            f.target.describe(f.unit) if f.target is not None else "—",
            f.verdict,
        )
        for f in rows
    ]
    widths = [max(len(row[column]) for row in cells) for column in range(len(cells[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.extend(f"VOID {f.name}: {f.void}" for f in rows if f.verdict == "VOID")
    return lines
