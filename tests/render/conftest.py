"""Fixtures of the render tests: the representative plugin's inputs and a strict Kubernetes validator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

from plugin_operator import render

from . import samples

KUBERNETES_VERSION = "1.33"


@pytest.fixture
def inputs() -> render.RenderInputs:
    return samples.make_inputs()


@pytest.fixture
def validate() -> Callable[[dict[str, Any]], None]:
    """Validate one object against the Kubernetes 1.33 OpenAPI (image volumes) schema, unknown fields rejected."""

    def check(obj: dict[str, Any]) -> None:
        kubernetes_validate.validate(obj, desired_version=KUBERNETES_VERSION, strict=True)

    return check
