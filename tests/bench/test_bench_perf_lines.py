"""The paging, cold-load and open-loop health lines: their figures and verdicts against the issue's targets."""

from __future__ import annotations

from bench import report


def _by_name(lines: list[str]) -> dict[str, report.Figure]:
    return {f.name: f for f in report.figures(lines) if f.value is not None}


def test_paging_is_judged_on_the_ratio_at_the_default_page_size_only() -> None:
    figures = _by_name(
        [
            "paging 100k samples: all pages 0.30 s vs direct 0.15 s (ratio 2.00, 10 pages of the default page size, "
            "median of 9); target ratio ≤ 2",
            "paging 100k samples (page size 1000): all pages 0.50 s vs direct 0.10 s (ratio 5.00, 100 pages of the "
            "page size 1000, median of 9); target ratio ≤ 2",
        ]
    )
    assert figures["paging 100k samples: all pages / direct"].verdict == "PASS"
    assert figures["paging 100k samples: all pages"].value == 0.30
    assert figures["paging 100k samples: direct"].value == 0.15
    assert figures["paging 100k samples (page size 1000): all pages / direct"].verdict == "—"
    over = _by_name(["paging 100k samples: all pages 0.31 s vs direct 0.15 s (ratio 2.07, 100 pages"])
    assert over["paging 100k samples: all pages / direct"].verdict == "MISS"


def test_cold_load_gives_one_figure_per_adapter_under_100_ms() -> None:
    figures = _by_name(["plugin load+init cold: 99.5 ms (localsql), 100 ms (prometheus); target < 100 ms each"])
    assert figures["plugin load+init cold (localsql)"].verdict == "PASS"
    assert figures["plugin load+init cold (prometheus)"].verdict == "MISS"


def test_the_runtime_start_and_a_plugin_added_later_are_reported_without_targets() -> None:
    figures = _by_name(
        [
            "  a plugin added to a running runtime of the adapter (SIGHUP): 10 ms (localsql), 6 ms (prometheus); "
            "SIGHUP to its first answer 148 ms (localsql), 114 ms (prometheus)",
            "runtime start: 506 ms (bare), 630 ms (localsql), 536 ms (prometheus); adapter imports at start "
            "93 ms (localsql), 28 ms (prometheus); RSS 66 MiB (bare), 81 MiB (localsql), 74 MiB (prometheus)",
        ]
    )
    assert figures["plugin load+init, added to a running runtime (prometheus)"].value == 6.0
    assert figures["plugin added: SIGHUP to its first answer (localsql)"].value == 148.0
    assert figures["runtime start (bare)"].value == 506.0
    assert figures["runtime start (localsql)"].value == 630.0
    assert figures["runtime start: adapter imports (localsql)"].value == 93.0
    assert (figures["runtime RSS (prometheus)"].value, figures["runtime RSS (prometheus)"].unit) == (74.0, "MiB")
    assert {f.verdict for f in figures.values()} == {"—"}


def test_the_closed_loop_health_line_carries_no_target() -> None:
    figures = _by_name(["runtime /health @100 clients: p50 12.00 ms, p99 15.00 ms over 5000 requests (8000 req/s)"])
    assert figures["runtime /health @100 clients"].target is None


def test_open_loop_health_is_judged_on_its_p99_and_the_live_probe_is_the_floor() -> None:
    figures = _by_name(
        [
            "runtime /health at 500 req/s offered: p99 4.90 ms (p50 1.00 ms, max 9.0 ms, 5000 requests, 0 failed; "
            "machine 60% busy, load average 3.1, generator late p99 1.20 ms); target p99 < 5 ms",
            "runtime /health/live at 500 req/s offered: p99 9.00 ms (p50 1.00 ms, max 9.0 ms, 5000 requests, 0 failed)",
        ]
    )
    health = figures["runtime /health at 500 req/s offered (open loop)"]
    assert (health.value, health.p99, health.verdict) == (1.0, 4.9, "PASS")
    assert figures["runtime /health/live at 500 req/s offered (open loop)"].verdict == "—"
    slow = _by_name(["runtime /health at 500 req/s offered: p99 5.00 ms (p50 1.00 ms, max 9.0 ms"])
    assert slow["runtime /health at 500 req/s offered (open loop)"].verdict == "MISS"


def test_open_loop_health_is_not_judged_when_its_floor_missed_the_target_in_the_same_seconds() -> None:
    def verdicts(p99: str, floor: str) -> tuple[str, list[str]]:
        line = (
            f"runtime /health at 500 req/s offered: p99 {p99} ms (p50 1.00 ms, max 90.0 ms, 5000 requests, 0 failed; "
            f"machine 100% busy, load average 7.0, generator late p99 9.00 ms); floor /health/live p99 {floor} ms; "
            "target p99 < 5 ms"
        )
        figure = _by_name([line])["runtime /health at 500 req/s offered (open loop)"]
        return figure.verdict, [row for row in report.table([figure]) if row.startswith("VOID")]

    assert verdicts("72.00", "35.00") == (
        "VOID",
        [
            "VOID runtime /health at 500 req/s offered (open loop): its floor /health/live, measured in the same "
            "seconds, missed the target too (p99 35.00 ms)"
        ],
    )
    assert verdicts("72.00", "4.99") == ("MISS", [])  # the floor met it: /health itself missed
    assert verdicts("4.00", "6.00") == ("PASS", [])  # met despite the machine
