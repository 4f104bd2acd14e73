"""The GraphQL contract adapter (entry point `graphql`)."""

from plugin_runtime import errors, odata

#: The adapter's name in Plugin specs, metrics and 501 messages.
ADAPTER = "graphql"


def unsupported(construct: str, hint: str, source: str | None = None) -> errors.NotSupported:
    """The 501 for valid OData the GraphQL API cannot be asked."""
    return odata.unsupported(construct, source=source, adapter=ADAPTER, hint=hint)
