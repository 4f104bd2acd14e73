"""The runtime pods' probe timings are operator settings (PLUGIN_OPERATOR_RUNTIME_LIVENESS_* and
_RUNTIME_READINESS_*): unset they are the defaults, set they must be positive whole seconds or counts,
and a bad one stops the operator at start with the variable's name (not at the first runtime applied)."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin_operator import cli
from plugin_operator.runtime_probes import RuntimeProbes
from plugin_operator.settings import OperatorSettings

VARIABLES = {
    "PLUGIN_OPERATOR_RUNTIME_LIVENESS_PERIOD_SECONDS": "liveness_period_seconds",
    "PLUGIN_OPERATOR_RUNTIME_LIVENESS_FAILURE_THRESHOLD": "liveness_failure_threshold",
    "PLUGIN_OPERATOR_RUNTIME_READINESS_PERIOD_SECONDS": "readiness_period_seconds",
    "PLUGIN_OPERATOR_RUNTIME_READINESS_FAILURE_THRESHOLD": "readiness_failure_threshold",
}


def test_unset_the_probes_keep_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)

    assert OperatorSettings.from_env().runtime_probes == OperatorSettings().runtime_probes == RuntimeProbes()
    assert RuntimeProbes() == RuntimeProbes(10, 3, 5, 2)


@pytest.mark.parametrize(("variable", "field"), VARIABLES.items())
def test_each_variable_sets_its_timing(monkeypatch: pytest.MonkeyPatch, variable: str, field: str) -> None:
    monkeypatch.setenv(variable, " 7 ")

    probes = OperatorSettings.from_env().runtime_probes
    assert getattr(probes, field) == 7
    assert {name: value for name, value in vars(probes).items() if name != field} == {
        name: value for name, value in vars(RuntimeProbes()).items() if name != field
    }


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "ten", "²"])
@pytest.mark.parametrize("variable", VARIABLES)
def test_a_value_that_is_not_a_positive_integer_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValueError, match=rf"^{variable} must be a positive integer, not {value!r}$"):
        OperatorSettings.from_env()


def test_plugin_operator_run_refuses_to_start_and_says_which_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("PLUGIN_OPERATOR_JWT_SECRET", "a-development-secret-long-enough-for-hs256")
    monkeypatch.setenv("PLUGIN_OPERATOR_RUNTIME_LIVENESS_FAILURE_THRESHOLD", "0")

    database = f"sqlite:///{tmp_path / 'never-created.db'}"
    assert cli.main(["run", "--database-url", database]) == 2
    assert not (tmp_path / "never-created.db").exists()  # refused before connecting to anything
    assert "refusing to start: PLUGIN_OPERATOR_RUNTIME_LIVENESS_FAILURE_THRESHOLD must be a positive integer" in (
        capsys.readouterr().err
    )
