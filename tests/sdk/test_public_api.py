"""The plugin developer's kit has an explicit public API (pinned here, like httpx's), typed and documented.

Changing `EXPORTED` is a change of the kit's public API: plugins written against it import these names.
"""

from __future__ import annotations

import importlib.resources
import inspect
from types import ModuleType
from typing import Any

import pytest

import plugin_runtime
from plugin_runtime import testing

EXPORTED = {
    plugin_runtime: {
        "BackendAuthFailed",
        "BackendError",
        "BackendTimeout",
        "Conflict",
        "ContractFormat",
        "DependencyHealth",
        "Forbidden",
        "HealthState",
        "HealthStatus",
        "InvalidInput",
        "InvalidQuery",
        "NotFound",
        "NotSupported",
        "ODataParams",
        "OrderBy",
        "PluginConfig",
        "PluginError",
        "PluginMetadata",
        "PluginUnavailable",
        "ProcessingPlugin",
        "QueryDefinition",
        "QueryPlugin",
        "QueryResult",
        "SecurityCtx",
        "TranslatingPlugin",
        "Translation",
        "Unauthenticated",
        "current_outgoing_token",
        "parse_params",
        "shape_rows",
        "unsupported",
    },
    testing: {
        "ConformanceError",
        "Finding",
        "Fixtures",
        "QueryCase",
        "Report",
        "TranslationCase",
        "check_entry_point",
        "check_folder",
        "loaded",
    },
}


@pytest.mark.parametrize("module", list(EXPORTED), ids=lambda m: m.__name__)
def test_all_is_the_pinned_public_api(module: ModuleType) -> None:
    assert set(module.__all__) == EXPORTED[module]
    assert len(module.__all__) == len(set(module.__all__)), "no name twice"


@pytest.mark.parametrize("module", list(EXPORTED), ids=lambda m: m.__name__)
def test_every_public_member_is_exported(module: ModuleType) -> None:
    """Like httpx's test: anything public in the namespace that is not a submodule is in __all__."""
    public = {
        name for name, value in vars(module).items() if not name.startswith("_") and not isinstance(value, ModuleType)
    }

    assert public == set(module.__all__)


def _undocumented(name: str, value: Any) -> list[str]:
    doc = inspect.getdoc(value) or ""
    # A dataclass without a docstring gets its signature as __doc__: that documents nothing.
    missing = [] if doc.strip() and not doc.startswith(f"{getattr(value, '__name__', name)}(") else [name]
    if inspect.isclass(value):
        for attribute, member in vars(value).items():
            if attribute.startswith("_"):
                continue
            function = member.fget if isinstance(member, property) else member
            if (inspect.isfunction(function) or isinstance(member, property)) and not (function.__doc__ or "").strip():
                missing.append(f"{name}.{attribute}")
    return missing


@pytest.mark.parametrize("module", list(EXPORTED), ids=lambda m: m.__name__)
def test_every_public_name_has_a_docstring(module: ModuleType) -> None:
    missing = [item for name in module.__all__ for item in _undocumented(name, getattr(module, name))]

    assert inspect.getdoc(module)
    assert not missing, f"undocumented: {missing}"


def test_the_docstring_check_can_fail() -> None:
    class Undocumented:
        def method(self) -> None:
            pass

    assert _undocumented("Undocumented", Undocumented) == ["Undocumented", "Undocumented.method"]


def test_the_kit_is_typed() -> None:
    """PEP 561: type checkers use the kit's own annotations in a plugin's code."""
    assert (importlib.resources.files("plugin_runtime") / "py.typed").is_file()
