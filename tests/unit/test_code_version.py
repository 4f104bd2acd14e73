"""`progress.code_version_mismatch`: the code a runtime loaded must be the version the Plugin names,
for plugins-folder code and for packages baked into an image; built-in adapters are exempt."""

from __future__ import annotations

from typing import Any

import pytest

from plugin_operator.progress import code_version_mismatch


def _metadata(source: str, code_version: str | None) -> dict[str, Any]:
    hosted = {"id": "acme", "state": "Active", "version": "2.0.0", "source": source, "code_version": code_version}
    return {"plugins": [{"id": "other", "code_version": "0.0.1"}, hosted], "errors": []}


@pytest.mark.parametrize(
    ("source", "code_version", "expected", "says"),
    [
        ("plugins-dir:acme", "2.0.0", "2.0.0", None),
        ("plugins-dir:acme", "1.1.0", "2.0.0", "(folder acme) is version 1.1.0, but spec.version is 2.0.0"),
        ("entry-point:acme-rows", "2.0.0", "2.0.0", None),
        ("entry-point:acme-rows", "2.1.0", "2.0.0", "(package of entry point acme-rows) is version 2.1.0"),
        ("entry-point:localsql", None, "7.0.0", None),
    ],
    ids=["folder-matches", "folder-edited-behind-the-operator", "image-matches", "image-carries-another", "built-in"],
)
def test_the_loaded_code_must_be_the_version_asked_for(
    source: str, code_version: str | None, expected: str, says: str | None
) -> None:
    mismatch = code_version_mismatch(_metadata(source, code_version), "acme", expected)

    if says is None:
        assert mismatch is None
    else:
        assert mismatch is not None and says in mismatch and "spec.version" in mismatch


def test_the_advice_says_what_to_change() -> None:
    folder = code_version_mismatch(_metadata("plugins-dir:acme", "1.1.0"), "acme", "2.0.0")
    image = code_version_mismatch(_metadata("entry-point:acme-rows", "2.1.0"), "acme", "2.0.0")

    assert folder is not None and "publish the folder's new version" in folder
    assert image is not None and "spec.image to an image carrying 2.0.0" in image


def test_a_plugin_the_runtime_does_not_host_is_not_a_mismatch() -> None:
    assert code_version_mismatch({"plugins": []}, "acme", "1.0.0") is None
