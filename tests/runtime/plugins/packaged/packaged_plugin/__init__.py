"""A package plugin: its factory is a function, its rows come from a sibling module (relative import)."""

from .impl import PackagedPlugin


def make_plugin() -> PackagedPlugin:
    return PackagedPlugin()
