"""Instantiating declared plugins: importing their code, checking the interface, calling `init`.

Loading a `discovery.Declaration` goes through the stages after its manifest was checked, and a
failure at any of them becomes a `LoadError` naming the plugin and the stage:

    import     importing the code (entry point or module file/package from the folder)
    interface  the instance has every QueryPlugin method and sane metadata
    init       building `PluginConfig` (settings, queries, secrets from env) and calling `init`

Folder code is imported under a module name unique to (plugin id, version, code fingerprint), so two
versions coexist in `sys.modules` during a hot swap and never shadow another plugin's modules.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import logging
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from plugin_runtime import config, errors, interface
from plugin_runtime.discovery import Declaration, LoadError, Stage, code_files

__all__ = ["ENTRY_POINT_GROUP", "LoadedPlugin", "forget_modules", "load"]

ENTRY_POINT_GROUP = "hyperspot.analytics.plugins"
_MODULE_PREFIX = "hyperspot_plugin__"
#: The distribution of the runtime and its built-in adapters (their version is not a plugin's).
RUNTIME_DISTRIBUTION = "hyperspot-analytics-plugins"

log = logging.getLogger(__name__)


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


def _module_name(declaration: Declaration, digest: str) -> str:
    unique = f"{declaration.plugin_id}__{declaration.version}__{digest[:12]}"
    return _MODULE_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", unique)


def _import_folder(declaration: Declaration, module_name: str) -> ModuleType:
    assert declaration.folder is not None and declaration.manifest is not None
    target = (declaration.folder / declaration.manifest.module).resolve()
    for path in code_files(declaration.folder):
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


#: Entry points found so far, by adapter name: a lookup reads every installed distribution's metadata
#: (3-7 ms, twice per load), while the installed packages of a running runtime do not change. Only what
#: was found is kept, so an adapter installed after a failed lookup is still found by the next one.
_found_entry_points: dict[str, importlib.metadata.EntryPoint] = {}


def _entry_point(declaration: Declaration) -> importlib.metadata.EntryPoint:
    name = declaration.spec.adapter
    assert name is not None  # the config requires an adapter where there is no folder
    found = _found_entry_points.get(name)
    if found is None:
        matches = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)
        if not matches:
            message = f"no entry point {name!r} in group {ENTRY_POINT_GROUP}"
            raise LoadError(declaration.plugin_id, Stage.IMPORT, message)
        found = _found_entry_points[name] = next(iter(matches))
    return found


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
        secrets={name: config.secret_value(environ[variable]) for name, variable in spec.secret_env.items()},
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
