"""A real Prometheus (Debian's package) on a data directory: backfilled with `promtool`, then started.

Shared by `make run` (fixed port, generated history up to now plus a live scrape, so the examples'
"now" queries return rows) and the tests (`devservices.prometheus`: a free port, fixed samples).
Nothing here mocks the server.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from plugin_devcluster.demos import processes

_READY_TIMEOUT_SECONDS = 60.0
STATIC_CONFIG = "global: {scrape_interval: 1h}\nscrape_configs: []\n"


def binary(name: str) -> str:
    """The path of `prometheus` or `promtool`; RuntimeError saying what to install when missing."""
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed: install Debian's prometheus package (apt-get install prometheus)")
    return path


def backfill(openmetrics_text: str, workdir: Path) -> Path:
    """Write these samples as TSDB blocks under `workdir/tsdb` (returned)."""
    data = workdir / "data.om"
    data.write_text(openmetrics_text if openmetrics_text.rstrip().endswith("# EOF") else openmetrics_text + "# EOF\n")
    tsdb = workdir / "tsdb"
    result = subprocess.run(
        [binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(data), str(tsdb)],
        capture_output=True,
        text=True,
        check=False,
    )
    data.unlink()
    if result.returncode != 0:
        raise RuntimeError(f"promtool could not backfill the data: {result.stderr.strip() or result.stdout.strip()}")
    return tsdb


def start(workdir: Path, tsdb: Path, *, port: int, config: str = STATIC_CONFIG) -> subprocess.Popen[bytes]:
    """Prometheus on 127.0.0.1:`port` over `tsdb`, returned once ready (its log in `workdir`).

    Raises RuntimeError with the log's tail when it exits (a taken port, say) or is not ready in time;
    the process is stopped then.
    """
    config_file = workdir / "prometheus.yml"
    config_file.write_text(config)
    log = workdir / "prometheus.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={config_file}",
                f"--storage.tsdb.path={tsdb}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=100y",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        processes.wait_ready(
            process, f"http://127.0.0.1:{port}/-/ready", log, name="prometheus", timeout=_READY_TIMEOUT_SECONDS
        )
    except BaseException:
        processes.stop(process, timeout=10)
        raise
    return process


def scrape_config(exporter: str, jobs: list[str], *, interval: str = "15s") -> str:
    """Prometheus config scraping `exporter`/metrics/<job> for each job, keeping the exposed instance labels."""
    target = exporter.removeprefix("http://")
    lines = [f"global: {{scrape_interval: {interval}}}", "scrape_configs:"]
    for job in jobs:
        lines += [
            f"  - job_name: {job}",
            f"    metrics_path: /metrics/{job}",
            "    honor_labels: true",
            f"    static_configs: [{{targets: ['{target}']}}]",
        ]
    return "\n".join(lines) + "\n"
