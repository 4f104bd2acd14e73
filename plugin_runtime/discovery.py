"""Finding and checking plugins before any of their code runs: config entries, folders, manifests.

A plugin is declared by a `RuntimeConfig` entry naming either an `adapter` (an entry point of the
group `hyperspot.analytics.plugins`) or a `path` (a folder inside the configured plugins directory
holding a `plugin.yaml` manifest). `declare` checks every entry (path safety, manifest, duplicate
ids and endpoints) and `fingerprint` hashes what a change of needs a reload; `plugin_runtime.loader`
then imports and initialises them. A failure at any stage is a `LoadError` naming the plugin and
the stage, so one bad plugin never stops the others.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plugin_runtime import config, errors, interface, logs

__all__ = [
    "MANIFEST_NAME",
    "Declaration",
    "LoadError",
    "Manifest",
    "Stage",
    "code_files",
    "declare",
    "fingerprint",
    "secret_values",
]

MANIFEST_NAME = "plugin.yaml"
#: Paths the runtime serves itself, and prefixes of its parametrised routes: a query's api_endpoint
#: may not shadow them. Only these: the spec's own example endpoint `/metrics/cpu` must stay usable.
RESERVED_ENDPOINTS = frozenset({"/health", "/health/live", "/metadata", "/$metadata", "/metrics"})
RESERVED_ENDPOINT_PREFIXES = ("/queries/", "/plugins/", "/admin/", "/odata/")
_SKIPPED_DIRS = frozenset({"__pycache__", ".git"})


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


def code_files(folder: Path) -> list[Path]:
    """A plugin folder's files in a stable order: what its fingerprint hashes and its import may reach."""
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
        for path in code_files(declaration.folder):
            digest.update(f"\0file:{path.relative_to(declaration.folder)}\0".encode())
            try:
                digest.update(path.read_bytes())
            except OSError as exc:  # a dangling symlink or a file removed mid-scan
                digest.update(f"\0unreadable:{exc.errno}".encode())
    return digest.hexdigest()


def secret_values(declarations: list[Declaration], *, environ: Mapping[str, str]) -> list[str]:
    """The secret values these plugins will receive, so logs and errors can scrub them."""
    variables = {variable for d in declarations for variable in d.spec.secret_env.values()}
    return [config.secret_value(environ[variable]) for variable in variables if variable in environ]
