"""PluginSpec → the `RuntimeConfig` a plugin-runtime process hosts.

Every runtime (a Kubernetes Deployment, or one run by hand) starts from a `RuntimeConfig`, so the
translation lives here once. Secret *values* never enter it: each secretRef becomes the name of an
environment variable the runtime reads the value from, which keeps the rendered config safe to
store in a ConfigMap, a file or a log line.
"""

from __future__ import annotations

from plugin_operator import models, permissions, processing_spec
from plugin_runtime import config

__all__ = ["ADMIN_TOKEN_ENV", "SECRET_ENV_PREFIX", "build", "secret_env_var"]

#: Environment variable holding the token the operator uses on the runtime's admin endpoints.
ADMIN_TOKEN_ENV = "PLUGIN_RUNTIME_ADMIN_TOKEN"
SECRET_ENV_PREFIX = "PLUGIN_SECRET_"


def secret_env_var(name: str) -> str:
    """The environment variable a secretRef's value is exposed under (`api_key` → PLUGIN_SECRET_API_KEY)."""
    return SECRET_ENV_PREFIX + name.upper()


def build(
    *,
    plugin_id: str,
    spec: models.PluginSpec,
    enabled: bool | None = None,
    auth: config.IncomingAuth | None = None,
) -> config.RuntimeConfig:
    """Translate one Plugin into the runtime's config; `enabled` overrides spec.enabled (e.g. while draining).

    `auth` is how the runtime authenticates its callers (the operator's runtime auth settings).
    Descriptive fields (displayName, author, description) stay out: they are the catalogue's (the
    registry has them from the spec), and editing them must not change what runs.
    """
    sandbox = spec.sandbox
    outgoing = spec.outgoing_token
    signing_key = outgoing.signing_key if outgoing is not None else None
    plugin = config.RuntimePlugin(
        id=plugin_id,
        version=spec.version,
        adapter=spec.adapter,
        path=spec.path,
        enabled=spec.enabled if enabled is None else enabled,
        contract_format=spec.contract_format,
        settings=dict(spec.config),
        queries=[_query(query) for query in spec.queries],
        # The outgoing token's signing key goes to the runtime's signer only, never to the plugin.
        secret_env={ref.name: secret_env_var(ref.name) for ref in spec.secret_refs if ref.name != signing_key},
        auto_register_queries=spec.auto_register.queries,
        auto_register_datasources=spec.auto_register.datasources,
        execute=permissions.serves(spec.permissions),
        timeout_seconds=config.parse_duration(sandbox.timeout),
        max_concurrent_queries=sandbox.max_concurrent_queries,
        breaker=config.BreakerConfig(
            failure_threshold=sandbox.circuit_breaker.failure_threshold,
            error_rate_threshold=sandbox.circuit_breaker.error_rate_threshold,
            cooldown_seconds=config.parse_duration(sandbox.circuit_breaker.cooldown),
        ),
        cache=processing_spec.runtime_cache(spec.cache),
        processing=processing_spec.runtime_steps(spec.processing),
    )
    outgoing_jwt = None
    if outgoing is not None:
        outgoing_jwt = config.OutgoingJwt(
            signing_key_env=secret_env_var(outgoing.signing_key),
            algorithm=outgoing.algorithm,
            issuer=outgoing.issuer,
            audience=outgoing.audience,
            ttl_seconds=max(1, round(config.parse_duration(outgoing.ttl))),
        )
    return config.RuntimeConfig(
        plugins=[plugin],
        admin_token_env=ADMIN_TOKEN_ENV,
        auth=auth or config.IncomingAuth(),
        outgoing_jwt=outgoing_jwt,
    )


def _query(query: models.QuerySpec) -> config.QueryConfig:
    return config.QueryConfig(
        id=query.id,
        name=query.name,
        category=query.category,
        api_endpoint=query.api_endpoint,
        capabilities_id=query.capabilities_id,
        returns_schema_id=query.returns_schema_id,
        description=query.description,
        options=dict(query.options),
        cache=processing_spec.runtime_query_cache(query.cache),
        processing=processing_spec.runtime_steps(query.processing),
    )
