"""The adapter benchmark runs end to end and reports the lines of issue 16 in the agreed form (not timed)."""

from __future__ import annotations

import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from bench import adapter_overhead, passthrough
from devservices.http import serving

MS = r"([0-9]+\.[0-9]{2}) ms"
US = r"([0-9]+\.[0-9]{2})"
VERDICT = r"(PASS|MISS)"


def _verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


def test_the_fixed_cost_line_gives_all_three_paths_and_judges_against_the_passthrough(
    overhead_lines: list[str],
) -> None:
    line = re.fullmatch(
        rf"adapter fixed cost: runtime p50 {MS}, passthrough p50 {MS}, direct p50 {MS} \(100 rows\); "
        rf"target runtime ≤ passthrough \+ 1 ms: {VERDICT}",
        overhead_lines[0],
    )
    assert line is not None, overhead_lines[0]
    runtime, relay, direct = map(float, line.groups()[:3])
    assert min(runtime, relay, direct) > 0
    assert line.group(4) == _verdict(runtime <= relay + adapter_overhead.FIXED_TARGET_MS)


def test_the_per_row_line_gives_cpu_per_row_and_per_series(overhead_lines: list[str]) -> None:
    line = re.fullmatch(
        rf"adapter per-row cpu: {US} µs/row \(10k rows\), {US} µs/series \(1k series × 10 points\); "
        rf"targets ≤ 1\.5 µs/row: {VERDICT}, ≤ 5 µs/series: {VERDICT}",
        overhead_lines[1],
    )
    assert line is not None, overhead_lines[1]
    per_row, per_series = float(line.group(1)), float(line.group(2))
    assert per_row > 0 and per_series > 0  # the runtime did work for the requests it answered
    assert line.group(3) == _verdict(per_row <= adapter_overhead.ROW_TARGET_US)
    assert line.group(4) == _verdict(per_series <= adapter_overhead.SERIES_TARGET_US)


def test_the_large_answer_line_is_the_median_ratio_and_the_floor_follows(
    overhead_lines: list[str], overhead_rounds: int
) -> None:
    line = re.fullmatch(
        rf"adapter ratio 10k rows: median {US} \(time to last byte, runtime / direct, N=(\d+)\); "
        rf"target ≤ 1\.5: {VERDICT}",
        overhead_lines[2],
    )
    assert line is not None, overhead_lines[2]
    assert int(line.group(2)) == overhead_rounds
    assert line.group(3) == _verdict(float(line.group(1)) <= adapter_overhead.RATIO_TARGET)
    floor = re.fullmatch(
        rf"adapter floor: passthrough cpu {US} µs/row \(10k rows\), {US} µs/series; 10k rows p50 runtime {MS}, "
        rf"direct {MS} \(gzip\), direct identity {MS} \(ratio {US}\)",
        overhead_lines[3],
    )
    assert floor is not None, overhead_lines[3]
    assert overhead_lines[4].startswith("  how: ") and len(overhead_lines) == 5


def test_the_data_set_is_deterministic_and_sized_as_the_lines_say() -> None:
    text = adapter_overhead.openmetrics()
    assert text == adapter_overhead.openmetrics() and text.endswith("# EOF\n")
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    rows = [line for line in samples if line.startswith("bench_rows{")]
    series = {line.rsplit(" ", 2)[0] for line in samples if line.startswith("bench_series{")}
    assert len(rows) == 10_000 and len(series) == 1_000 and len(samples) == 20_000
    assert adapter_overhead.REQUESTS["rows"][1] == 10_000 and adapter_overhead.REQUESTS["fixed"][1] == 100
    for filter_text, _ in adapter_overhead.REQUESTS.values():
        assert "timestamp ge " in filter_text and "timestamp le " in filter_text  # historical: never "now"


def _matrix(*values: str) -> dict[str, object]:
    return {
        "data": {"resultType": "matrix", "result": [{"values": [[1_700_000_000 + i, v] for i, v in enumerate(values)]}]}
    }


def _rows(*pairs: tuple[float, str]) -> dict[str, object]:
    return {"value": [{"value": value, "timestamp": at} for value, at in pairs]}


def test_a_runtime_answer_that_differs_from_prometheus_stops_the_run() -> None:
    direct = _matrix("1", "2.5")
    good = _rows((1.0, "2023-11-14T22:13:20.000Z"), (2.5, "2023-11-14T22:13:21.000Z"))
    adapter_overhead.same_samples("q", good, direct, 2)
    with pytest.raises(RuntimeError, match="values differ"):  # a value changed on the way
        adapter_overhead.same_samples(
            "q", _rows((1.0, "2023-11-14T22:13:20.000Z"), (2.0, "2023-11-14T22:13:21.000Z")), direct, 2
        )
    with pytest.raises(RuntimeError, match="answered 1 rows, Prometheus 2 samples"):
        adapter_overhead.same_samples("q", _rows((1.0, "2023-11-14T22:13:20.000Z")), direct, 2)
    with pytest.raises(RuntimeError, match="expected 3"):  # the data set is not what the line claims
        adapter_overhead.same_samples("q", good, direct, 3)
    with pytest.raises(RuntimeError):  # a second page would be work the direct call skipped
        adapter_overhead.same_samples("q", {**good, "@odata.nextLink": "…"}, direct, 2)


def test_cpu_time_is_read_from_proc_and_grows_with_work() -> None:
    before = adapter_overhead.cpu_seconds(os.getpid())
    deadline = before + 0.05
    while adapter_overhead.cpu_seconds(os.getpid()) < deadline:
        sum(range(10_000))
    assert adapter_overhead.cpu_seconds(os.getpid()) >= deadline


def test_cpu_time_counts_every_thread_below_a_clock_tick_and_agrees_with_proc_stat() -> None:
    def ticks() -> float:  # utime + stime of /proc/<pid>/stat, the definition the clock refines
        with open(f"/proc/{os.getpid()}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def burn() -> None:
        started = time.thread_time()
        while time.thread_time() - started < 0.1:
            sum(range(1_000))

    before, before_ticks = adapter_overhead.cpu_seconds(os.getpid()), ticks()
    worker = threading.Thread(target=burn)
    worker.start()
    worker.join()  # an exited thread's time stays with the process
    spent, spent_ticks = adapter_overhead.cpu_seconds(os.getpid()) - before, ticks() - before_ticks
    assert 0.1 <= spent < 0.1 + 0.05
    assert abs(spent - spent_ticks) <= 0.03  # a tick or two of /proc's granularity
    assert round(spent * 100) != spent * 100  # nanoseconds, not a whole number of 10 ms ticks


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"first,", b"second", b""):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            return
        body = f"{self.path} ok".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_passthrough_relays_requests_and_answers_unchanged_on_one_connection() -> None:
    with (
        serving(_Upstream) as upstream,
        passthrough.running_passthrough(upstream) as (url, _),
        httpx.Client(base_url=url) as client,
    ):
        assert client.get("/chunked").content == b"first,second"
        assert client.post("/echo", content=b"query=up&time=1").content == b"query=up&time=1"
        assert client.get("/plain").content == b"/plain ok"
