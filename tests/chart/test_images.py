"""The Dockerfile: multi-stage, non-root images whose entrypoints and ports match what is deployed."""

from __future__ import annotations

import fnmatch
import json

import pytest

from plugin_operator import render

from . import dockerfile, helm

_instructions = dockerfile.instructions
_stages = dockerfile.stages
Stage = dockerfile.Stage


def _effective(stages: dict[str, Stage], name: str, instruction: str) -> str | None:
    """The last value of `instruction` in a stage or, failing that, in the stage it is built FROM."""
    stage = stages[name]
    values = [arguments for kind, arguments in stage["instructions"] if kind == instruction]
    if values:
        return values[-1]
    return _effective(stages, stage["from"], instruction) if stage["from"] in stages else None


def test_build_is_multi_stage_with_slim_python_final_images() -> None:
    stages = _stages()

    assert {"runtime-build", "operator-build", "base", "runtime", "operator"} <= set(stages)
    assert stages["base"]["from"] == "${PYTHON_IMAGE}"
    assert (stages["runtime"]["from"], stages["operator"]["from"]) == ("base", "base")
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim-bookworm") in _instructions()
    for target in ("runtime", "operator"):
        copies = [args for kind, args in stages[target]["instructions"] if kind == "COPY"]
        assert copies == [f"--from={target}-build /opt/venv /opt/venv"], "each image gets its own venv"
    assert list(stages)[-1] == "operator", "the default target is the operator"


@pytest.mark.parametrize("target", ["runtime", "operator"])
def test_images_run_as_uid_10001(target: str) -> None:
    assert _effective(_stages(), target, "USER") == "10001:10001"


@pytest.mark.parametrize(("target", "script"), [("runtime", "plugin-runtime"), ("operator", "plugin-operator")])
def test_entrypoints_are_the_packages_console_scripts(target: str, script: str) -> None:
    """The commands each image's wheel really declares are checked in test_install_sets (built wheels)."""
    assert json.loads(_effective(_stages(), target, "ENTRYPOINT") or "null") == [script]


def test_runtime_image_defaults_match_the_rendered_deployment() -> None:
    stages = _stages()
    expected_args = ["--config", render.CONFIG_PATH, "--host", "0.0.0.0", "--port", str(render.PORT)]

    assert json.loads(_effective(stages, "runtime", "CMD") or "null") == expected_args
    assert _effective(stages, "runtime", "EXPOSE") == str(render.PORT)
    assert _effective(stages, "operator", "EXPOSE") == "8000"


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path (or one of its parent folders) decides."""
    ignored = False
    parts = path.split("/")
    for pattern in patterns:
        negated = pattern.startswith("!")
        bare = pattern.lstrip("!")
        if any(fnmatch.fnmatchcase("/".join(parts[: i + 1]), bare) for i in range(len(parts))):
            ignored = not negated
    return ignored


def test_every_copied_source_exists_and_is_in_the_build_context() -> None:
    patterns = [
        line.strip()
        for line in (helm.REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [
        source
        for kind, arguments in _instructions()
        if kind == "COPY" and not arguments.startswith("--from=")
        for source in arguments.split()[:-1]
    ]

    assert sources, "the Dockerfile copies the project"
    for source in sources:
        assert (helm.REPO / source).exists(), source
        assert not _ignored(source, patterns), source
    for private in (".venv", ".run", ".git", "tests"):
        assert _ignored(private, patterns), private
