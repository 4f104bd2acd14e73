"""The real services tests and benchmarks run against: a throwaway PostgreSQL schema, a Prometheus server.

Shared by `tests/` and `bench/` so that neither imports the other's helpers. Not part of the
product (not packaged): it runs from a checkout, like the tests and benchmarks themselves.
"""
