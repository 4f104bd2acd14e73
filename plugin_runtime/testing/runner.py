"""Loading a plugin as the runtime does and running the conformance checks on it (see `plugin_runtime.testing`)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from plugin_runtime import config, discovery, interface, loader
from plugin_runtime.testing import checks
from plugin_runtime.testing.cases import Finding, Fixtures

__all__ = ["ConformanceError", "Report", "check_entry_point", "check_folder", "loaded"]


class ConformanceError(AssertionError):
    """A plugin failed the conformance kit; the message lists every problem found."""


@dataclasses.dataclass(frozen=True)
class Report:
    """The outcome of a conformance run: the checks that ran and every problem they found."""

    plugin: str
    checks: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """Whether no check found a problem."""
        return not self.findings

    def __str__(self) -> str:
        if self.ok:
            return f"plugin {self.plugin} conforms ({', '.join(self.checks)})"
        lines = [f"plugin {self.plugin}: {len(self.findings)} problem(s)"]
        lines += [f"  {finding}" for finding in self.findings]
        lines.append(f"checks run: {', '.join(self.checks)}")
        return "\n".join(lines)

    def assert_ok(self) -> None:
        """Raise `ConformanceError` listing every problem (for a test)."""
        if not self.ok:
            raise ConformanceError(str(self))


def _secret_env(secrets: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(secret name → variable, the environment): secrets reach the loader as they do in production."""
    names = {name: f"PLUGIN_SECRET_{name.upper()}" for name in secrets}
    return names, {names[name]: value for name, value in secrets.items()}


def _folder_spec(folder: Path, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> config.RuntimePlugin:
    """The runtime config entry the operator would render for this folder (id and version from its manifest)."""
    try:
        raw = yaml.safe_load((folder / discovery.MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        raw = None  # the loader reports the manifest's problem itself
    manifest = raw if isinstance(raw, dict) else {}
    return config.RuntimePlugin(
        id=str(manifest.get("id") or folder.name),
        version=str(manifest.get("version") or "0.0.0"),
        path=folder.name,
        settings=dict(settings),
        secret_env=_secret_env(secrets)[0],
    )


@contextlib.contextmanager
def _load(
    spec: config.RuntimePlugin, plugins_dir: Path | None, secrets: Mapping[str, str]
) -> Iterator[loader.LoadedPlugin]:
    """Loaded and initialised by the runtime's loader (raises its `LoadError`); its modules forgotten after."""
    declared, rejected = discovery.declare(config.RuntimeConfig(plugins=[spec]), plugins_dir=plugins_dir)
    if rejected:
        raise rejected[0]
    environ = _secret_env(secrets)[1]
    plugin = loader.load(declared[0], environ=environ, digest=discovery.fingerprint(declared[0], environ=environ))
    try:
        yield plugin
    finally:
        if plugin.module_name:
            loader.forget_modules(plugin.module_name)


@contextlib.contextmanager
def loaded(
    folder: str | Path, *, settings: Mapping[str, Any] | None = None, secrets: Mapping[str, str] | None = None
) -> Iterator[interface.QueryPlugin]:
    """A folder plugin's instance, loaded and initialised by the runtime's loader, for your own unit tests.

    Shut down when the block ends. A plugin that does not load raises `plugin_runtime.discovery.LoadError`.
    """
    path = Path(folder).resolve()
    with _load(_folder_spec(path, settings or {}, secrets or {}), path.parent, secrets or {}) as plugin:
        try:
            yield plugin.instance
        finally:
            plugin.instance.shutdown()


def _check(label: str, spec: config.RuntimePlugin, plugins_dir: Path | None, fixtures: Fixtures) -> Report:
    try:
        with _load(spec, plugins_dir, fixtures.secrets) as plugin:
            ran, findings = checks.run(plugin, fixtures)
            return Report(label, ("load", *ran), findings)
    except discovery.LoadError as exc:
        return Report(label, ("load",), (Finding("load", f"stage {exc.stage}", exc.message),))


def check_folder(folder: str | Path, fixtures: Fixtures | None = None) -> Report:
    """Run the conformance checks on a plugins-directory plugin (a folder holding `plugin.yaml`)."""
    fixtures = fixtures or Fixtures()
    path = Path(folder).resolve()
    spec = _folder_spec(path, fixtures.settings, fixtures.secrets)
    return _check(f"'{spec.id}' ({path})", spec, path.parent, fixtures)


def check_entry_point(
    adapter: str, *, queries: Sequence[interface.QueryDefinition], fixtures: Fixtures | None = None
) -> Report:
    """Run the conformance checks on an installed plugin: an entry point of `hyperspot.analytics.plugins`."""
    fixtures = fixtures or Fixtures()
    spec = config.RuntimePlugin(
        id=adapter,
        version="0.0.0",
        adapter=adapter,
        settings=dict(fixtures.settings),
        queries=[config.QueryConfig(**dataclasses.asdict(query)) for query in queries],
        secret_env=_secret_env(fixtures.secrets)[0],
    )
    return _check(f"'{adapter}' (entry point)", spec, None, fixtures)
