"""Demo backends of `make run`: a Prometheus, a REST API and a GraphQL API with generated data.

They give the example Plugins something real to query, so a newcomer sees Active plugins and rows
instead of Degraded ones. They live here, in the development-only package, because `plugin-operator
dev` imports them from the installed package; the tests start the same servers.
"""
