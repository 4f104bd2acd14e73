"""Containers of the embedded cluster as sandboxes: bubblewrap namespaces, cgroup v1 limits, a network fence.

`SandboxRuntime` implements `plugin_devcluster.containers.ContainerRuntime`. Modules: `argv` (the
sandbox's command line, pure), `probe` (what this machine allows), `cgroups`, `fence` (egress
connectors), `init` (PID 1 inside the sandbox, standard library only), `process` (one container).
"""

from plugin_devcluster.sandbox.process import SandboxContainer
from plugin_devcluster.sandbox.runtime import SandboxRuntime

__all__ = ["SandboxContainer", "SandboxRuntime"]
