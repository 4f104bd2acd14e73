"""`python -m bench` (`make bench`): run every benchmark, then one summary table and how it was measured.

Each benchmark prints its own lines as it finishes; the summary gives every figure with its target
and PASS/MISS, and the notes after it say how each figure was obtained and how to rerun one alone.
Missing a target is reported, not an error: the exit code is 0 unless a benchmark could not run.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TextIO

from bench import (
    adapter_overhead,
    cache,
    cold_load,
    health_load,
    load,
    operator_scale,
    paging,
    report,
    runtime,
    sandbox,
    translation,
)


class Benchmark(Protocol):
    """A benchmark module: its docstring says how it measures, `run()` measures."""

    __name__: str
    __doc__: str | None
    run: Callable[[], list[str]]


#: Cheapest first; each runs alone on the machine.
BENCHMARKS: Sequence[Benchmark] = (
    translation,
    runtime,
    sandbox,
    cold_load,
    health_load,
    cache,
    paging,
    adapter_overhead,
    operator_scale,
    load,
)


def _short_name(benchmark: Benchmark) -> str:
    return benchmark.__name__.rpartition(".")[2]


def main(benchmarks: Sequence[Benchmark] = BENCHMARKS, out: TextIO = sys.stdout) -> int:
    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    lines: list[str] = []
    failed: list[str] = []
    for benchmark in benchmarks:
        name = _short_name(benchmark)
        say(f"== {name}")
        started = time.perf_counter()
        try:
            produced = benchmark.run()
        except Exception as exc:
            failed.append(name)
            say(f"{name} could not run: {type(exc).__name__}: {exc}")
        else:
            lines.extend(produced)
            for line in produced:
                say(line)
        say(f"({name}: {time.perf_counter() - started:.0f} s)")
        say()

    say(
        f"== summary: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, one run"
    )
    for line in report.table(report.figures(lines)):
        say(line)
    say()
    say("== how each figure was obtained")
    for benchmark in benchmarks:
        say(f"{_short_name(benchmark)} (rerun alone: python -m {benchmark.__name__})")
        say(textwrap.indent((benchmark.__doc__ or "").strip(), "    "))
        say()
    if failed:
        say(f"could not run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
