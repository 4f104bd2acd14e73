"""The adapter overhead benchmark runs end to end and reports in the agreed form (not timed)."""

from __future__ import annotations

import re

import pytest

from bench import adapter_overhead

MS = r"([0-9]+\.[0-9]{2}) ms"


def test_the_headline_is_the_median_ratio_over_every_interleaved_pair(
    overhead_lines: list[str], overhead_rounds: int
) -> None:
    headline = re.fullmatch(
        rf"adapter overhead: median ratio ([0-9]+\.[0-9]{{2}}) \(runtime p50 {MS} vs direct p50 {MS}, N=(\d+)\); "
        rf"target ≤ 1\.15: (met|MISSED)",
        overhead_lines[0],
    )
    assert headline is not None, overhead_lines[0]
    ratio, pairs, verdict = float(headline.group(1)), int(headline.group(4)), headline.group(5)
    assert pairs == overhead_rounds * len(adapter_overhead.REQUESTS)
    assert ratio > 0
    assert verdict == ("met" if ratio <= adapter_overhead.RATIO_TARGET else "MISSED")


def test_latencies_of_both_paths_follow_with_how_they_were_measured(overhead_lines: list[str]) -> None:
    latency = re.fullmatch(
        rf"adapter overhead latency: via runtime p50 {MS}, p99 {MS}; direct p50 {MS}, p99 {MS}", overhead_lines[1]
    )
    assert latency is not None, overhead_lines[1]
    runtime_p50, runtime_p99, direct_p50, direct_p99 = map(float, latency.groups())
    assert runtime_p50 <= runtime_p99 and direct_p50 <= direct_p99
    assert f"runtime p50 {runtime_p50:.2f} ms vs direct p50 {direct_p50:.2f} ms" in overhead_lines[0]
    assert overhead_lines[3].startswith("  how: ") and len(overhead_lines) == 4


def test_the_added_time_is_broken_down_by_answer_size(overhead_lines: list[str]) -> None:
    line = re.fullmatch(r"adapter overhead by answer size \(median ms added\): (.*)", overhead_lines[2])
    assert line is not None, overhead_lines[2]
    sizes = [re.fullmatch(r"(\d+) rows ([+-][0-9]+\.[0-9]{2})", part) for part in line.group(1).split(", ")]
    assert all(sizes), line.group(1)
    rows = [int(size.group(1)) for size in sizes if size]
    assert rows == sorted(set(rows)) and 0 < len(rows) <= len(adapter_overhead.REQUESTS) and rows[0] > 0


def test_the_data_set_is_deterministic_and_every_request_reads_inside_it() -> None:
    text = adapter_overhead.openmetrics()
    assert text == adapter_overhead.openmetrics() and text.endswith("# EOF\n")
    timestamps = {int(line.rsplit(" ", 1)[1]) for line in text.splitlines() if not line.startswith("#")}
    assert min(timestamps) == adapter_overhead.START and max(timestamps) == adapter_overhead.END
    for _, filter_text, _ in adapter_overhead.REQUESTS:
        assert "timestamp " in filter_text  # historical samples: never "now"


def _pair() -> adapter_overhead.Pair:
    return adapter_overhead.Pair("http://rt/queries/q", {}, "http://prom/api/v1/query_range", {"query": "up"})


def test_a_runtime_answer_that_differs_from_prometheus_stops_the_run() -> None:
    direct = {"data": {"resultType": "matrix", "result": [{"values": [[1, "1"], [2, "2"]]}, {"values": [[1, "3"]]}]}}
    assert adapter_overhead._same_samples(_pair(), {"value": [{}, {}, {}]}, direct) == 3
    with pytest.raises(RuntimeError, match="the runtime answered 2 rows, Prometheus 3 samples"):
        adapter_overhead._same_samples(_pair(), {"value": [{}, {}]}, direct)
    with pytest.raises(RuntimeError, match="answered 3 rows"):  # a second page would be work the direct call skipped
        adapter_overhead._same_samples(_pair(), {"value": [{}, {}, {}], "@odata.nextLink": "…"}, direct)
    with pytest.raises(RuntimeError, match="0 rows, Prometheus 0 samples"):  # an empty answer measures nothing
        adapter_overhead._same_samples(_pair(), {"value": []}, {"data": {"resultType": "vector", "result": []}})
