"""The chart ships the generated Plugin CRD unchanged (`make crd` copies it) and it is a valid CRD."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from . import helm

CHART_CRD = helm.CHART / "crds" / "plugins.yaml"
REPO_CRD = helm.REPO / "crds" / "plugins.yaml"


def test_chart_crd_is_a_byte_for_byte_copy_of_the_generated_one() -> None:
    assert CHART_CRD.read_bytes() == REPO_CRD.read_bytes(), "run `make crd` to copy crds/plugins.yaml into the chart"


def test_chart_crd_is_valid_kubernetes(validate: Callable[[dict[str, Any]], None]) -> None:
    [crd] = [doc for doc in yaml.safe_load_all(CHART_CRD.read_text(encoding="utf-8")) if doc]

    validate(crd)
    assert crd["metadata"]["name"] == "plugins.analytics.hyperspot.io"


def test_chart_crds_folder_holds_only_the_plugin_crd() -> None:
    assert sorted(path.name for path in CHART_CRD.parent.iterdir()) == ["plugins.yaml"]
