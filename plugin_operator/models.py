"""The Plugin custom resource: one pydantic model per concept, the single source of truth.

The CRD schema in `crds/plugins.yaml` is generated from these models (`plugin_operator.crd`), the
operator validates bodies with them, and the API documents them. Field descriptions become
`kubectl explain` text, so they are written for admins.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

import pydantic
from pydantic import ConfigDict, Field

from plugin_operator import model_base, processing_spec, runtime_spec, secret_scan
from plugin_operator.model_base import Model as _Model

# Re-exported: the Plugin's models are all reachable as `models.X`.
from plugin_operator.runtime_spec import CircuitBreaker as CircuitBreaker
from plugin_operator.runtime_spec import EgressRule as EgressRule
from plugin_operator.runtime_spec import ResourceList as ResourceList
from plugin_operator.runtime_spec import Resources as Resources
from plugin_operator.runtime_spec import RuntimeMode as RuntimeMode
from plugin_operator.runtime_spec import Sandbox as Sandbox
from plugin_operator.status_model import Condition as Condition
from plugin_operator.status_model import ConditionStatus as ConditionStatus
from plugin_operator.status_model import ConditionType as ConditionType
from plugin_operator.status_model import DependencyStatus as DependencyStatus
from plugin_operator.status_model import HealthReport as HealthReport
from plugin_operator.status_model import LastError as LastError
from plugin_operator.status_model import Phase as Phase
from plugin_operator.status_model import PluginStatus as PluginStatus
from plugin_operator.status_model import RegisteredEntity as RegisteredEntity
from plugin_runtime import gts
from plugin_runtime.interface import ContractFormat

GROUP = "analytics.hyperspot.io"
VERSION = "v1alpha1"
KIND = "Plugin"
PLURAL = "plugins"
SINGULAR = "plugin"
SHORT_NAMES = ("plg",)
API_VERSION = f"{GROUP}/{VERSION}"

#: Annotation that lets a Plugin take over GTS entities another plugin registered (never silently).
ADOPT_ANNOTATION = f"{GROUP}/adopt-entities"
#: Annotation whose change (any value, e.g. a timestamp) asks the runtime to re-read config and secrets.
RELOAD_ANNOTATION = f"{GROUP}/reload-requested-at"

_DNS_LABEL = model_base.DNS_LABEL
_VERSION_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,49}$"
_QUANTITY = model_base.QUANTITY
_DURATION = model_base.DURATION
_ENDPOINT = r"^/[A-Za-z0-9_./{}-]*$"


InstanceId = Annotated[str, Field(pattern=gts.INSTANCE_ID_PATTERN, max_length=gts.MAX_LENGTH)]
TypeId = Annotated[str, Field(pattern=gts.TYPE_ID_PATTERN, max_length=gts.MAX_LENGTH)]


class AutoRegister(_Model):
    queries: bool = Field(True, description="Register the declared queries as GTS entities when the plugin loads.")
    datasources: bool = Field(
        False, description="Register the declared datasources as GTS entities when the plugin loads."
    )


class QuerySpec(_Model):
    """A query the plugin serves, registered as a GTS entity of type gts.hypernetix.hyperspot.ax.query.v1~."""

    id: InstanceId = Field(
        description="GTS instance id, e.g. gts.hypernetix.hyperspot.ax.query.v1~vendor.pkg._.name.v1"
    )
    name: str = Field(min_length=1, max_length=255, description="Human-readable name.")
    category: str = Field(min_length=1, max_length=255, description="Catalogue category, e.g. monitoring.")
    description: str = Field("", max_length=4096, description="What the query returns.")
    api_endpoint: str = Field(
        pattern=_ENDPOINT, max_length=512, description="Plugin-internal path the runtime also serves this query on."
    )
    capabilities_id: InstanceId = Field(description="GTS id of the OData capabilities this query supports.")
    returns_schema_id: TypeId = Field(description="GTS type id (ending with ~) of the schema of returned rows.")
    contract_format: Literal["custom"] = Field("custom", description="Always custom: the plugin's adapter serves it.")
    adapter_id: str | None = Field(
        None, max_length=253, description="Adapter serving the query; defaults to the plugin's id."
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Adapter-specific settings (e.g. metric, aggregation, step for Prometheus; index for Elasticsearch)."
        ),
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    cache: processing_spec.QueryCache | None = Field(
        None, description="This query's own cache policy (another ttl, or enabled: false); needs spec.cache."
    )
    processing: list[processing_spec.ProcessingStep] = Field(
        default_factory=list, max_length=32, description="Steps of this query, after the plugin's spec.processing."
    )

    @pydantic.field_validator("id")
    @classmethod
    def _query_type(cls, value: str) -> str:
        gts.parse_instance(value, of_type=gts.QUERY_TYPE)
        return value


class DatasourceSpec(_Model):
    """A pre-configured datasource over one of the plugin's (or an existing) query."""

    id: InstanceId = Field(description="GTS instance id of type gts.hypernetix.hyperspot.ax.datasource.v1~.")
    query_id: InstanceId = Field(description="GTS id of the query this datasource runs.")
    name: str = Field(min_length=1, max_length=255, description="Human-readable name.")
    description: str = Field("", max_length=4096, description="What the datasource shows.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="OData parameters ($filter, $select, $orderby, $top...) applied to the query.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    render_options: dict[str, Any] = Field(
        default_factory=dict,
        description="UI controls for dashboards.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )

    @pydantic.field_validator("id")
    @classmethod
    def _datasource_type(cls, value: str) -> str:
        gts.parse_instance(value, of_type=gts.DATASOURCE_TYPE)
        return value

    @pydantic.field_validator("query_id")
    @classmethod
    def _query_ref(cls, value: str) -> str:
        gts.parse_instance(value, of_type=gts.QUERY_TYPE)
        return value


class SecretRef(_Model):
    """Where an API key lives (a Secret's key, or the operator's encrypted key store); never inlined."""

    # The key store serves admins who may not create Secrets in the plugin's namespace: they PUT the
    # value through the management API and the operator looks it up by (plugin id, name).
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.source) && self.source == 'keystore' ? !has(self.secretName) && !has(self.key)"
                    " : has(self.secretName) && has(self.key)",
                    "message": "source secret needs secretName and key; source keystore takes neither",
                }
            ]
        }
    )

    name: str = Field(
        pattern=r"^[a-z_][a-z0-9_]*$",
        max_length=63,
        description="Name the plugin sees the value under (e.g. api_key, bearer_token, basic_password).",
    )
    source: Literal["secret", "keystore"] = Field(
        "secret",
        description="secret: a key of a Kubernetes Secret (secretName, key). keystore: the value stored with "
        "PUT /api/analytics/v1/plugins/{id}/keys/{name}, encrypted in the operator's database.",
    )
    secret_name: str | None = Field(
        None, pattern=_DNS_LABEL, max_length=253, description="Kubernetes Secret in the same namespace (source secret)."
    )
    key: str | None = Field(
        None, pattern=r"^[-._a-zA-Z0-9]+$", max_length=253, description="Key inside the Secret (source secret)."
    )

    @pydantic.model_validator(mode="after")
    def _located(self) -> SecretRef:
        in_secret = self.secret_name is not None or self.key is not None
        if self.source == "secret" and (self.secret_name is None or self.key is None):
            raise ValueError(f"secretRef {self.name!r}: source secret needs both secretName and key")
        if self.source == "keystore" and in_secret:
            raise ValueError(
                f"secretRef {self.name!r}: source keystore takes no secretName or key "
                f"(its value is stored with PUT /api/analytics/v1/plugins/<id>/keys/{self.name})"
            )
        return self


