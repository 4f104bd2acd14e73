"""Child processes the tests and benchmarks start: see `plugin_devcluster.demos.processes`, shared with `make run`."""

from plugin_devcluster.demos.processes import stop, wait_ready

__all__ = ["stop", "wait_ready"]
