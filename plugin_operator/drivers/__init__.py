"""The runtime driver: where a plugin's runtime runs (Kubernetes Deployments, in a real cluster or
`make run`'s embedded one; the local process driver was retired, see the README)."""
