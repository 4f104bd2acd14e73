"""`python -m bench`: the summary table reads every figure back from the benchmarks' lines."""

from __future__ import annotations

import io
import re
import types

from bench import __main__ as bench_main
from bench import report

EXPECTED = (
    "translation promql cold",
    "translation promql warm",
    "translation es-dsl cold",
    "translation es-dsl warm",
    "adapter fixed cost: runtime (100 rows)",
    "adapter fixed cost: passthrough",
    "adapter fixed cost: direct",
    "adapter cpu per row (10k rows)",
    "adapter cpu per series (1k × 10)",
    "adapter ratio 10k rows: runtime / direct",
    "floor: passthrough cpu per row",
    "floor: 10k rows runtime / direct without gzip",
    "runtime /health @100 clients",
    "runtime /health @1 client",
    "cache: hit",
    "cache: miss",
    "operator: Plugins Active",
    "operator: CPU per reconcile",
    "load: cross-plugin impact (p99 ratio)",
    "load: health rows written / expected",
    "sandbox: pod start",
    "sandbox: per-pod RSS (bwrap + init)",
    "paging 2k samples: all pages / direct",
    "paging 2k samples (page size 1000): all pages / direct",
    "plugin load+init cold (localsql)",
    "plugin load+init cold (prometheus)",
    "plugin load+init, added to a running runtime (localsql)",
    "plugin added: SIGHUP to its first answer (prometheus)",
    "runtime start (bare)",
    "runtime start (localsql)",
    "runtime start: adapter imports (prometheus)",
    "runtime RSS (bare)",
    "runtime /health at 100 req/s offered (open loop)",
    "runtime /health/live at 100 req/s offered (open loop)",
)


def test_every_benchmark_line_yields_its_figures_with_verdicts_that_follow_the_targets(all_lines: list[str]) -> None:
    figures = report.figures(all_lines)
    names = [f.name for f in figures]
    for name in EXPECTED:
        assert name in names, names
    assert any(re.fullmatch(r"operator: \d+ Plugins to Active", n) for n in names)
    assert not any("not measured" in n for n in names)
    for figure in figures:
        assert figure.value is not None
        if figure.target is None:
            assert figure.verdict == "—"
        elif figure.void is not None and not figure.target.met_by(figure):
            assert figure.verdict == "VOID"
        else:
            assert figure.verdict == ("PASS" if figure.target.met_by(figure) else "MISS")


def test_the_verdict_compares_the_targeted_statistic() -> None:
    p99_target = report.Target("p99", "<", 50.0)
    assert report.Figure("x", "µs", 10.0, 49.9, p99_target).verdict == "PASS"
    assert report.Figure("x", "µs", 10.0, 50.0, p99_target).verdict == "MISS"
    ratio = report.Target("median", "≤", 1.15)
    assert report.Figure("r", "×", 1.15, None, ratio).verdict == "PASS"
    assert report.Figure("r", "×", 1.16, None, ratio).verdict == "MISS"
    assert report.Figure("n", "", 199, None, report.Target("value", "≥", 200)).verdict == "MISS"


def test_the_fixed_cost_target_is_the_passthrough_of_the_same_run_plus_one_millisecond() -> None:
    line = "adapter fixed cost: runtime p50 2.40 ms, passthrough p50 1.50 ms, direct p50 1.00 ms (100 rows); …"
    runtime, passthrough, direct = report.figures([line])[1:4]
    assert [f.name for f in (runtime, passthrough, direct)] == [
        "adapter fixed cost: runtime (100 rows)",
        "adapter fixed cost: passthrough",
        "adapter fixed cost: direct",
    ]
    assert (runtime.value, passthrough.value, direct.value) == (2.4, 1.5, 1.0)
    assert runtime.target == report.Target("value", "≤", 2.5) and runtime.verdict == "PASS"
    slower = report.figures([line.replace("runtime p50 2.40", "runtime p50 2.51")])[1]
    assert slower.verdict == "MISS"
    assert passthrough.verdict == direct.verdict == "—"


def test_a_benchmark_without_lines_is_not_measured_and_misses() -> None:
    figures = report.figures(["translation promql cold: p50 100.0 µs, p99 2000.0 µs"])
    assert (figures[0].name, figures[0].verdict) == ("translation promql cold", "MISS")
    missing = [f for f in figures if f.value is None]
    assert {f.name for f in missing} == {f"{label}: not measured" for label, _, _ in report.LINES[1:]}
    assert all(f.verdict == "MISS" for f in missing)


def test_the_table_aligns_its_columns() -> None:
    rows = report.table(report.figures(["translation promql cold: p50 123.4 µs, p99 456.7 µs"]))
    assert rows[0].split() == ["figure", "p50", "/", "value", "p99", "target", "verdict"]
    assert set(rows[1]) <= {"-", " "}
    assert re.fullmatch(r"translation promql cold +123 µs +457 µs +p99 < 1000 µs +PASS", rows[2])
    starts = [row.index("p99") for row in rows[:1]] + [row.index("457 µs") for row in rows[2:3]]
    assert len(set(starts)) == 1


def _benchmark(name: str, doc: str, run: object) -> types.SimpleNamespace:
    return types.SimpleNamespace(__name__=f"bench.{name}", __doc__=doc, run=run)


def test_main_reports_misses_with_exit_code_0_and_says_how_each_figure_was_obtained(overhead_lines: list[str]) -> None:
    missed = [re.sub(r"ratio 10k rows: median [0-9.]+", "ratio 10k rows: median 9.99", line) for line in overhead_lines]
    out = io.StringIO()
    assert bench_main.main([_benchmark("adapter_overhead", "Measured by pairs.", lambda: missed)], out=out) == 0
    text = out.getvalue()
    assert re.search(r"adapter ratio 10k rows: runtime / direct +9\.99 × +— +median ≤ 1\.5 × +MISS", text)
    assert "adapter_overhead (rerun alone: python -m bench.adapter_overhead)\n    Measured by pairs." in text
    assert text.index("== summary") < text.index("== how each figure was obtained")


def test_main_goes_on_after_a_benchmark_fails_and_then_exits_1(overhead_lines: list[str]) -> None:
    def broken() -> list[str]:
        raise RuntimeError("prometheus is not installed")

    benchmarks = [
        _benchmark("broken", "Needs Prometheus.", broken),
        _benchmark("adapter_overhead", "", lambda: overhead_lines),
    ]
    out = io.StringIO()
    assert bench_main.main(benchmarks, out=out) == 1
    text = out.getvalue()
    assert "broken could not run: RuntimeError: prometheus is not installed" in text
    assert re.search(r"adapter ratio 10k rows: runtime / direct +[0-9.]+ ×", text)
    assert re.search(r"translation: not measured +— +— +— +MISS", text)
    assert text.rstrip().endswith("could not run: broken")
