"""The Prometheus contract adapter: OData over the Prometheus HTTP API (see `plugin`)."""
