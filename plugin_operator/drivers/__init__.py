"""Runtime drivers: where a plugin's runtime runs (Kubernetes Deployments, or local processes)."""
