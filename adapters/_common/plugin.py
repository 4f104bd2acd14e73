"""The lifecycle every HTTP-backed adapter shares, so each adapter module holds only its own logic.

An adapter subclass names its backend and its settings/options models; this base validates them at
`init()` (a bad value fails with `InvalidInput` naming the field), builds the one `BackendClient`,
reports health from the backend's health endpoint and closes the client at `shutdown()`. A second
`init()` (the runtime's reload) replaces the client and forgets cached translations.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from importlib import metadata as package_metadata
from typing import Any, ClassVar, Generic, TypeVar, cast

import httpx

from adapters._common import auth, http, queries
from adapters._common import settings as settings_mod
from plugin_runtime import errors, interface, odata

VERSION = package_metadata.version("hyperspot-analytics-plugins")
#: Distinct translations kept per plugin instance (dashboards repeat a small set of queries).
TRANSLATION_CACHE_SIZE = 1024

_Settings = TypeVar("_Settings", bound=settings_mod.HttpSettings)
_Options = TypeVar("_Options", bound=settings_mod.QueryOptions)


@dataclasses.dataclass(frozen=True)
class ODataKey:
    """The OData options a translation depends on, hashable for the translation cache."""

    filter: str | None
    select: tuple[str, ...]
    orderby: tuple[odata.OrderBy, ...]
    top: int | None
    skip: int
    count: bool

    @classmethod
    def of(cls, params: odata.ODataParams) -> ODataKey:
        return cls(params.filter, params.select, params.orderby, params.top, params.skip, params.count)

    def params(self) -> odata.ODataParams:
        """The options again, the filter parsed (once per cached key)."""
        tree = odata.parse_filter(self.filter) if self.filter is not None else None
        return odata.ODataParams(
            filter=self.filter,
            filter_ast=tree,
            select=self.select,
            orderby=self.orderby,
            top=self.top,
            skip=self.skip,
            count=self.count,
        )


class HttpAdapter(Generic[_Settings, _Options]):
    ADAPTER: ClassVar[str]
    BACKEND: ClassVar[str]
    DESCRIPTION: ClassVar[str]
    CONTRACT_FORMAT: ClassVar[interface.ContractFormat]
    SETTINGS: ClassVar[type[settings_mod.HttpSettings]]
    OPTIONS: ClassVar[type[settings_mod.QueryOptions]]
    HEALTH_PATH: ClassVar[str]
    #: Header and scheme an `api_key` secret is sent with.
    API_KEY_HEADER: ClassVar[str] = "Authorization"
    API_KEY_SCHEME: ClassVar[str] = "ApiKey"
    #: Headers sent with every backend request.
    HEADERS: ClassVar[Mapping[str, str]] = {}

    def __init__(self, *, transport: httpx.BaseTransport | None = None) -> None:
        """`transport` is the test seam (httpx.MockTransport); the runtime calls this without arguments."""
        self._transport = transport
        self._client: http.BackendClient | None = None
        self._settings: _Settings | None = None
        self._definitions: dict[str, interface.QueryDefinition] = {}
        self._options: dict[str, _Options] = {}
        self._cached: Callable[..., Any] | None = None

    def metadata(self) -> interface.PluginMetadata:
        return interface.PluginMetadata(
            id=self.ADAPTER,
            name=f"{self.BACKEND} adapter",
            version=VERSION,
            author="HyperSpot",
            description=self.DESCRIPTION,
            contract_format=self.CONTRACT_FORMAT,
        )

    def init(self, config: interface.PluginConfig) -> None:
        # SETTINGS and OPTIONS are the subclass's _Settings and _Options models: a ClassVar cannot name
        # a type variable, so the validated values are narrowed here, once.
        new_settings = cast(
            _Settings,
            settings_mod.validate(self.SETTINGS, config.settings, what=f"settings of the {self.ADAPTER} plugin"),
        )
        new_options = cast(dict[str, _Options], queries.validate_all(config, self.OPTIONS))
        credentials = auth.from_secrets(
            config.secrets,
            settings=new_settings,
            backend=self.BACKEND,
            api_key_header=self._api_key_header(new_settings),
            api_key_scheme=self.API_KEY_SCHEME,
        )
        client = http.BackendClient(
            name=self.BACKEND,
            settings=new_settings,
            credentials=credentials,
            error_message=self._error_message,
            status_errors=self._status_errors(),
            headers=self.HEADERS,
            transport=self._transport,
        )
        self.shutdown()
        self._client = client
        self._settings = new_settings
        self._options = new_options
        self._definitions = {query.id: query for query in config.queries}
        self._cached = functools.lru_cache(maxsize=TRANSLATION_CACHE_SIZE)(self._translate_uncached)

    def before_jwt_sign(self, ctx: interface.SecurityCtx, claims: dict[str, Any]) -> dict[str, Any]:
        """Built-in adapters name themselves (`adapter`) beside the caller's subject, tenant and roles;
        the token is sent only when the Plugin configures spec.outgoingToken."""
        return {**claims, "adapter": self.ADAPTER}

    def health_check(self) -> interface.HealthStatus:
        if self._client is None:
            return interface.HealthStatus(interface.HealthState.UNKNOWN, message="plugin not initialised")
        dependency = self._client.probe(self._health_path(), dependency=f"{self.BACKEND} API", judge=self._judge_health)
        return interface.HealthStatus(dependency.status, dependencies=(dependency,), message=dependency.message)

    def shutdown(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cached is not None:
            self._cached.cache_clear()  # type: ignore[attr-defined]
            self._cached = None

    # Hooks an adapter overrides where its backend differs.

    def _api_key_header(self, settings: _Settings) -> str:
        return self.API_KEY_HEADER

    def _health_path(self) -> str:
        return self.HEALTH_PATH

    def _error_message(self, response: httpx.Response) -> str | None:
        return None

    def _status_errors(self) -> Mapping[int, type[errors.PluginError]]:
        return {}

    def _judge_health(self, response: httpx.Response) -> tuple[interface.HealthState, str | None]:
        if response.is_success:
            return interface.HealthState.HEALTHY, None
        return interface.HealthState.UNHEALTHY, f"HTTP {response.status_code}"

    def _translate_uncached(self, *key: Any) -> Any:
        raise NotImplementedError

    # Helpers for the adapters.

    def _translation(self, *key: Any) -> Any:
        """The cached translation for this key (hashable: query id, filter text, options)."""
        return self._ready_cache()(*key)

    def _odata_translation(self, query_id: str, params: odata.ODataParams) -> Any:
        """The cached `_translate_uncached(query_id, ODataKey)` of a query translated from all its OData options.

        The query is looked up first, so an unknown id is a 404 and never a cache entry.
        """
        self._query(query_id)
        return self._translation(query_id, ODataKey.of(params))

    def _ready_cache(self) -> Callable[..., Any]:
        if self._cached is None:
            raise errors.PluginUnavailable(f"the {self.ADAPTER} plugin is not initialised")
        return self._cached

    def _backend(self) -> http.BackendClient:
        if self._client is None:
            raise errors.PluginUnavailable(f"the {self.ADAPTER} plugin is not initialised")
        return self._client

    def _query(self, query_id: str) -> tuple[interface.QueryDefinition, _Options]:
        definition = queries.lookup(self._definitions, query_id, adapter=self.ADAPTER)
        return definition, self._options[query_id]

    @property
    def _config(self) -> _Settings:
        if self._settings is None:
            raise errors.PluginUnavailable(f"the {self.ADAPTER} plugin is not initialised")
        return self._settings

    def cache_clear(self) -> None:
        """Forget cached translations (the benchmark measures cold translations this way)."""
        if self._cached is not None:
            self._cached.cache_clear()  # type: ignore[attr-defined]
