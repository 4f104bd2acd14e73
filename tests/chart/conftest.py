"""Fixtures of the chart tests: minimal valid overrides and a strict Kubernetes validator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

KUBERNETES_VERSION = "1.30"

#: The least a user must add to values.yaml: how the API verifies callers' tokens.
MINIMAL = {"jwt": {"jwksUrl": "https://idp.example.com/.well-known/jwks.json"}}


@pytest.fixture
def minimal() -> dict[str, Any]:
    return {"jwt": dict(MINIMAL["jwt"])}


@pytest.fixture
def validate() -> Callable[[dict[str, Any]], None]:
    """Validate one object against the Kubernetes 1.30 OpenAPI schema, unknown fields rejected."""

    def check(obj: dict[str, Any]) -> None:
        kubernetes_validate.validate(obj, desired_version=KUBERNETES_VERSION, strict=True)

    return check
