"""Finding, checking and instantiating plugins: entry points and plugins-directory folders.

A plugin is declared by a `RuntimeConfig` entry naming either an `adapter` (an entry point of the
group `hyperspot.analytics.plugins`) or a `path` (a folder inside the configured plugins directory
holding a `plugin.yaml` manifest). Loading goes through four stages, and a failure at any of them
becomes a `LoadError` naming the plugin and the stage, so one bad plugin never stops the others:

    manifest   the declaration: manifest file, config entry, path safety, duplicate ids/endpoints
    import     importing the code (entry point or module file/package from the folder)
    interface  the instance has every QueryPlugin method and sane metadata
    init       building `PluginConfig` (settings, queries, secrets from env) and calling `init`

Folder code is imported under a module name unique to (plugin id, version, code fingerprint), so two
versions coexist in `sys.modules` during a hot swap and never shadow another plugin's modules.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plugin_runtime import config, errors, interface, logs

__all__ = [
    "ENTRY_POINT_GROUP",
    "MANIFEST_NAME",
    "Declaration",
    "LoadError",
    "LoadedPlugin",
    "Manifest",
    "Stage",
    "declare",
    "fingerprint",
    "forget_modules",
    "load",
    "secret_values",
]

ENTRY_POINT_GROUP = "hyperspot.analytics.plugins"
MANIFEST_NAME = "plugin.yaml"
#: Paths the runtime serves itself, and prefixes of its parametrised routes: a query's api_endpoint
#: may not shadow them. Only these: the spec's own example endpoint `/metrics/cpu` must stay usable.
RESERVED_ENDPOINTS = frozenset({"/health", "/health/live", "/metadata", "/$metadata", "/metrics"})
RESERVED_ENDPOINT_PREFIXES = ("/queries/", "/plugins/", "/admin/", "/odata/")
_MODULE_PREFIX = "hyperspot_plugin__"
#: The distribution of the runtime and its built-in adapters (their version is not a plugin's).
RUNTIME_DISTRIBUTION = "hyperspot-analytics-plugins"
_SKIPPED_DIRS = frozenset({"__pycache__", ".git"})

log = logging.getLogger(__name__)


class Stage(enum.StrEnum):
    MANIFEST = "manifest"
    IMPORT = "import"
    INTERFACE = "interface"
    INIT = "init"


class LoadError(errors.PluginError):
    """A plugin that could not be loaded; the runtime keeps serving the others and reports this."""

    slug, title = "plugin-load-failed", "Plugin Load Failed"

    def __init__(self, plugin_id: str, stage: Stage, message: str) -> None:
        message = logs.redact(message)  # init errors may quote settings or secrets back
        super().__init__(f"plugin '{plugin_id}' failed at {stage}: {message}", plugin_id=plugin_id, stage=str(stage))
        self.plugin_id = plugin_id
        self.stage = stage
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"plugin_id": self.plugin_id, "stage": str(self.stage), "message": self.message}


class Manifest(BaseModel):
    """`plugin.yaml` of a plugins-directory folder; `class` (or `factory`) names the callable to instantiate."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$", max_length=253)
    name: str = Field(min_length=1)
    version: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,62}$")
    module: str = Field(min_length=1, description="a .py file or a package directory inside the folder")
    factory: str = Field(alias="class", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    author: str = ""
    description: str = ""
    contract_format: interface.ContractFormat = interface.ContractFormat.CUSTOM
    settings: dict[str, Any] = Field(default_factory=dict)
    queries: list[config.QueryConfig] = Field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Declaration:
    """One plugin to host: its config entry, and for folder plugins the checked folder and manifest."""

    spec: config.RuntimePlugin
    folder: Path | None = None
    manifest: Manifest | None = None

    @property
    def plugin_id(self) -> str:
        return self.spec.id

    @property
    def version(self) -> str:
        """The version that runs: a folder's manifest is the truth for its code, else the config's."""
        return self.manifest.version if self.manifest is not None else self.spec.version

    @property
    def source(self) -> str:
        if self.spec.path is not None:
            return f"plugins-dir:{self.spec.path}"
        return f"entry-point:{self.spec.adapter}"

    @property
    def queries(self) -> tuple[interface.QueryDefinition, ...]:
        declared = self.spec.queries or (self.manifest.queries if self.manifest is not None else [])
        return tuple(query.definition() for query in declared)


@dataclasses.dataclass(frozen=True)
class LoadedPlugin:
    """An initialised plugin instance with the metadata the runtime serves (config overrides applied)."""

    declaration: Declaration
    instance: interface.QueryPlugin
    metadata: interface.PluginMetadata
    config: interface.PluginConfig
    fingerprint: str
    module_name: str | None = None
    #: The version of the plugin's code: a folder's manifest, or the version of the distribution an
    #: entry point comes from (a package baked into the image); None for the built-in adapters, whose
    #: version is the configuration's.
    code_version: str | None = None

    @property
    def plugin_id(self) -> str:
        return self.declaration.plugin_id


def _resolve_inside(root: Path, relative: str, *, plugin_id: str, what: str) -> Path:
    """Resolve `relative` under `root`, refusing `..`, absolute paths and symlinks that lead outside."""
    try:
        target = (root / relative).resolve()  # an absolute `relative` replaces root: it is checked all the same
    except (OSError, RuntimeError) as exc:  # e.g. a symlink loop
        raise LoadError(plugin_id, Stage.MANIFEST, f"{what} {relative!r} cannot be resolved: {exc}") from None
    if not target.is_relative_to(root):
        raise LoadError(plugin_id, Stage.MANIFEST, f"{what} {relative!r} points outside {root}")
    return target


def _read_manifest(folder: Path, *, plugin_id: str) -> Manifest:
    path = folder / MANIFEST_NAME
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LoadError(plugin_id, Stage.MANIFEST, f"{path} does not exist") from None
    except (OSError, yaml.YAMLError) as exc:
        raise LoadError(plugin_id, Stage.MANIFEST, f"{path} is not readable YAML: {exc}") from None
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise LoadError(plugin_id, Stage.MANIFEST, f"{path}: {problems}") from None


def _declare_one(spec: config.RuntimePlugin, plugins_dir: Path | None) -> Declaration:
    if (spec.adapter is None) == (spec.path is None):
        raise LoadError(spec.id, Stage.MANIFEST, "a plugin entry needs exactly one of 'adapter' or 'path'")
    if spec.path is None:
        return Declaration(spec)
    if plugins_dir is None:
        raise LoadError(spec.id, Stage.MANIFEST, f"path {spec.path!r} given but no plugins_dir is configured")
    root = plugins_dir.resolve()
    folder = _resolve_inside(root, spec.path, plugin_id=spec.id, what="path")
    if not folder.is_dir():
        raise LoadError(spec.id, Stage.MANIFEST, f"plugin folder {spec.path!r} does not exist in {root}")
    manifest = _read_manifest(folder, plugin_id=spec.id)
    if manifest.id != spec.id:
        raise LoadError(spec.id, Stage.MANIFEST, f"manifest in {spec.path!r} declares id {manifest.id!r}")
    if Path(manifest.module).is_absolute():
        raise LoadError(spec.id, Stage.MANIFEST, f"module {manifest.module!r} must be relative to the plugin folder")
    _resolve_inside(folder, manifest.module, plugin_id=spec.id, what="module")
    return Declaration(spec, folder=folder, manifest=manifest)


def _reserved(endpoint: str) -> bool:
    path = "/" + endpoint.strip("/")
    return path in RESERVED_ENDPOINTS or (path + "/").startswith(RESERVED_ENDPOINT_PREFIXES)


def _claims(declaration: Declaration) -> list[str]:
    """What a plugin takes for itself besides its id: its query ids and api_endpoints."""
    claims: list[str] = []
    for query in declaration.queries:
        if _reserved(query.api_endpoint):
            raise LoadError(declaration.plugin_id, Stage.MANIFEST, f"api_endpoint {query.api_endpoint!r} is reserved")
        for claim in (f"query id {query.id}", f"api_endpoint {query.api_endpoint.rstrip('/') or '/'}"):
            if claim in claims:
                raise LoadError(declaration.plugin_id, Stage.MANIFEST, f"{claim} is declared twice")
            claims.append(claim)
    return claims


def declare(
    runtime_config: config.RuntimeConfig, *, plugins_dir: Path | None
) -> tuple[list[Declaration], list[LoadError]]:
    """Check every config entry; a later entry reusing a plugin id, query id or api_endpoint is rejected."""
    declared: list[Declaration] = []
    rejected: list[LoadError] = []
    seen_ids: set[str] = set()
    owners: dict[str, str] = {}
    for spec in runtime_config.plugins:
        try:
            if spec.id in seen_ids:
                raise LoadError(spec.id, Stage.MANIFEST, "plugin id is already used by an earlier entry")
            seen_ids.add(spec.id)
            declaration = _declare_one(spec, plugins_dir)
            claims = _claims(declaration)
            for claim in claims:
                if claim in owners:
                    raise LoadError(spec.id, Stage.MANIFEST, f"{claim} is already served by '{owners[claim]}'")
        except LoadError as exc:
            rejected.append(exc)
            continue
        owners.update(dict.fromkeys(claims, spec.id))
        declared.append(declaration)
    return declared, rejected


def _code_files(folder: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        files += [Path(dirpath) / name for name in sorted(filenames) if not name.endswith(".pyc")]
    return files


def fingerprint(declaration: Declaration, *, environ: Mapping[str, str]) -> str:
    """Hash of everything whose change needs a reload: config entry, manifest + code, secret values.

    `enabled` is left out (toggling it must not re-initialise the plugin); secret values enter only
    through the hash, so rotation is detected without the values being kept or shown anywhere.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(declaration.spec.model_dump(mode="json", exclude={"enabled"}), sort_keys=True).encode())
    for name, variable in sorted(declaration.spec.secret_env.items()):
        digest.update(f"\0secret:{name}\0".encode())
        digest.update(environ.get(variable, "\0unset").encode())
    if declaration.folder is not None:
        for path in _code_files(declaration.folder):
            digest.update(f"\0file:{path.relative_to(declaration.folder)}\0".encode())
            try:
                digest.update(path.read_bytes())
            except OSError as exc:  # a dangling symlink or a file removed mid-scan
                digest.update(f"\0unreadable:{exc.errno}".encode())
    return digest.hexdigest()


def secret_values(declarations: list[Declaration], *, environ: Mapping[str, str]) -> list[str]:
    """The secret values these plugins will receive, so logs and errors can scrub them."""
    variables = {variable for d in declarations for variable in d.spec.secret_env.values()}
    return [environ[variable] for variable in variables if variable in environ]


def _module_name(declaration: Declaration, digest: str) -> str:
    unique = f"{declaration.plugin_id}__{declaration.version}__{digest[:12]}"
    return _MODULE_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", unique)


def _import_folder(declaration: Declaration, module_name: str) -> ModuleType:
    assert declaration.folder is not None and declaration.manifest is not None
    target = (declaration.folder / declaration.manifest.module).resolve()
    for path in _code_files(declaration.folder):
        if not path.resolve().is_relative_to(declaration.folder):
            raise LoadError(declaration.plugin_id, Stage.MANIFEST, f"{path.name} is a symlink out of the plugin folder")
    if target.is_dir():
        init_file = target / "__init__.py"
        spec = importlib.util.spec_from_file_location(module_name, init_file, submodule_search_locations=[str(target)])
    else:
        spec = importlib.util.spec_from_file_location(module_name, target)
    if spec is None or spec.loader is None or not Path(spec.origin or "").is_file():
        raise LoadError(
            declaration.plugin_id, Stage.IMPORT, f"module {declaration.manifest.module!r} is not Python code"
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # packages need it for their relative imports
    try:
        spec.loader.exec_module(module)
    except BaseException:
        forget_modules(module_name)
        raise
    return module


def _entry_point(declaration: Declaration) -> importlib.metadata.EntryPoint:
    name = declaration.spec.adapter
    assert name is not None  # the config requires an adapter where there is no folder
    matches = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not matches:
        raise LoadError(declaration.plugin_id, Stage.IMPORT, f"no entry point {name!r} in group {ENTRY_POINT_GROUP}")
    return next(iter(matches))


def _code_version(declaration: Declaration) -> str | None:
    if declaration.manifest is not None:
        return declaration.manifest.version
    dist = _entry_point(declaration).dist
    if dist is None or re.sub(r"[-_.]+", "-", dist.name).lower() == RUNTIME_DISTRIBUTION:
        return None
    return dist.version


def _factory(declaration: Declaration, module_name: str) -> Any:
    try:
        if declaration.folder is None:
            return _entry_point(declaration).load()
        assert declaration.manifest is not None
        module = _import_folder(declaration, module_name)
        try:
            return getattr(module, declaration.manifest.factory)
        except AttributeError:
            raise LoadError(
                declaration.plugin_id,
                Stage.IMPORT,
                f"module {declaration.manifest.module!r} has no attribute {declaration.manifest.factory!r}",
            ) from None
    except LoadError:
        raise
    except (Exception, SystemExit) as exc:
        log.exception("plugin import failed", extra={"plugin_id": declaration.plugin_id})
        raise LoadError(declaration.plugin_id, Stage.IMPORT, f"{type(exc).__name__}: {exc}") from exc


def _checked_metadata(declaration: Declaration, instance: Any) -> interface.PluginMetadata:
    missing = [name for name in interface.REQUIRED_METHODS if not callable(getattr(instance, name, None))]
    if missing:
        raise LoadError(declaration.plugin_id, Stage.INTERFACE, f"missing QueryPlugin methods: {', '.join(missing)}")
    own = instance.metadata()
    if not isinstance(own, interface.PluginMetadata) or not own.id or not own.version:
        raise LoadError(
            declaration.plugin_id, Stage.INTERFACE, "metadata() must return PluginMetadata with id and version"
        )
    manifest = declaration.manifest
    if manifest is not None and (own.id, own.version) != (manifest.id, manifest.version):
        raise LoadError(
            declaration.plugin_id,
            Stage.INTERFACE,
            f"metadata() says {own.id} {own.version} but the manifest says {manifest.id} {manifest.version}",
        )
    spec = declaration.spec
    explicit = spec.model_fields_set
    return interface.PluginMetadata(
        id=spec.id,
        name=spec.name or (manifest.name if manifest else own.name),
        version=declaration.version,
        author=spec.author or (manifest.author if manifest else own.author),
        description=spec.description or (manifest.description if manifest else own.description),
        contract_format=spec.contract_format if "contract_format" in explicit else own.contract_format,
    )


def _plugin_config(declaration: Declaration, environ: Mapping[str, str]) -> interface.PluginConfig:
    spec = declaration.spec
    missing = sorted(name for name, variable in spec.secret_env.items() if variable not in environ)
    if missing:
        variables = ", ".join(f"{name} (env {spec.secret_env[name]})" for name in missing)
        raise LoadError(spec.id, Stage.INIT, f"secret not provided: {variables}")
    defaults = declaration.manifest.settings if declaration.manifest is not None else {}
    return interface.PluginConfig(
        settings={**defaults, **spec.settings},
        queries=declaration.queries,
        secrets={name: environ[variable] for name, variable in spec.secret_env.items()},
        auto_register_queries=spec.auto_register_queries,
        auto_register_datasources=spec.auto_register_datasources,
        timeout_seconds=spec.timeout_seconds,
    )


def load(declaration: Declaration, *, environ: Mapping[str, str], digest: str) -> LoadedPlugin:
    """Import, check and initialise one plugin (blocking: the host runs it in a worker thread).

    `digest` is the declaration's `fingerprint`, taken by the caller when it decided to (re)load.
    """
    if declaration.version != declaration.spec.version:
        log.warning(
            "serving the manifest's version, not the config's",
            extra={
                "plugin_id": declaration.plugin_id,
                "manifest_version": declaration.version,
                "config_version": declaration.spec.version,
            },
        )
    module_name = _module_name(declaration, digest) if declaration.folder is not None else None
    factory = _factory(declaration, module_name or "")
    try:
        try:
            instance = factory()
            metadata = _checked_metadata(declaration, instance)
        except LoadError:
            raise
        except (Exception, SystemExit) as exc:
            log.exception("plugin interface check failed", extra={"plugin_id": declaration.plugin_id})
            raise LoadError(declaration.plugin_id, Stage.INTERFACE, f"{type(exc).__name__}: {exc}") from exc
        plugin_config = _plugin_config(declaration, environ)
        try:
            instance.init(plugin_config)
        except errors.PluginError as exc:
            raise LoadError(declaration.plugin_id, Stage.INIT, exc.detail) from exc
        except (Exception, SystemExit) as exc:
            log.exception("plugin init failed", extra={"plugin_id": declaration.plugin_id})
            raise LoadError(declaration.plugin_id, Stage.INIT, f"{type(exc).__name__}: {exc}") from exc
    except LoadError:
        if module_name:
            forget_modules(module_name)
        raise
    return LoadedPlugin(
        declaration, instance, metadata, plugin_config, digest, module_name, code_version=_code_version(declaration)
    )


def forget_modules(module_name: str) -> None:
    """Drop a folder plugin's module and its submodules once its instance is shut down."""
    for name in [n for n in sys.modules if n == module_name or n.startswith(module_name + ".")]:
        del sys.modules[name]