class OutgoingToken(_Model):
    """How the runtime signs the token its adapter sends to the backend, after the plugin's
    `before_jwt_sign(ctx, claims)` hook shaped the claims (subject, tenant and roles of the caller)."""

    signing_key: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        max_length=63,
        description="Name of the secretRef holding the signing key (an HMAC secret for HS*, a PEM private key for "
        "RS*/ES*); the key reaches the runtime's signer only, never the plugin's secrets.",
    )
    algorithm: Literal["HS256", "HS384", "HS512", "RS256", "ES256"] = Field("HS256", description="JWS algorithm.")
    issuer: str = Field("hyperspot-plugin-runtime", max_length=255, description="`iss` of the signed tokens.")
    audience: str | None = Field(None, max_length=255, description="`aud` of the signed tokens (the backend).")
    ttl: str = Field("5m", pattern=_DURATION, description="Lifetime of each token (`exp` - `iat`).")


class Permission(enum.StrEnum):
    """One thing a plugin may do: read, write, execute or admin (the spec's Plugin Security, Permissions)."""

    READ = "read"  # read query definitions it does not declare itself (datasources over other plugins' queries)
    WRITE = "write"  # register its queries/datasources as GTS entities (autoRegister)
    EXECUTE = "execute"  # serve queries: without it the runtime answers 403 and the plugin is not Ready
    ADMIN = "admin"  # have its configuration changed in place (reload requests), without a rollout


