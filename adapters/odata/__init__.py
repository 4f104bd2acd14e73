"""The OData pass-through adapter: forwards requests to an upstream OData v4 service (see `plugin`)."""
