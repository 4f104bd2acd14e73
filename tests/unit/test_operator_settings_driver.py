"""The Kubernetes driver is the operator's only one: a configuration still naming the retired local
process driver is refused at start with a message that says what replaced it."""

from __future__ import annotations

import pytest

from plugin_operator.settings import OperatorSettings


def test_the_kubernetes_driver_is_the_default() -> None:
    assert OperatorSettings().driver == OperatorSettings.from_env().driver == "kubernetes"


def test_the_retired_local_driver_is_refused_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGIN_OPERATOR_DRIVER", "local")

    with pytest.raises(ValueError, match=r"must be kubernetes, not 'local' \(the local process driver was retired"):
        OperatorSettings.from_env()
