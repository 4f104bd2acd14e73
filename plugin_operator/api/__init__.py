"""The plugin management REST API (issue #4): `create_app(ApiDeps(...))`, served beside kopf."""

from plugin_operator.api.app import create_app
from plugin_operator.api.deps import PREFIX, ApiDeps, PluginsAccess

__all__ = ["PREFIX", "ApiDeps", "PluginsAccess", "create_app"]