#: What a Plugin that names no permissions may do: everything the example manifests need (register,
#: serve, read), and not `admin` — an in-place reload is opted into, every other change is a rollout.
DEFAULT_PERMISSIONS = (Permission.READ, Permission.WRITE, Permission.EXECUTE)


class DeletionPolicy(enum.StrEnum):
    DEPRECATE = "Deprecate"
    DELETE = "Delete"


class PluginSpec(_Model):
    """Desired state of an analytics plugin (a query adapter or datasource plugin)."""

    plugin_id: str | None = Field(
        None,
        pattern=_DNS_LABEL,
        max_length=253,
        description="Plugin id used by the API and the registry; defaults to metadata.name.",
    )
    enabled: bool = Field(True, description="false makes the plugin Inactive: no new queries are accepted.")
    version: str = Field(pattern=_VERSION_PATTERN, description="Plugin version; changing it rolls out a new runtime.")
    display_name: str | None = Field(None, max_length=255, description="Human-readable name (defaults to the id).")
    author: str | None = Field(None, max_length=255, description="Who wrote the plugin.")
    description: str | None = Field(None, max_length=4096, description="What the plugin provides.")
    contract_format: ContractFormat = Field(description="The contract the plugin's backend speaks.")
    adapter: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9_.-]*$",
        max_length=253,
        description="Built-in adapter or entry point (group hyperspot.analytics.plugins) implementing the plugin, "
        "e.g. prometheus, elasticsearch, rest, odata, localsql. Exactly one of adapter and path.",
    )
    path: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$",
        max_length=253,
        description="Folder (with a plugin.yaml manifest) inside the runtime's plugins directory. "
        "Exactly one of adapter and path.",
    )
    image: str | None = Field(
        None,
        max_length=1024,
        description="Container image of the runtime (Kubernetes driver); defaults to the operator's.",
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Adapter settings such as base_url, timeout, retry_count. Never put secrets here: use secretRefs.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    secret_refs: list[SecretRef] = Field(
        default_factory=list,
        max_length=32,
        description="API keys: from Kubernetes Secrets, or from the operator's encrypted key store.",
    )
    outgoing_token: OutgoingToken | None = Field(
        None, description="Sign a short-lived token for every backend call (the backend verifies it)."
    )
    auto_register: AutoRegister = Field(
        default_factory=AutoRegister, description="Which declared entities become GTS entities when the plugin loads."
    )
    permissions: list[Permission] = Field(
        default_factory=lambda: list(DEFAULT_PERMISSIONS),
        max_length=4,
        description="What the plugin may do (default read, write, execute). read: datasources may run queries "
        "other plugins declared. write: autoRegister may register its queries/datasources (without it such a "
        "plugin fails with PermissionDenied and nothing is registered). execute: the runtime serves its "
        "queries (without it they are answered 403 and Ready is False, ExecuteNotPermitted). admin: reload "
        "requests re-read its config and secrets in place (without it they are refused with an Event; other "
        "changes roll out a new runtime through the health gate).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    queries: list[QuerySpec] = Field(
        default_factory=list, max_length=256, description="Queries the plugin serves (GTS query entities)."
    )
    datasources: list[DatasourceSpec] = Field(
        default_factory=list, max_length=256, description="Pre-configured datasources over the queries."
    )
    resources: Resources = Field(
        default_factory=Resources, description="CPU/memory requests and limits of each runtime pod."
    )
    replicas: int = Field(1, ge=0, le=20, description="Runtime replicas while Active.")
    runtime: RuntimeMode | None = Field(
        None,
        description="shared: hosted in a runtime pool with other Plugins of the namespace using the same built-in "
        "adapter (no secretRefs, outgoingToken, path or image); dedicated: a runtime of its own. Unset: the "
        "operator's default (PLUGIN_OPERATOR_DEFAULT_RUNTIME) for built-in adapters without secrets, else dedicated.",
    )
    sandbox: Sandbox = Field(
        default_factory=Sandbox, description="Per-query time limit, concurrency and circuit breaker in the runtime."
    )
    egress: list[EgressRule] = Field(
        default_factory=list, max_length=32, description="Backends the plugin may reach (NetworkPolicy)."
    )
    depends_on: list[Annotated[str, Field(pattern=_DNS_LABEL)]] = Field(
        default_factory=list, max_length=32, description="Plugin ids that must be Active before this one starts."
    )
    cache: processing_spec.Cache | None = Field(
        None, description="Cache query answers per query, options and the caller's tenant and roles (off when unset)."
    )
    processing: list[processing_spec.ProcessingStep] = Field(
        default_factory=list,
        max_length=32,
        description="Pre/post-processing of every query: rename, drop, compute, convert, defaults, where.",
    )
    deletion_policy: DeletionPolicy = Field(
        DeletionPolicy.DEPRECATE,
        description="On removal, Deprecate keeps registered entities marked deprecated; Delete soft-deletes them.",
    )

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> PluginSpec:
        if (self.adapter is None) == (self.path is None):
            raise ValueError("set exactly one of adapter (an entry point) and path (a plugins-directory folder)")
        for values, what in (
            ([q.id for q in self.queries], "query ids declared more than once"),
            ([q.api_endpoint for q in self.queries], "apiEndpoint used by more than one query"),
            ([d.id for d in self.datasources], "datasource ids declared more than once"),
            ([ref.name for ref in self.secret_refs], "secretRefs names used more than once"),
            ([p.value for p in self.permissions], "permissions named more than once"),
        ):
            repeated = sorted({value for value in values if values.count(value) > 1})
            if repeated:
                raise ValueError(f"{what}: {', '.join(repeated)}")
        for query in self.queries:
            processing_spec.check(self.processing, query.processing, what=f"query {query.id}")
        if self.runtime is RuntimeMode.SHARED:
            _check_shareable(self)
        if self.outgoing_token and self.outgoing_token.signing_key not in {ref.name for ref in self.secret_refs}:
            raise ValueError(f"outgoingToken.signingKey {self.outgoing_token.signing_key!r} names no secretRef")
        leaked = secret_scan.secret_paths(self.config, "config")
        if leaked:
            raise ValueError(
                f"{', '.join(leaked)} look like secrets (a secret-named key or a URL with a password); "
                "reference them through secretRefs instead"
            )
        return self

    def id_for(self, name: str) -> str:
        return self.plugin_id or name


def _check_shareable(spec: PluginSpec) -> None:
    """A shared runtime hosts trusted code only, and no secrets: anything else needs its own sandbox."""
    if spec.adapter not in runtime_spec.BUILTIN_ADAPTERS:
        raise ValueError(
            f"runtime: shared hosts the built-in adapters only ({', '.join(sorted(runtime_spec.BUILTIN_ADAPTERS))}); "
            "plugin code runs in a runtime of its own (runtime: dedicated)"
        )
    if spec.image or spec.secret_refs or spec.outgoing_token:
        raise ValueError(
            "runtime: shared carries no image, secretRefs or outgoingToken (secrets stay in a process of their "
            "own): use runtime: dedicated"
        )
