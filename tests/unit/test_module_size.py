"""No product module grows past 400 lines: past that, a module holds more than one thing (split it)."""

from __future__ import annotations

from pathlib import Path

LIMIT = 400
PACKAGES = ("plugin_operator", "plugin_runtime", "adapters", "plugin_devcluster")
ROOT = Path(__file__).resolve().parents[2]


def test_no_product_module_is_over_the_limit() -> None:
    modules = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    assert len(modules) > 50, "the packages were not found"
    # Alembic migrations are generated table data, not code to split.
    oversized = {
        str(path.relative_to(ROOT)): lines
        for path in modules
        if "migrations" not in path.parts and (lines := len(path.read_text().splitlines())) > LIMIT
    }
    assert not oversized, f"modules over {LIMIT} lines: {oversized}"
