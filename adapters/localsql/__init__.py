"""The built-in local datasource plugin (the spec's capability 1: no external calls)."""
