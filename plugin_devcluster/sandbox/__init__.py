"""Containers of the embedded cluster as sandboxes: bubblewrap namespaces, cgroup v1 limits, a network fence.

`SandboxRuntime` implements `plugin_devcluster.containers.ContainerRuntime`:

    runtime = SandboxRuntime()              # probes once, lazily; runtime.isolation().missing names gaps
    container = runtime.start(spec)         # returns once the sandbox exists (not once it is ready)
    container.ingress                       # Unix socket → 127.0.0.1:spec.port inside (probes, Services)
    container.poll() / .exit_code()         # None while running; Termination (OOMKilled from the cgroup)
    container.stop(grace_seconds)           # SIGTERM to PID 1, then the whole cgroup; cgroups removed
    container.log_path                      # stdout + stderr (spec.workdir/container.log, rotated: containerlogs)

Beyond the protocol, `SandboxContainer` offers `wait(timeout)`, `members()` (host pids) and
`cgroups` (its limits and counters). Refused with ValueError: uid/gid 0, a workdir too deep for
Unix sockets. `spec.workdir` receives `ingress.sock`, `fence/` (0700), `etc/` and `container.log`.

Modules: `argv` (the sandbox's command line, pure), `probe` (what this machine allows), `cgroups`,
`fence` (egress connectors), `init` (PID 1 inside the sandbox, standard library only), `process`
(one container), `runtime`.
"""

from plugin_devcluster.sandbox.process import SandboxContainer
from plugin_devcluster.sandbox.runtime import SandboxRuntime

__all__ = ["SandboxContainer", "SandboxRuntime"]
