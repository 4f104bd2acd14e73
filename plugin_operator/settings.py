"""Operator settings: one frozen object, from command-line flags and PLUGIN_OPERATOR_* variables."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from plugin_operator.lease import Timing
from plugin_operator.runtime_probes import RuntimeProbes
from plugin_runtime.config import IncomingAuth


def _env(name: str, default: str) -> str:
    return os.environ.get(f"PLUGIN_OPERATOR_{name}", default)


@dataclasses.dataclass(frozen=True)
class OperatorSettings:
    database_url: str = "sqlite:///.run/plugins.db"
    #: Runtimes run as Kubernetes Deployments, in a real cluster or the embedded one (`make run`).
    #: The only driver: the local process driver was retired (it gave plugins no isolation and made
    #: `make run` differ from production); a stale PLUGIN_OPERATOR_DRIVER=local is refused.
    driver: str = "kubernetes"
    namespaces: tuple[str, ...] = ()  # empty: cluster-wide
    state_dir: Path = Path(".run")
    plugins_dir: Path | None = None
    default_image: str = "ghcr.io/hyperspot/plugin-runtime:0.1.0"
    #: Kubernetes: an OCI image of plugin folders, mounted as the runtime's plugins directory.
    plugins_image: str | None = None
    health_interval: float = 10.0
    unhealthy_after: int = 3
    rollout_probes: int = 3
    rollout_probe_interval: float = 0.5
    drain_seconds: float = 10.0
    health_retention_days: float = 7.0
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    actor: str = "system:plugin-operator"
    #: How plugin runtimes authenticate their callers (the query executor's JWTs). On by default:
    #: without an executor key source only the control plane's own tokens are accepted.
    runtime_auth: IncomingAuth = dataclasses.field(default_factory=lambda: IncomingAuth(mode="jwt"))
    #: PEM EC P-256 private key signing the control plane's tokens to runtimes (None: the operator
    #: keeps one in `state_dir`, see `control_plane`).
    control_plane_key: str | None = dataclasses.field(default=None, repr=False)
    #: Replicas elect one reconciler through a Lease; off only for a lone process that needs no Lease RBAC.
    leader_election: bool = True
    lease_name: str = "plugin-operator"
    lease_namespace: str = "default"
    lease_timing: Timing = dataclasses.field(default_factory=Timing)
    #: Kubernetes: the operator's own namespace (its pods may call runtimes: probes, smoke queries).
    operator_namespace: str = "hyperspot-analytics"
    #: Kubernetes: namespaces whose pods (matching `executor_pod_labels`) may query runtimes.
    executor_namespaces: tuple[str, ...] = ()
    executor_pod_labels: tuple[tuple[str, str], ...] = ()
    #: The base of the links runtimes write into answers (`@odata.nextLink`, `@odata.context`), e.g.
    #: `https://analytics.example.com/plugins/{namespace}/{name}` behind an ingress; `{name}` (the
    #: Plugin), `{namespace}` and `{plugin_id}` are filled in. None: each plugin's stable endpoint.
    runtime_external_url: str | None = None
    #: An HTTP proxy for the operator's calls to runtimes only (not its Kubernetes API calls): how
    #: the embedded dev cluster's Service names (`<svc>.<ns>.svc`) are reached outside a cluster.
    runtime_proxy: str | None = None
    #: Kubernetes: where a built-in-adapter Plugin without secrets runs when its spec.runtime is unset
    #: (`shared`: a runtime pool of its namespace, see `pooling`; `dedicated`: a runtime of its own).
    default_runtime: str = "dedicated"
    #: Kubernetes: the most Plugins one shared runtime pool hosts.
    pool_size: int = 100
    #: Reconciles running at once (the rest wait their turn): a thousand Plugins applied together must
    #: not starve the event loop until the runtimes' answers time out and everything retries.
    max_concurrent_reconciles: int = 32
    #: Kubernetes: the liveness/readiness timings of every runtime pod (a change rolls the runtimes).
    runtime_probes: RuntimeProbes = dataclasses.field(default_factory=RuntimeProbes)

    @classmethod
    def from_env(cls, **overrides: object) -> OperatorSettings:
        namespaces = tuple(n for n in _env("NAMESPACES", "").split(",") if n)
        plugins_dir = _env("PLUGINS_DIR", "")
        values: dict[str, object] = {
            "database_url": _env("DATABASE_URL", cls.database_url),
            "driver": _env("DRIVER", cls.driver),
            "namespaces": namespaces,
            "state_dir": Path(_env("STATE_DIR", str(cls.state_dir))),
            "plugins_dir": Path(plugins_dir) if plugins_dir else None,
            "default_image": _env("RUNTIME_IMAGE", cls.default_image),
            "plugins_image": _env("PLUGINS_IMAGE", "") or None,
            "health_interval": float(_env("HEALTH_INTERVAL", str(cls.health_interval))),
            "unhealthy_after": int(_env("UNHEALTHY_AFTER", str(cls.unhealthy_after))),
            "rollout_probes": int(_env("ROLLOUT_PROBES", str(cls.rollout_probes))),
            "drain_seconds": float(_env("DRAIN_SECONDS", str(cls.drain_seconds))),
            "health_retention_days": float(_env("HEALTH_RETENTION_DAYS", str(cls.health_retention_days))),
            "api_host": _env("API_HOST", cls.api_host),
            "api_port": int(_env("API_PORT", str(cls.api_port))),
            "rollout_probe_interval": float(_env("ROLLOUT_PROBE_INTERVAL", str(cls.rollout_probe_interval))),
            "leader_election": _env("LEADER_ELECTION", "true").lower() not in ("false", "0", "no"),
            "lease_name": _env("LEASE_NAME", cls.lease_name),
            "lease_namespace": _env("LEASE_NAMESPACE", os.environ.get("POD_NAMESPACE", cls.lease_namespace)),
            "lease_timing": Timing(
                duration=float(_env("LEASE_DURATION", str(Timing.duration))),
                renew_deadline=float(_env("LEASE_RENEW_DEADLINE", str(Timing.renew_deadline))),
                retry_period=float(_env("LEASE_RETRY_PERIOD", str(Timing.retry_period))),
            ),
        }
        values["operator_namespace"] = _env("NAMESPACE", os.environ.get("POD_NAMESPACE", cls.operator_namespace))
        values["executor_namespaces"] = tuple(n for n in _env("EXECUTOR_NAMESPACES", "").split(",") if n)
        values["executor_pod_labels"] = _labels(_env("EXECUTOR_POD_LABELS", ""))
        values["runtime_auth"] = _runtime_auth()
        values["control_plane_key"] = _pem_or_file(_env("CONTROL_PLANE_KEY", "")) or None
        values["default_runtime"] = _env("DEFAULT_RUNTIME", cls.default_runtime)
        values["pool_size"] = int(_env("POOL_SIZE", str(cls.pool_size)))
        values["max_concurrent_reconciles"] = int(_env("MAX_CONCURRENT_RECONCILES", str(cls.max_concurrent_reconciles)))
        values["runtime_external_url"] = _external_url(_env("RUNTIME_EXTERNAL_URL", "")) or None
        values["runtime_proxy"] = _env("RUNTIME_PROXY", "") or None
        values["runtime_probes"] = _runtime_probes()
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values["driver"] != "kubernetes":
            raise ValueError(
                f"PLUGIN_OPERATOR_DRIVER must be kubernetes, not {values['driver']!r} (the local process driver was "
                "retired: `plugin-operator dev` runs plugins as sandboxed pods of its embedded cluster)"
            )
        if values["default_runtime"] not in ("shared", "dedicated"):
            raise ValueError(
                f"PLUGIN_OPERATOR_DEFAULT_RUNTIME must be shared or dedicated, not {values['default_runtime']!r}"
            )
        return cls(**values)  # type: ignore[arg-type]


def _labels(text: str) -> tuple[tuple[str, str], ...]:
    """`app=query-executor,tier=api` → (("app", "query-executor"), ("tier", "api"))."""
    pairs = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"PLUGIN_OPERATOR_EXECUTOR_POD_LABELS: {item!r} is not key=value")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


_EXTERNAL_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")


def external_url(template: str, *, name: str, namespace: str, plugin_id: str) -> str:
    """A plugin's external URL from the operator's template (`runtime_external_url`)."""
    return template.format(name=name, namespace=namespace, plugin_id=plugin_id)


def _external_url(template: str) -> str:
    """PLUGIN_OPERATOR_RUNTIME_EXTERNAL_URL, checked at start: an http(s) URL once its fields are filled."""
    if not template:
        return template
    try:
        sample = external_url(template, name="p", namespace="n", plugin_id="p")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"PLUGIN_OPERATOR_RUNTIME_EXTERNAL_URL: only {{name}}, {{namespace}} and {{plugin_id}} may be filled in "
            f"({exc!r})"
        ) from None
    if not _EXTERNAL_URL.match(sample):
        raise ValueError("PLUGIN_OPERATOR_RUNTIME_EXTERNAL_URL must be an http(s) URL without query or fragment")
    return template


def _runtime_probes() -> RuntimeProbes:
    """PLUGIN_OPERATOR_RUNTIME_{LIVENESS,READINESS}_{PERIOD_SECONDS,FAILURE_THRESHOLD}, each unset or a
    positive integer (the kubelet takes whole seconds, and a zero would be refused by the API server only
    when the first runtime is applied, long after the operator started)."""
    defaults = RuntimeProbes()
    return RuntimeProbes(
        **{
            field.name: _positive_int(f"RUNTIME_{field.name.upper()}", getattr(defaults, field.name))
            for field in dataclasses.fields(RuntimeProbes)
        }
    )


def _positive_int(name: str, default: int) -> int:
    text = _env(name, "").strip()
    if not text:
        return default
    if not re.fullmatch(r"[0-9]+", text) or int(text) < 1:
        raise ValueError(f"PLUGIN_OPERATOR_{name} must be a positive integer, not {text!r}")
    return int(text)


def _pem_or_file(value: str) -> str:
    if value and not value.lstrip().startswith("-----BEGIN"):
        return Path(value).read_text(encoding="utf-8")
    return value


def _runtime_auth() -> IncomingAuth:
    """Runtimes verify tokens unless PLUGIN_OPERATOR_RUNTIME_AUTH=none (an explicit opt-out).

    PLUGIN_OPERATOR_RUNTIME_JWKS_URL or _RUNTIME_JWT_PUBLIC_KEY (PEM text or file) name the query
    executor's identity provider; without either only the control plane's tokens are accepted.
    """
    mode = _env("RUNTIME_AUTH", "jwt").strip().lower()
    if mode not in ("jwt", "none"):
        raise ValueError(f"PLUGIN_OPERATOR_RUNTIME_AUTH must be jwt or none, not {mode!r}")
    if mode == "none":
        return IncomingAuth(mode="none")
    jwks_url = _env("RUNTIME_JWKS_URL", "") or None
    public_key = _pem_or_file(_env("RUNTIME_JWT_PUBLIC_KEY", "")) or None
    return IncomingAuth(
        mode="jwt",
        jwks_url=jwks_url,
        public_key=public_key,
        audience=_env("RUNTIME_JWT_AUDIENCE", "") or None,
        issuer=_env("RUNTIME_JWT_ISSUER", "") or None,
        algorithms=["RS256", "ES256"],
    )
