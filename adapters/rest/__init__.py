"""The generic REST adapter: URL templates and JSONPath row mapping (see `plugin`)."""
