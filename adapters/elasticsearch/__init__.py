"""The Elasticsearch contract adapter: OData over the search API (see `plugin`)."""
